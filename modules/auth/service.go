package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// keyCacheTTL bounds how long a verified key is trusted without asking the
// database again: a revocation or suspension takes effect in every process
// within this time.
const keyCacheTTL = 2 * time.Second

// keyCacheMax caps the cache; when full it is emptied rather than grown.
const keyCacheMax = 100_000

// Service is the auth use cases: tenants, keys, authentication.
type Service struct {
	db     *sqlx.DB
	repo   repo
	logger *slog.Logger

	mu    sync.Mutex
	cache map[[32]byte]cachedKey
}

type cachedKey struct {
	key          APIKey
	tenantStatus string
	until        time.Time
}

// NewService returns the auth Service over db.
func NewService(db *sqlx.DB, logger *slog.Logger) *Service {
	return &Service{db: db, logger: logger, cache: make(map[[32]byte]cachedKey)}
}

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

// CreateAPIKey creates a key for the tenant; the raw key is returned only here.
func (s *Service) CreateAPIKey(ctx context.Context, tenantID uuid.UUID, label string, scopes []string, expiresAt *time.Time) (APIKey, string, error) {
	var fields []apperr.FieldError
	if label == "" || len(label) > 100 {
		fields = append(fields, apperr.FieldError{Field: "label", Message: "must be 1-100 characters"})
	}
	if len(scopes) == 0 {
		fields = append(fields, apperr.FieldError{Field: "scopes", Message: "must name at least one scope"})
	}
	for i, sc := range scopes {
		if !slices.Contains(AllScopes, sc) {
			fields = append(fields, apperr.FieldError{Field: fmt.Sprintf("scopes[%d]", i), Message: "unknown scope " + strconv.Quote(sc)})
		}
	}
	if expiresAt != nil && !expiresAt.After(time.Now()) {
		fields = append(fields, apperr.FieldError{Field: "expiresAt", Message: "must be in the future"})
	}
	if len(fields) > 0 {
		return APIKey{}, "", apperr.Invalid("validation_failed", "The API key is invalid.", fields...)
	}
	return s.createAPIKey(ctx, s.db, tenantID, label, scopes, expiresAt)
}

func (s *Service) createAPIKey(ctx context.Context, q pg.Querier, tenantID uuid.UUID, label string, scopes []string, expiresAt *time.Time) (APIKey, string, error) {
	raw, digest, prefix := newKey()
	k := APIKey{TenantID: tenantID, Label: label, Prefix: prefix, Digest: digest[:], Scopes: scopes, ExpiresAt: expiresAt}
	if err := s.repo.InsertAPIKey(ctx, q, &k); err != nil {
		return APIKey{}, "", err
	}
	return k, raw, nil
}

// RevokeAPIKey revokes one of the tenant's keys; every process stops
// accepting it within keyCacheTTL.
func (s *Service) RevokeAPIKey(ctx context.Context, tenantID, id uuid.UUID) error {
	return s.repo.RevokeAPIKey(ctx, s.db, tenantID, id)
}

var errInvalidKey = apperr.Unauthorized("invalid_api_key", "The API key is unknown, revoked or expired.")

// AuthenticateKey verifies a raw API key and returns its principal.
func (s *Service) AuthenticateKey(ctx context.Context, raw string) (Principal, error) {
	if !wellFormedKey(raw) {
		return Principal{}, errInvalidKey
	}
	digest := sha256.Sum256([]byte(raw))
	now := time.Now()
	c, ok := s.cached(digest, now)
	if !ok {
		k, err := s.repo.GetAPIKeyByDigest(ctx, s.db, digest[:])
		if apperr.IsKind(err, apperr.KindNotFound) {
			return Principal{}, errInvalidKey
		}
		if err != nil {
			return Principal{}, err
		}
		c = cachedKey{key: k.APIKey, tenantStatus: k.TenantStatus, until: now.Add(keyCacheTTL)}
		s.store(digest, c)
	}
	// The lookup was by digest; compare in constant time all the same, so no
	// code path ever branches on a partial match of key material.
	if subtle.ConstantTimeCompare(c.key.Digest, digest[:]) != 1 {
		return Principal{}, errInvalidKey
	}
	switch {
	case c.key.RevokedAt != nil, c.key.ExpiresAt != nil && !now.Before(*c.key.ExpiresAt):
		return Principal{}, errInvalidKey
	case c.tenantStatus != StatusActive:
		return Principal{}, apperr.Forbidden("tenant_suspended", "This tenant is suspended.")
	}
	return Principal{TenantID: c.key.TenantID, KeyID: c.key.ID, Scopes: c.key.Scopes}, nil
}

func (s *Service) cached(digest [32]byte, now time.Time) (cachedKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[digest]
	if !ok || now.After(c.until) {
		return cachedKey{}, false
	}
	return c, true
}

func (s *Service) store(digest [32]byte, c cachedKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= keyCacheMax {
		clear(s.cache)
	}
	s.cache[digest] = c
}
