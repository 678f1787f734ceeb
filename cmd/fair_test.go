package cmd

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/testdb"
)

// TestFairAcrossTenants: a tenant with a backlog does not hold up another
// tenant's events (ADR 0008). Tenant A queues 3,000 events, then tenant B
// sends 10, all before any worker runs. First-in first-out would process
// B's last; the fair order processes them after a small part of A's
// backlog. The assertion is on order, not on time.
func TestFairAcrossTenants(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, url := testdb.NewWithURL(t)
	cfg := testConfig(t, url)
	sys, err := wire(pool, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	router := sys.router()
	a := authtest.CreateTenant(ctx, t, pool, &authtest.TenantOpts{Plan: new("free")}) // weight 1
	b := authtest.CreateTenant(ctx, t, pool, &authtest.TenantOpts{Plan: new("free")})

	const backlog, light = 3000, 10
	for i := 0; i < backlog; i += 500 {
		items := make([]string, 500)
		for j := range items {
			items[j] = fmt.Sprintf(`{"type":"flood","payload":{"n":%d}}`, i+j)
		}
		rec := serveReq(router, "POST", "/api/events/batch", `{"events":[`+strings.Join(items, ",")+`]}`, "x-api-key", a.APIKey)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	}
	for i := range light {
		rec := serveReq(router, "POST", "/api/events", fmt.Sprintf(`{"type":"light","payload":{"n":%d}}`, i), "x-api-key", b.APIKey)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	}

	startWorker(t, sys, url)
	processed := func(tenant string) (n int) {
		require.NoError(t, pool.Get(&n, `SELECT count(*) FROM events WHERE tenant_id = $1 AND status = 'processed'`, tenant))
		return n
	}
	var floodDone int
	require.Eventually(t, func() bool {
		if processed(b.ID.String()) < light {
			return false
		}
		floodDone = processed(a.ID.String())
		return true
	}, 60*time.Second, 20*time.Millisecond)
	t.Logf("tenant B's %d events were processed when %d of tenant A's %d were", light, floodDone, backlog)
	require.Less(t, floodDone, backlog/2, "B waited behind most of A's backlog")
	require.Eventually(t, func() bool { return processed(a.ID.String()) == backlog }, 120*time.Second, 50*time.Millisecond,
		"A's backlog is processed too")
}
