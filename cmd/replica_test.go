package cmd

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/db"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

// TestReadReplica runs the API on a private primary with an asynchronous
// streaming replica (pg_basebackup -R) as DATABASE_READ_URL: the listing
// endpoints read the replica, and an event is readable by id the moment
// its 202 is sent, however far the replica trails.
func TestReadReplica(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	logger := slog.New(slog.DiscardHandler)

	primary := testdb.StartServer(t, testdb.ServerOptions{})
	standby := primary.StartStandby(t)
	pool, err := pg.Open(ctx, primary.URL("postgres"), pg.PoolConfig{MaxOpenConns: 8, MaxIdleConns: 8})
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	require.NoError(t, db.Up(ctx, pool.DB, logger))

	cfg := testConfig(t, primary.URL("postgres"))
	cfg.JWTSecret = string(authtest.Options.JWTSecret)
	cfg.DatabaseReadURL = standby.URL("postgres")
	sys, err := wire(pool, cfg, logger)
	require.NoError(t, err)
	require.NoError(t, sys.openReplica())
	t.Cleanup(func() { _ = sys.replica.Close() })
	router := sys.router()

	plan := "enterprise" // the lag loop polls faster than the free plan's rate limit
	tenant := authtest.CreateTenant(ctx, t, pool, &authtest.TenantOpts{Plan: &plan})
	bearer := "Bearer " + authtest.Token(ctx, t, pool, tenant.OwnerEmail)
	key := []string{"x-api-key", tenant.APIKey}
	ingest := func(t *testing.T, n int) string {
		t.Helper()
		return acceptedID(t, serveReq(router, "POST", "/api/events", `{"type":"replica.test","payload":{"n":`+strconv.Itoa(n)+`}}`, key...))
	}
	listed := func(t *testing.T, id string) bool {
		t.Helper()
		rec := serveReq(router, "GET", "/api/events?type=replica.test&limit=10", "", key...)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var page struct{ Data []struct{ ID string } }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		for _, e := range page.Data {
			if e.ID == id {
				return true
			}
		}
		return false
	}
	usage := func(t *testing.T) int {
		t.Helper()
		rec := serveReq(router, "GET", "/api/usage", "", "Authorization", bearer)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var u struct {
			Current struct{ Events struct{ Count int } }
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &u))
		return u.Current.Events.Count
	}

	t.Run("ReadByIDRightAfterAccepted", func(t *testing.T) {
		for i := range 100 {
			id := ingest(t, i)
			rec := serveReq(router, "GET", "/api/events/"+id, "", key...)
			require.Equal(t, http.StatusOK, rec.Code, "event %d read back at once: %s", i, rec.Body.String())
		}
		require.Eventually(t, func() bool { return usage(t) == 100 }, 10*time.Second, 20*time.Millisecond,
			"the replica catches up")
	})

	t.Run("LagLogged", func(t *testing.T) {
		// How long after its 202 an event shows in the (replica's) list:
		// the replication lag as a client sees it. Logged, not asserted.
		var lags []time.Duration
		for i := range 50 {
			id := ingest(t, 500+i)
			start := time.Now()
			for !listed(t, id) {
				require.Less(t, time.Since(start), 10*time.Second, "the replica never caught up")
				time.Sleep(time.Millisecond)
			}
			lags = append(lags, time.Since(start))
		}
		slices.Sort(lags)
		t.Logf("listing lag after the 202 (50 events, one at a time): p50 %s, p90 %s, max %s",
			lags[25].Round(100*time.Microsecond), lags[45].Round(100*time.Microsecond), lags[49].Round(100*time.Microsecond))
	})

	t.Run("ListingsReadTheReplica", func(t *testing.T) {
		// With replay paused on the replica, what the primary commits is
		// invisible to the listings, and only to them.
		_, err := sys.replica.ExecContext(ctx, `SELECT pg_wal_replay_pause()`)
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			var state string
			require.NoError(t, sys.replica.GetContext(ctx, &state, `SELECT pg_get_wal_replay_pause_state()`))
			return state == "paused"
		}, 10*time.Second, 10*time.Millisecond)
		before := usage(t)

		id := ingest(t, 1000)
		rec := serveReq(router, "GET", "/api/events/"+id, "", key...)
		require.Equal(t, http.StatusOK, rec.Code, "by id: the primary")
		require.False(t, listed(t, id), "GET /api/events reads the replica, where the event is not yet")
		require.Equal(t, before, usage(t), "GET /api/usage reads the replica")

		_, err = sys.replica.ExecContext(ctx, `SELECT pg_wal_replay_resume()`)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return listed(t, id) && usage(t) == before+1 }, 10*time.Second, 20*time.Millisecond)
	})

	t.Run("ReplicaDown", func(t *testing.T) {
		// Only the listings depend on the replica: they answer 503 with
		// Retry-After; ingestion and reads by id go on.
		standby.Stop()
		for _, path := range []string{"/api/events", "/api/deliveries", "/api/usage"} {
			rec := serveReq(router, "GET", path, "", "Authorization", bearer)
			require.Equal(t, http.StatusServiceUnavailable, rec.Code, "%s: %s", path, rec.Body.String())
			require.NotEmpty(t, rec.Header().Get("Retry-After"), path)
		}
		id := ingest(t, 2000)
		rec := serveReq(router, "GET", "/api/events/"+id, "", key...)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	})
}
