package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// repo holds the SQL of the tenants, api_keys and users tables.
type repo struct{}

var (
	errTenantNotFound = apperr.NotFound("tenant_not_found", "No such tenant.")
	errKeyNotFound    = apperr.NotFound("api_key_not_found", "No such API key.")
	errUserNotFound   = apperr.NotFound("user_not_found", "No such user.")
)

func (repo) InsertTenant(ctx context.Context, q pg.Querier, t *Tenant) error {
	const query = `
		INSERT INTO tenants (id, slug, name, plan, soft_limit, hard_limit)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING status, created_at, updated_at`
	t.ID = uuid.Must(uuid.NewV7())
	err := sqlx.GetContext(ctx, q, t, query, t.ID, t.Slug, t.Name, t.Plan, t.SoftLimit, t.HardLimit)
	if pg.IsUniqueViolation(err, "tenants_slug_key") {
		return apperr.Conflict("slug_taken", fmt.Sprintf("A tenant with slug %q already exists.", t.Slug))
	}
	if err != nil {
		return fmt.Errorf("insert tenant: %w", err)
	}
	return nil
}

func (repo) GetTenant(ctx context.Context, q pg.Querier, id uuid.UUID) (Tenant, error) {
	const query = `SELECT ` + tenantColumns + ` FROM tenants WHERE id = $1`
	var t Tenant
	err := pg.GetOne(ctx, q, &t, errTenantNotFound, "get tenant", query, id)
	return t, err
}

func (repo) InsertAPIKey(ctx context.Context, q pg.Querier, k *APIKey) error {
	const query = `
		INSERT INTO api_keys (id, tenant_id, label, prefix, digest, scopes, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		RETURNING created_at`
	k.ID = uuid.Must(uuid.NewV7())
	err := sqlx.GetContext(ctx, q, k, query, k.ID, k.TenantID, k.Label, k.Prefix, k.Digest, pq.Array(k.Scopes), k.ExpiresAt)
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
	TenantPlan   string         `db:"tenant_plan"`
}

// GetAPIKeyByDigest is the one lookup not scoped by tenant: the digest is
// what identifies the tenant.
func (repo) GetAPIKeyByDigest(ctx context.Context, q pg.Querier, digest []byte) (keyWithTenant, error) {
	const query = `
		SELECT k.id, k.tenant_id, k.label, k.prefix, k.digest, k.scopes, k.created_at,
		       k.expires_at, k.revoked_at, k.last_used_at, t.status AS tenant_status, t.plan AS tenant_plan
		FROM api_keys k JOIN tenants t ON t.id = k.tenant_id
		WHERE k.digest = $1`
	var k keyWithTenant
	if err := pg.GetOne(ctx, q, &k, errKeyNotFound, "get api key", query, digest); err != nil {
		return k, err
	}
	k.APIKey.Scopes = k.Scopes
	return k, nil
}

func (repo) RevokeAPIKey(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) error {
	const query = `
		UPDATE api_keys SET revoked_at = now()
		WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL`
	return pg.ExecOne(ctx, q, errKeyNotFound, "revoke api key", query, tenantID, id)
}

