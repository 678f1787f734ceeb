package faulttest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/testdb"
)

// TestPrimaryFailover: PostgreSQL is a primary with a synchronous streaming
// standby (two private clusters: initdb, pg_basebackup -R), and serve and
// work reach them through DATABASE_URL in libpq's standard multi-host form,
// postgres://…@127.0.0.1:P1,127.0.0.1:P2/db?target_session_attrs=read-write.
// Under load the primary is killed with SIGKILL (the postmaster and all its
// processes, as a crashed machine), and a little later the standby is
// promoted with pg_ctl promote, as a failover manager would.
//
// Checked: every acknowledged event is stored (synchronous replication: a
// commit is acknowledged only once the standby has it), processed and
// delivered; duplicate deliveries stay within at-least-once (sends whose
// outcome the dead primary never recorded); serve and work keep running and
// reconnect by themselves; the API answers 503 with Retry-After while no
// primary exists, never 500; work's LISTEN connection (River's pgx
// listener) comes back on the promoted server. Logged: the counts and how
// long after the promotion ingestion resumed.
func TestPrimaryFailover(t *testing.T) {
	promoteAfter := 2 * time.Second // the failover manager's detection time
	if mode == "long" {
		promoteAfter = 5 * time.Second
	}
	primary := testdb.StartServer(t, testdb.ServerOptions{SyncStandby: true})
	standby := primary.StartStandby(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- tail of the primary's log ---\n%s\n--- tail of the standby's log ---\n%s",
				tail(primary.Log(), 20), tail(standby.Log(), 30))
		}
	})
	admin := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable&target_session_attrs=read-write",
		primary.Port, standby.Port)

	c := newClusterOn(t, admin, 1)
	c.startWorks(1)
	require.Equal(t, 1, c.count(`SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'`),
		"the standby is synchronous before the failover")
	lg := c.newLoad(c.bases()...)
	// Retry every 100 ms during the outage (not Retry-After's 1 s), so the
	// first acknowledgement after the promotion shows when service resumed.
	lg.retryCap = 100 * time.Millisecond
	defer lg.abort()
	lg.start(c.k.workers, c.k.rate, 0)
	time.Sleep(c.k.load)

	killStart := time.Now()
	primary.Kill()
	killed := time.Now() // every process of the primary is gone
	atKill := lg.ackedCount()
	time.Sleep(promoteAfter)
	promoteStart := time.Now()
	standby.Promote()
	promoted := time.Now()
	t.Logf("kill -9 of the primary (postmaster and backends) took %s, after %d acknowledgements; standby promoted %s later (pg_ctl promote took %s)",
		killed.Sub(killStart).Round(time.Millisecond), atKill,
		promoteStart.Sub(killed).Round(time.Millisecond), promoted.Sub(promoteStart).Round(time.Millisecond))

	time.Sleep(c.k.load)
	lg.stop()
	require.Greater(t, lg.ackedCount(), atKill, "nothing was acknowledged after the promotion")
	for _, p := range c.procs {
		require.True(t, p.running(), "%s exited during the failover (%s)", p.name, p.exitState())
	}
	// Answers to commits made just before the kill may still arrive in the
	// next moments; from half a second on, nothing can be acknowledged until
	// a primary exists again.
	lastBefore, firstAfter := lg.ackWindow(killed.Add(500 * time.Millisecond))
	require.False(t, firstAfter.Before(promoteStart), "an event was acknowledged at %s, with no primary (killed %s, promoted %s)",
		firstAfter.Format(time.StampMilli), killStart.Format(time.StampMilli), promoteStart.Format(time.StampMilli))
	resumed := max(firstAfter.Sub(promoted), 0) // 0: before pg_ctl promote noticed the promotion itself

	// River's LISTEN connection is re-established by River's notifier, with
	// exponential backoff (0.5 s, 1 s, 2 s, …) while no primary exists; in
	// the meantime work polls every QUEUE_FETCH_POLL_INTERVAL. c.count reaches
	// the promoted server (target_session_attrs=read-write), where a listener
	// backend that started after the kill and has run LISTEN (or, later, the
	// notifier's keep-alive "-- ping") is a reconnect: LISTEN cannot run
	// during recovery. The moment pg_ctl promote returns is no lower bound:
	// pg_ctl polls every 100 ms, so the server accepts connections up to
	// ~100 ms before it returns, and a reconnect may land in that window (the
	// likely cause of one CI run's minute-long wait for a listener).
	var listenerBack time.Duration
	var listenQuery string
	waitUntil(t, 60*time.Second, "work's LISTEN connection on the promoted server", func() bool {
		var started time.Time
		err := c.query(func(ctx context.Context, db *sql.DB) error {
			return db.QueryRowContext(ctx, `SELECT backend_start, left(query, 60) FROM pg_stat_activity
				WHERE application_name = 'signalops-work-listener' AND backend_start > $1 AND (query LIKE 'LISTEN %' OR query = '-- ping')
				ORDER BY backend_start LIMIT 1`, killed).Scan(&started, &listenQuery)
		})
		if errors.Is(err, sql.ErrNoRows) {
			return false
		}
		require.NoError(t, err)
		listenerBack = started.Sub(promoted)
		return true
	})

	o := c.verify(lg, expect{maxDuplicates: notifyWorkers, noOutage: true})
	lg.mu.Lock()
	n503 := lg.answers["503"]
	lg.mu.Unlock()
	t.Logf("FAILOVER sent=%d acknowledged=%d stored=%d processed=%d delivered=%d duplicates=%d | 503 answers=%d (500: none allowed)"+
		" | acknowledgements stopped at kill%+.3fs and resumed at kill+%.3fs: %s after the promotion"+
		" | work's LISTEN connection back on the promoted server %s after pg_ctl promote returned (query %q)",
		o.sent, o.acked, o.stored, o.processed, o.delivered, o.duplicates, n503,
		lastBefore.Sub(killStart).Seconds(), firstAfter.Sub(killStart).Seconds(),
		resumed.Round(time.Millisecond), listenerBack.Round(time.Millisecond), listenQuery)
	require.Positive(t, n503, "no request met the outage: the kill missed the load")
	for _, p := range c.procs {
		t.Logf("%s peak RSS %s", p.name, peakRSS(p.cmd.Process.Pid))
	}

	status, body := c.api(http.MethodGet, "/readyz", "")
	require.Equal(t, http.StatusOK, status, "serve is ready again: %s", body)
}
