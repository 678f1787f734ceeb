package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// repo holds the SQL of the tenants, api_keys and users tables.
type repo struct{}

func (repo) InsertTenant(ctx context.Context, q pg.Querier, t *Tenant) error {
	const query = `
		INSERT INTO tenants (slug, name, plan, soft_limit, hard_limit)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING id, status, created_at, updated_at`
	err := sqlx.GetContext(ctx, q, t, query, t.Slug, t.Name, t.Plan, t.SoftLimit, t.HardLimit)
	if pg.IsUniqueViolation(err, "tenants_slug_key") {
		return apperr.Conflict("slug_taken", fmt.Sprintf("A tenant with slug %q already exists.", t.Slug))
	}
	if err != nil {
		return fmt.Errorf("insert tenant: %w", err)
	}
	return nil
}

func (repo) GetTenant(ctx context.Context, q pg.Querier, id uuid.UUID) (Tenant, error) {
	const query = `
		SELECT id, slug, name, plan, status, soft_limit, hard_limit, created_at, updated_at
		FROM tenants WHERE id = $1`
	var t Tenant
	err := sqlx.GetContext(ctx, q, &t, query, id)
	if errors.Is(err, sql.ErrNoRows) {
		return t, apperr.NotFound("tenant_not_found", "No such tenant.")
	}
	if err != nil {
		return t, fmt.Errorf("get tenant: %w", err)
	}
	return t, nil
}

func (repo) InsertAPIKey(ctx context.Context, q pg.Querier, k *APIKey) error {
	const query = `
		INSERT INTO api_keys (tenant_id, label, prefix, digest, scopes, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING id, created_at`
	err := sqlx.GetContext(ctx, q, k, query, k.TenantID, k.Label, k.Prefix, k.Digest, pq.Array(k.Scopes), k.ExpiresAt)
	if err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

// keyWithTenant is an API key joined to its tenant's status: one lookup per
// (uncached) authentication.
type keyWithTenant struct {
	APIKey
	Scopes       pq.StringArray `db:"scopes"`
	TenantStatus string         `db:"tenant_status"`
}

// GetAPIKeyByDigest is the one lookup not scoped by tenant: the digest is
// what identifies the tenant.
func (repo) GetAPIKeyByDigest(ctx context.Context, q pg.Querier, digest []byte) (keyWithTenant, error) {
	const query = `
		SELECT k.id, k.tenant_id, k.label, k.prefix, k.digest, k.scopes, k.created_at,
		       k.expires_at, k.revoked_at, k.last_used_at, t.status AS tenant_status
		FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.digest = $1`
	var k keyWithTenant
	err := sqlx.GetContext(ctx, q, &k, query, digest)
	if errors.Is(err, sql.ErrNoRows) {
		return k, apperr.NotFound("api_key_not_found", "No such API key.")
	}
	if err != nil {
		return k, fmt.Errorf("get api key: %w", err)
	}
	k.APIKey.Scopes = k.Scopes
	return k, nil
}

func (repo) RevokeAPIKey(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) error {
	const query = `
		UPDATE api_keys SET revoked_at = now()
		WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL`
	res, err := q.ExecContext(ctx, query, tenantID, id)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.NotFound("api_key_not_found", "No such API key.")
	}
	return nil
}

func (repo) InsertUser(ctx context.Context, q pg.Querier, u *User) error {
	const query = `
		INSERT INTO users (tenant_id, email, password_hash, role)
		VALUES ($1, $2, $3, $4)
		RETURNING id, created_at`
	err := sqlx.GetContext(ctx, q, u, query, u.TenantID, u.Email, u.PasswordHash, u.Role)
	if pg.IsUniqueViolation(err, "users_email_key") {
		return apperr.Conflict("email_taken", "A user with this email already exists.")
	}
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}
