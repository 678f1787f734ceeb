// Package authtest makes tenants and keys for tests of every module.
package authtest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/signalops/signalops/modules/auth"
)

// TenantOpts customises a test tenant; nil fields take defaults.
type TenantOpts struct {
	Slug *string
	Plan *string
}

// Tenant is a created tenant and its first API key (events:write, events:read).
type Tenant struct {
	ID     uuid.UUID
	Slug   string
	APIKey string
}

// CreateTenant creates a tenant through the auth Service.
func CreateTenant(ctx context.Context, t testing.TB, db *sqlx.DB, opts *TenantOpts) Tenant {
	t.Helper()
	if opts == nil {
		opts = &TenantOpts{}
	}
	in := auth.CreateTenantInput{Slug: "t-" + uuid.NewString()[:8], Name: "Test tenant"}
	if opts.Slug != nil {
		in.Slug = *opts.Slug
	}
	if opts.Plan != nil {
		in.Plan = *opts.Plan
	}
	out, err := auth.NewService(db, slog.New(slog.DiscardHandler)).CreateTenant(ctx, in)
	if err != nil {
		t.Fatalf("authtest: create tenant: %v", err)
	}
	return Tenant{ID: out.Tenant.ID, Slug: out.Tenant.Slug, APIKey: out.APIKey}
}
