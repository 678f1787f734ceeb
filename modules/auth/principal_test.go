package auth_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth"
)

// TestMustPrincipal: a handler of an authenticated route gets the caller;
// one mounted without authentication panics instead of serving as nobody.
func TestMustPrincipal(t *testing.T) {
	t.Parallel()
	p := auth.Principal{TenantID: uuid.New(), UserID: uuid.New(), Role: auth.RoleAdmin}
	ctx := auth.WithPrincipal(context.Background(), p)
	require.Equal(t, p, auth.MustPrincipal(ctx))
	require.Equal(t, p.TenantID, auth.TenantID(ctx))

	require.Panics(t, func() { auth.MustPrincipal(context.Background()) })
	require.Panics(t, func() { auth.TenantID(context.Background()) })
}
