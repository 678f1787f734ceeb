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

// Me returns the calling user and their tenant.
func (s *Service) Me(ctx context.Context, p Principal) (User, Tenant, error) {
	u, err := s.repo.GetUser(ctx, s.db, p.TenantID, p.UserID)
	if err != nil {
		return u, Tenant{}, err
	}
	t, err := s.repo.GetTenant(ctx, s.db, p.TenantID)
	return u, t, err
}

// ListUsers lists the tenant's users: up to limit+1 rows.
func (s *Service) ListUsers(ctx context.Context, tenantID, before uuid.UUID, limit int) ([]User, error) {
	return s.repo.ListUsers(ctx, s.db, tenantID, before, limit+1)
}

// CreateUser adds a user to the caller's tenant. Only an owner may create
// another owner.
func (s *Service) CreateUser(ctx context.Context, by Principal, email, password, role string) (User, error) {
	fields := validateCredentials(email, password)
	if _, ok := roleRank[role]; !ok {
		fields = append(fields, apperr.FieldError{Field: "role", Message: "must be owner, admin, member or viewer"})
	}
	if len(fields) > 0 {
		return User{}, apperr.Invalid("validation_failed", "The user is invalid.", fields...)
	}
	if role == RoleOwner && by.Role != RoleOwner {
		return User{}, apperr.Forbidden("insufficient_role", "Only an owner can create another owner.")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	u := User{TenantID: by.TenantID, Email: normalizeEmail(email), PasswordHash: string(hash), Role: role}
	if err := s.repo.InsertUser(ctx, s.db, &u); err != nil {
		return User{}, err
	}
	return u, nil
}

// UpdateUserRole changes a user's role. Only an owner grants or takes the
// owner role; the last owner keeps it; nobody changes their own role.
func (s *Service) UpdateUserRole(ctx context.Context, by Principal, id uuid.UUID, role string) (User, error) {
	if _, ok := roleRank[role]; !ok {
		return User{}, apperr.Invalid("validation_failed", "The role is invalid.",
			apperr.FieldError{Field: "role", Message: "must be owner, admin, member or viewer"})
	}
	if id == by.UserID {
		return User{}, apperr.Conflict("cannot_change_own_role", "You cannot change your own role.")
	}
	var u User
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := s.repo.GetUser(ctx, tx, by.TenantID, id)
		if err != nil {
			return err
		}
		if (cur.Role == RoleOwner || role == RoleOwner) && by.Role != RoleOwner {
			return apperr.Forbidden("insufficient_role", "Only an owner can grant or take the owner role.")
		}
		u, err = s.repo.UpdateUserRole(ctx, tx, by.TenantID, id, role)
		return err
	})
	return u, err
}

// DeleteUser removes a user of the caller's tenant. Admins cannot remove
// owners; nobody removes the last owner.
func (s *Service) DeleteUser(ctx context.Context, by Principal, id uuid.UUID) error {
	return pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		u, err := s.repo.GetUser(ctx, tx, by.TenantID, id)
		if err != nil {
			return err
		}
		if u.Role == RoleOwner && by.Role != RoleOwner {
			return apperr.Forbidden("insufficient_role", "Only an owner can remove an owner.")
		}
		return s.repo.DeleteUser(ctx, tx, by.TenantID, id)
	})
}
