package cmd

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/pg"
)

// TestGroupCommitManyTenants: groups mixing tenants update each tenant's
// usage counter; concurrent groups must never deadlock into a 5xx.
func TestGroupCommitManyTenants(t *testing.T) {
	t.Parallel()
	sys := newTestSystem(t)
	router := sys.router()
	runCommitters(t, sys, pg.GroupOptions{Committers: 4, MaxBatch: 32})

	var keys []string
	for range 24 {
		keys = append(keys, authtest.CreateTenant(t.Context(), t, sys.db, &authtest.TenantOpts{Plan: new("enterprise")}).APIKey)
	}
	const clients, each = 48, 20
	codes := concurrentCodes(clients, each, func(c, i int) *httptest.ResponseRecorder {
		return serveReq(router, "POST", "/api/events", fmt.Sprintf(`{"type":"a","payload":{"c":%d,"i":%d}}`, c, i),
			"x-api-key", keys[(c+i)%len(keys)])
	})
	require.Equal(t, map[int]int{http.StatusAccepted: clients * each}, codes)
	var counted int
	require.NoError(t, sys.db.Get(&counted, `SELECT coalesce(sum(count), 0) FROM usage_counters WHERE metric = 'events'`))
	require.Equal(t, clients*each, counted, "every accepted event is counted once")
}

// TestHardLimitPerGroup: a group commit admits a tenant's requests only
// as far as the counters committed before it leave room under the hard
// limit, so with one committer (groups one after another) not one event
// past the limit is stored, however many requests are in flight.
func TestHardLimitPerGroup(t *testing.T) {
	t.Parallel()
	sys := newTestSystem(t)
	router := sys.router()
	runCommitters(t, sys, pg.GroupOptions{Committers: 1, MaxBatch: 64})
	tenant := authtest.CreateTenant(t.Context(), t, sys.db, &authtest.TenantOpts{Plan: new("enterprise")})
	setLimits(t, sys, tenant, 20, 30)

	const inFlight = 120
	codes := concurrentCodes(inFlight, 1, func(i, _ int) *httptest.ResponseRecorder {
		return serveReq(router, "POST", "/api/events", fmt.Sprintf(`{"type":"a","payload":{"i":%d}}`, i), "x-api-key", tenant.APIKey)
	})
	var stored int
	require.NoError(t, sys.db.Get(&stored, `SELECT count(*) FROM events WHERE tenant_id = $1 AND type = 'a'`, tenant.ID))
	require.Equal(t, 30, stored, "codes %v", codes)
	require.Equal(t, map[int]int{http.StatusAccepted: 30, http.StatusTooManyRequests: inFlight - 30}, codes)
}

// runCommitters serves single-event ingestion with group commit until the
// test ends.
func runCommitters(t *testing.T, sys *system, opts pg.GroupOptions) {
	t.Helper()
	committers := background.Start(t.Context(), "ingest-committers", func(ctx context.Context) {
		sys.events.Service.RunCommitters(ctx, opts)
	})
	t.Cleanup(committers.Stop)
	require.Eventually(t, sys.events.Service.Grouping, 5*time.Second, time.Millisecond,
		"requests sent before the committers run would each commit alone")
}

// concurrentCodes runs clients goroutines at once, each serving each
// requests one after another (serve(c, i) is client c's i-th), and counts
// the answers by status code.
func concurrentCodes(clients, each int, serve func(c, i int) *httptest.ResponseRecorder) map[int]int {
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				rec := serve(c, i)
				mu.Lock()
				codes[rec.Code]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return codes
}
