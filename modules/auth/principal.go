package auth

import (
	"context"
	"slices"

	"github.com/google/uuid"
)

// Principal is who is calling: an API key of a tenant, or a user of it.
type Principal struct {
	TenantID uuid.UUID
	Plan     string    // the tenant's plan, for rate limits
	KeyID    uuid.UUID // set for API keys
	Scopes   []string  // an API key's scopes
	UserID   uuid.UUID // set for users (JWT)
	Role     string    // a user's current role
}

// IsUser reports whether a person (JWT) is calling, not an API key.
func (p Principal) IsUser() bool { return p.UserID != uuid.Nil }

// Can reports whether the principal holds scope. Users read events with any
// role; only API keys ingest.
func (p Principal) Can(scope string) bool {
	if p.IsUser() {
		return scope == ScopeEventsRead
	}
	return slices.Contains(p.Scopes, scope)
}

// roleRank orders roles; a higher rank may do what a lower one may.
var roleRank = map[string]int{RoleViewer: 1, RoleMember: 2, RoleAdmin: 3, RoleOwner: 4}

// AtLeast reports whether the user's role is role or higher.
func (p Principal) AtLeast(role string) bool { return roleRank[p.Role] >= roleRank[role] }

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

// MustPrincipal returns the authenticated caller in ctx, for handlers of
// authenticated routes. It panics when the route was mounted without
// authentication: that is a wiring bug, caught by the route tests, never a
// request to serve as nobody.
func MustPrincipal(ctx context.Context) Principal {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		panic("auth: no principal in context; route mounted without auth middleware")
	}
	return p
}

// TenantID returns the caller's tenant; it panics as MustPrincipal does.
func TenantID(ctx context.Context) uuid.UUID { return MustPrincipal(ctx).TenantID }