func (repo) InsertUser(ctx context.Context, q pg.Querier, u *User) error {
	const query = `
		INSERT INTO users (id, tenant_id, email, password_hash, role)
		VALUES ($1, $2, $3, $4, $5)
		RETURNING created_at`
	u.ID = uuid.Must(uuid.NewV7())
	err := sqlx.GetContext(ctx, q, u, query, u.ID, u.TenantID, u.Email, u.PasswordHash, u.Role)
	if pg.IsUniqueViolation(err, "users_tenant_email_key") {
		return apperr.Conflict("email_taken", "A user with this email already exists in this tenant.")
	}
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

const tenantColumns = `id, slug, name, plan, status, soft_limit, hard_limit, weight, created_at, updated_at`

// ListTenants is the operator's view across tenants, newest first.
func (repo) ListTenants(ctx context.Context, q pg.Querier, before uuid.UUID, limit int) ([]Tenant, error) {
	const query = `SELECT ` + tenantColumns + ` FROM tenants
		WHERE ($1::uuid IS NULL OR id < $1) ORDER BY id DESC LIMIT $2`
	var out []Tenant
	if err := sqlx.SelectContext(ctx, q, &out, query, pg.NullUUID(before), limit); err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return out, nil
}

// UpdateTenant writes the operator-editable fields of t.
func (repo) UpdateTenant(ctx context.Context, q pg.Querier, t *Tenant) error {
	const query = `
		UPDATE tenants SET status = $2, plan = $3, soft_limit = $4, hard_limit = $5, weight = $6, updated_at = now()
		WHERE id = $1
		RETURNING updated_at`
	return pg.GetOne(ctx, q, &t.UpdatedAt, errTenantNotFound, "update tenant", query, t.ID, t.Status, t.Plan, t.SoftLimit, t.HardLimit, t.Weight)
}

const apiKeyColumns = `id, tenant_id, label, prefix, digest, scopes, created_at, expires_at, revoked_at, last_used_at` //nolint:gosec // G101: a column list, not a credential

type apiKeyRow struct {
	APIKey
	Scopes pq.StringArray `db:"scopes"`
}

func (repo) ListAPIKeys(ctx context.Context, q pg.Querier, tenantID, before uuid.UUID, limit int) ([]APIKey, error) {
	const query = `SELECT ` + apiKeyColumns + ` FROM api_keys
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`
	var rows []apiKeyRow
	if err := sqlx.SelectContext(ctx, q, &rows, query, tenantID, pg.NullUUID(before), limit); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out := make([]APIKey, len(rows))
	for i, r := range rows {
		out[i] = r.APIKey
		out[i].Scopes = r.Scopes
	}
	return out, nil
}

// TouchAPIKeys records last use of keys in one statement (batched by the
// Service, so authentication never writes per request).
func (repo) TouchAPIKeys(ctx context.Context, q pg.Querier, ids []uuid.UUID, at []time.Time) error {
	const query = `
		UPDATE api_keys k SET last_used_at = v.at
		FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at)
		WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.at)`
	if _, err := q.ExecContext(ctx, query, pq.Array(ids), pq.Array(at)); err != nil {
		return fmt.Errorf("touch api keys: %w", err)
	}
	return nil
}

const userColumns = `id, tenant_id, email, password_hash, role, created_at`

// ListUsersByEmail is for login only: the users an e-mail address names,
// in every tenant or in the one whose slug is given, oldest first.
func (repo) ListUsersByEmail(ctx context.Context, q pg.Querier, email, tenantSlug string, limit int) ([]User, error) {
	const query = `SELECT ` + userColumns + ` FROM users
		WHERE lower(email) = lower($1)
		AND ($2 = '' OR tenant_id = (SELECT id FROM tenants WHERE slug = $2))
		ORDER BY created_at, id LIMIT $3`
	var us []User
	if err := sqlx.SelectContext(ctx, q, &us, query, email, tenantSlug, limit); err != nil {
		return nil, fmt.Errorf("list users by email: %w", err)
	}
	return us, nil
}

// GetSecret reads one of auth's own secrets (auth_secrets).
func (repo) GetSecret(ctx context.Context, q pg.Querier, name string) ([]byte, error) {
	const query = `SELECT secret FROM auth_secrets WHERE name = $1`
	var secret []byte
	err := pg.GetOne(ctx, q, &secret, apperr.NotFound("secret_not_found", "No such secret."), "get secret", query, name)
	return secret, err
}

func (repo) GetUser(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) (User, error) {
	const query = `SELECT ` + userColumns + ` FROM users WHERE tenant_id = $1 AND id = $2`
	var u User
	err := pg.GetOne(ctx, q, &u, errUserNotFound, "get user", query, tenantID, id)
	return u, err
}

func (repo) ListUsers(ctx context.Context, q pg.Querier, tenantID, before uuid.UUID, limit int) ([]User, error) {
	const query = `SELECT ` + userColumns + ` FROM users
		WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2) ORDER BY id DESC LIMIT $3`
	var out []User
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, pg.NullUUID(before), limit); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// DeleteUser removes a user unless it is the tenant's last owner. The owner
// rows are locked first so two concurrent deletions cannot remove both of the
// last two owners.
func (repo) DeleteUser(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) error {
	const lockOwners = `SELECT id FROM users WHERE tenant_id = $1 AND role = 'owner' ORDER BY id FOR UPDATE`
	var owners []uuid.UUID
	if err := sqlx.SelectContext(ctx, q, &owners, lockOwners, tenantID); err != nil {
		return fmt.Errorf("lock owners: %w", err)
	}
	if len(owners) == 1 && owners[0] == id {
		return apperr.Conflict("last_owner", "The last owner of a tenant cannot be deleted.")
	}
	const query = `DELETE FROM users WHERE tenant_id = $1 AND id = $2`
	return pg.ExecOne(ctx, q, errUserNotFound, "delete user", query, tenantID, id)
}

// UpdateUserRole sets a user's role unless that takes the owner role from
// the tenant's last owner; the owner rows are locked first, as in
// DeleteUser, so two concurrent demotions cannot leave no owner.
func (repo) UpdateUserRole(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, role string) (User, error) {
	const lockOwners = `SELECT id FROM users WHERE tenant_id = $1 AND role = 'owner' ORDER BY id FOR UPDATE`
	var owners []uuid.UUID
	if err := sqlx.SelectContext(ctx, q, &owners, lockOwners, tenantID); err != nil {
		return User{}, fmt.Errorf("lock owners: %w", err)
	}
	if role != RoleOwner && len(owners) == 1 && owners[0] == id {
		return User{}, apperr.Conflict("last_owner", "The last owner of a tenant cannot lose the owner role.")
	}
	const query = `UPDATE users SET role = $3 WHERE tenant_id = $1 AND id = $2 RETURNING ` + userColumns
	var u User
	err := pg.GetOne(ctx, q, &u, errUserNotFound, "update user role", query, tenantID, id, role)
	return u, err
}
