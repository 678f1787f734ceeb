// Package authtest makes tenants, users, keys and tokens for tests of every
// module.
package authtest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/signalops/signalops/modules/auth"
)

// Options are the auth options tests run with.
var Options = auth.Options{
	JWTSecret:  []byte("authtest-jwt-secret-of-at-least-32-bytes"),
	AdminToken: "authtest-admin-token-0123456789",
}

// Password is every test user's password.
const Password = "correct horse battery"

// TenantOpts customises a test tenant; nil fields take defaults.
type TenantOpts struct {
	Slug *string
	Plan *string
}

// Tenant is a created tenant, its first API key (events:write, events:read)
// and its owner.
type Tenant struct {
	ID         uuid.UUID
	Slug       string
	APIKey     string
	OwnerID    uuid.UUID
	OwnerEmail string
}

// Service returns an auth Service configured like the tests' routers.
func Service(db *sqlx.DB) *auth.Service {
	return auth.NewService(db, slog.New(slog.DiscardHandler), Options)
}

// CreateTenant creates a tenant with an owner through the auth Service.
func CreateTenant(ctx context.Context, t testing.TB, db *sqlx.DB, opts *TenantOpts) Tenant {
	t.Helper()
	if opts == nil {
		opts = &TenantOpts{}
	}
	slug := "t-" + uuid.NewString()[:8]
	in := auth.CreateTenantInput{Slug: slug, Name: "Test tenant", OwnerEmail: "owner@" + slug + ".test", OwnerPassword: Password}
	if opts.Slug != nil {
		in.Slug = *opts.Slug
	}
	if opts.Plan != nil {
		in.Plan = *opts.Plan
	}
	out, err := Service(db).CreateTenant(ctx, in)
	if err != nil {
		t.Fatalf("authtest: create tenant: %v", err)
	}
	return Tenant{ID: out.Tenant.ID, Slug: out.Tenant.Slug, APIKey: out.APIKey, OwnerID: out.Owner.ID, OwnerEmail: out.Owner.Email}
}

// CreateUser adds a user with role to the tenant and returns its id and email.
func CreateUser(ctx context.Context, t testing.TB, db *sqlx.DB, tenant Tenant, role string) (uuid.UUID, string) {
	t.Helper()
	email := role + "-" + uuid.NewString()[:8] + "@" + tenant.Slug + ".test"
	u, err := Service(db).CreateUser(ctx, auth.Principal{TenantID: tenant.ID, Role: auth.RoleOwner}, email, Password, role)
	if err != nil {
		t.Fatalf("authtest: create user: %v", err)
	}
	return u.ID, email
}

// Token logs the user in and returns a bearer token.
func Token(ctx context.Context, t testing.TB, db *sqlx.DB, email string) string {
	t.Helper()
	tok, err := Service(db).Login(ctx, auth.LoginInput{Email: email, Password: Password})
	if err != nil {
		t.Fatalf("authtest: login %s: %v", email, err)
	}
	return tok
}
