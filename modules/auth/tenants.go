package auth

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// CreatedTenant is a new tenant with its first API key, shown only now.
type CreatedTenant struct {
	Tenant       Tenant
	APIKey       string
	APIKeyPrefix string
	Owner        *User
}

// CreateTenant creates a tenant, its first API key (scopes events:write and
// events:read) and optionally its owner, in one transaction.
func (s *Service) CreateTenant(ctx context.Context, in CreateTenantInput) (CreatedTenant, error) {
	if err := in.validate(); err != nil {
		return CreatedTenant{}, err
	}
	var out CreatedTenant
	var owner *User
	if in.OwnerEmail != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(in.OwnerPassword), bcryptCost)
		if err != nil {
			return out, fmt.Errorf("hash password: %w", err)
		}
		owner = &User{Email: normalizeEmail(in.OwnerEmail), PasswordHash: string(hash), Role: RoleOwner}
	}
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		t := Tenant{Slug: in.Slug, Name: in.Name, Plan: in.Plan, SoftLimit: in.SoftLimit, HardLimit: in.HardLimit}
		if err := s.repo.InsertTenant(ctx, tx, &t); err != nil {
			return err
		}
		key, raw, err := s.createAPIKey(ctx, tx, t.ID, "default", AllScopes, nil)
		if err != nil {
			return err
		}
		if owner != nil {
			owner.TenantID = t.ID
			if err := s.repo.InsertUser(ctx, tx, owner); err != nil {
				return err
			}
		}
		out = CreatedTenant{Tenant: t, APIKey: raw, APIKeyPrefix: key.Prefix, Owner: owner}
		return nil
	})
	return out, err
}

// GetTenant returns one tenant.
func (s *Service) GetTenant(ctx context.Context, id uuid.UUID) (Tenant, error) {
	return s.repo.GetTenant(ctx, s.db, id)
}

// ListTenants lists tenants for the operator: up to limit+1 rows.
func (s *Service) ListTenants(ctx context.Context, before uuid.UUID, limit int) ([]Tenant, error) {
	return s.repo.ListTenants(ctx, s.db, before, limit+1)
}

// TenantPatch is an operator's change to a tenant; nil fields stay as they
// are. ClearSoftLimit/ClearHardLimit return a limit to the plan's default.
type TenantPatch struct {
	Status         *string
	Plan           *string
	SoftLimit      *int64
	HardLimit      *int64
	ClearSoftLimit bool
	ClearHardLimit bool
	Weight         *int64
	ClearWeight    bool
}

// UpdateTenant applies an operator's patch. Suspending a tenant locks out its
// keys and users within keyCacheTTL.
func (s *Service) UpdateTenant(ctx context.Context, id uuid.UUID, p TenantPatch) (Tenant, error) {
	var t Tenant
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if t, err = s.repo.GetTenant(ctx, tx, id); err != nil {
			return err
		}
		if p.Status != nil {
			t.Status = *p.Status
		}
		if p.Plan != nil {
			t.Plan = *p.Plan
		}
		if p.ClearSoftLimit {
			t.SoftLimit = nil
		} else if p.SoftLimit != nil {
			t.SoftLimit = p.SoftLimit
		}
		if p.ClearHardLimit {
			t.HardLimit = nil
		} else if p.HardLimit != nil {
			t.HardLimit = p.HardLimit
		}
		var fields []apperr.FieldError
		if p.ClearWeight {
			t.Weight = nil
		} else if p.Weight != nil {
			if *p.Weight < 1 || *p.Weight > MaxWeight {
				fields = append(fields, apperr.FieldError{Field: "weight", Message: fmt.Sprintf("must be 1-%d, or null for the plan's default", MaxWeight)})
			} else {
				w := int(*p.Weight)
				t.Weight = &w
			}
		}
		if t.Status != StatusActive && t.Status != StatusSuspended {
			fields = append(fields, apperr.FieldError{Field: "status", Message: "must be active or suspended"})
		}
		if !plans[t.Plan] {
			fields = append(fields, apperr.FieldError{Field: "plan", Message: "must be free, pro or enterprise"})
		}
		for _, l := range []struct {
			name string
			v    *int64
		}{{"softLimit", t.SoftLimit}, {"hardLimit", t.HardLimit}} {
			if l.v != nil && *l.v < 0 {
				fields = append(fields, apperr.FieldError{Field: l.name, Message: "must not be negative"})
			}
		}
		if t.SoftLimit != nil && t.HardLimit != nil && *t.SoftLimit > *t.HardLimit {
			fields = append(fields, apperr.FieldError{Field: "softLimit", Message: "must not exceed hardLimit"})
		}
		if len(fields) > 0 {
			return apperr.Invalid("validation_failed", "The tenant change is invalid.", fields...)
		}
		return s.repo.UpdateTenant(ctx, tx, &t)
	})
	return t, err
}
