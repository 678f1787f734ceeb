package auth

import (
	"context"
	"slices"

	"github.com/google/uuid"
)

// Principal is who is calling: an API key of a tenant (or, later, a user).
type Principal struct {
	TenantID uuid.UUID
	KeyID    uuid.UUID // set for API keys
	Scopes   []string
}

// Can reports whether the principal holds scope.
func (p Principal) Can(scope string) bool { return slices.Contains(p.Scopes, scope) }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated caller in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// TenantID returns the caller's tenant. It panics when the route was mounted
// without authentication: that is a wiring bug, caught by the route tests.
func TenantID(ctx context.Context) uuid.UUID {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		panic("auth.TenantID: no principal in context; route mounted without auth middleware")
	}
	return p.TenantID
}
