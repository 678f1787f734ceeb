package faulttest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/modules/notify"
)

// The scenarios run one after another (the machine's CPUs are shared by the
// load, the processes, the receiver and PostgreSQL). Each one ends in
// cluster.verify, which checks the invariants and logs a SUMMARY line.

const processedQ = `SELECT count(*) FROM events WHERE status = 'processed'`

// notifyWorkers is NOTIFY_WORKERS' default: the most notify.deliver jobs one
// work process runs at once, so the most sends whose outcome one fault can
// leave unrecorded.
var notifyWorkers = func() int {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return cfg.Notify.Workers
}()

// TestKillServeUnderLoad: serve is killed with SIGKILL under load and
// restarted on the same port. Every 202 was answered after its commit, so
// nothing acknowledged is lost; requests cut off by the kill are retried
// with their idempotency key and get the original id when they had committed.
func TestKillServeUnderLoad(t *testing.T) {
	c := newCluster(t, 1)
	lg := c.startLoad(1)
	defer lg.abort()
	time.Sleep(c.k.load)

	serve := c.serves[0]
	serve.kill()
	atKill := lg.ackedCount()
	down := time.Now()
	serve.start()
	t.Logf("kill -9 %s after %d acknowledgements; back on %s in %s", serve.name, atKill, serve.httpAddr,
		time.Since(down).Round(time.Millisecond))
	time.Sleep(c.k.load)
	lg.stop()
	require.Greater(t, lg.ackedCount(), atKill, "nothing was acknowledged after the restart")
	c.verify(lg, expect{maxDuplicates: 0})
}

// TestKillWorkMidBatch: a backlog is queued with no worker, then work starts
// and is killed with SIGKILL half a second after its first delivery. The
// jobs it held stay "running" until River's rescuer (QUEUE_RESCUE_AFTER, run
// by the new leader) makes them retryable; the restarted worker finishes them.
// event.process commits its effects with the job's completion, so a killed
// one left nothing behind; notify.deliver may have sent without recording:
// those, at most the notify jobs it held, are the duplicates allowed.
func TestKillWorkMidBatch(t *testing.T) {
	c := newCluster(t, 1)
	lg := c.newLoad(c.bases()...)
	defer lg.abort()
	lg.start(c.k.workers, 0, int64(c.k.backlog))
	lg.wait()
	require.Equal(t, c.k.backlog, lg.ackedCount(), "the backlog was not fully acknowledged")

	c.startWorks(1)
	work := c.works[0]
	// Kill it mid-batch with both kinds of job in its hands: half a second
	// after the first delivery reached the receiver.
	waitUntil(t, 20*time.Second, "the first delivery", func() bool { return c.rx.distinctEvents() > 0 })
	time.Sleep(500 * time.Millisecond)
	work.kill()
	held := c.runningJobs()
	processed, delivered := c.count(processedQ), c.rx.distinctEvents()
	t.Logf("kill -9 %s with %d/%d events processed and %d delivered; jobs it held (state running): %v",
		work.name, processed, c.k.backlog, delivered, held)
	if processed == c.k.backlog && delivered == c.k.backlog {
		t.Logf("note: the backlog was already done when the worker was killed; this run did not exercise the rescue")
	}
	work.start()
	// River's rescuer runs on the leader, at once when it is elected and then
	// every 30 s (fixed by River); a new leader takes over once the dead
	// one's lease lapses (~15-20 s). A job is rescued once older than
	// QUEUE_RESCUE_AFTER (14 s here) and its kind's own timeout (5 s for
	// event.process, NOTIFY_TIMEOUT+10s = 13 s for notify.deliver): usually
	// on the first run, else on the next, ~50 s after the kill.
	c.k.settle = max(c.k.settle, 90*time.Second)
	c.verify(lg, expect{maxDuplicates: held["notify.deliver"]})
}

// TestKillWorkWhileDigesting: besides the rule that sends one delivery per
// event, a second rule collects every event into digests (2 s windows, at
// most 25 events, so both the window and max close them). Under load, work
// is killed with SIGKILL while digests are collecting, stays down for a
// second (windows end meanwhile) and is restarted. Nothing collected is
// lost or doubled: every event is in exactly one digest, every digest went
// out once (duplicate sends only within the at-least-once bound).
func TestKillWorkWhileDigesting(t *testing.T) {
	c := newCluster(t, 1, "DIGEST_MIN_WINDOW=1s")
	c.addDigestRule("2s", 25)
	lg := c.startLoad(1)
	defer lg.abort()
	time.Sleep(c.k.load)

	waitUntil(t, 20*time.Second, "a digest collecting", func() bool {
		return c.count(`SELECT count(*) FROM rule_digests WHERE state = 'open' AND count > 0`) > 0
	})
	work := c.works[0]
	work.kill()
	held := c.runningJobs()
	openAtKill := c.count(`SELECT count(*) FROM rule_digests WHERE state <> 'flushed'`)
	t.Logf("kill -9 %s with %d digests open or full; jobs it held (state running): %v", work.name, openAtKill, held)
	time.Sleep(time.Second) // the load goes on; open windows end while work is down
	work.start()
	time.Sleep(c.k.load)
	lg.stop()
	c.k.settle = max(c.k.settle, 90*time.Second) // River's rescue cadence, as in TestKillWorkMidBatch
	c.verify(lg, expect{maxDuplicates: held["notify.deliver"]})
	c.verifyDigests()
}

// TestKillWorkWhileCircuitOpen: the receiver goes down (503 to every
// request) under load, its channel's circuit opens, and work is killed with
// SIGKILL while it is open. The circuit's state is in the database: the
// restarted worker keeps it open and goes on probing, the deliveries keep
// waiting without spending attempts, and when the receiver recovers the
// next probe closes the circuit and everything waiting is delivered:
// nothing lost, duplicates only within the at-least-once bound.
func TestKillWorkWhileCircuitOpen(t *testing.T) {
	const failures, probe, probeMax = 5, time.Second, 2 * time.Second
	c := newCluster(t, 1, fmt.Sprintf("CHANNEL_BREAKER_FAILURES=%d", failures),
		"CHANNEL_BREAKER_PROBE="+probe.String(), "CHANNEL_BREAKER_PROBE_MAX="+probeMax.String())
	c.rx.failing.Store(true)
	lg := c.startLoad(1)
	defer lg.abort()

	openQ := `SELECT count(*) FROM channel_flow WHERE state <> 'closed'`
	waitUntil(t, 30*time.Second, "the channel's circuit to open", func() bool { return c.count(openQ) > 0 })
	opened := time.Now()
	atOpen := c.rx.failedPosts.Load()
	time.Sleep(c.k.load)
	work := c.works[0]
	work.kill()
	held := c.runningJobs()
	t.Logf("kill -9 %s with the circuit open; the receiver had %d requests (%d by the time it opened); jobs it held: %v",
		work.name, c.rx.failedPosts.Load(), atOpen, held)
	time.Sleep(time.Second)
	work.start()
	time.Sleep(2 * probeMax)
	require.Positive(t, c.count(openQ), "the restarted worker found the circuit open")
	waiting := c.count(`SELECT count(*) FROM deliveries WHERE status = 'pending'`)
	spent := c.count(`SELECT coalesce(max(attempt), 0) FROM river_job WHERE kind = 'notify.deliver' AND state <> 'running'`)
	down := time.Since(opened)
	whileDown := c.rx.failedPosts.Load()
	// Before it opened: the failures, plus the sends in flight then (at most
	// NOTIFY_CHANNEL_CONCURRENCY, 20, per process). While open: one probe per
	// interval, plus the probe of the killed worker sent again by its rescue.
	bound := int64(failures + 20 + notify.FlowOptions{BreakerProbe: probe, BreakerProbeMax: probeMax}.MostProbes(down) + 2)
	t.Logf("receiver down %s with the circuit open: %d requests in all (at most %d allowed); %d deliveries waiting, max attempt of a waiting job %d",
		down.Round(time.Millisecond), whileDown, bound, waiting, spent)
	require.LessOrEqual(t, whileDown, bound)
	require.Positive(t, waiting)

	recovered := time.Now()
	c.rx.failing.Store(false)
	waitUntil(t, 60*time.Second, "the circuit to close", func() bool { return c.count(openQ) == 0 })
	t.Logf("closed %s after the receiver recovered", time.Since(recovered).Round(time.Millisecond))
	lg.stop()
	c.k.settle = max(c.k.settle, 90*time.Second) // River's rescue cadence, as in TestKillWorkMidBatch
	c.verify(lg, expect{maxDuplicates: held["notify.deliver"]})
	var opens, closes int
	require.NoError(t, c.query(func(ctx context.Context, db *sql.DB) error {
		return db.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE type = 'channel.circuit_opened'),
			count(*) FILTER (WHERE type = 'channel.circuit_closed') FROM events`).Scan(&opens, &closes)
	}))
	t.Logf("circuit events: %d opened, %d closed", opens, closes)
	require.Equal(t, opens, closes, "every opening was followed by a closing")
	require.Positive(t, opens)
}

// TestDatabaseConnectionsTerminated: under load, every connection to the
// database is terminated, twice, a second apart. The API answers 503 with
// Retry-After (never 500) or succeeds; the pools reconnect and the same
// processes carry on.
func TestDatabaseConnectionsTerminated(t *testing.T) {
	c := newCluster(t, 1)
	lg := c.startLoad(1)
	defer lg.abort()
	time.Sleep(c.k.load)

	first := c.terminateBackends()
	time.Sleep(time.Second)
	second := c.terminateBackends()
	mark := lg.ackedCount()
	t.Logf("pg_terminate_backend ended %d, then %d connections; %d acknowledged so far", first, second, mark)
	time.Sleep(c.k.load)
	require.Greater(t, lg.ackedCount(), mark, "nothing was acknowledged after the connections were terminated")
	lg.stop()
	for _, p := range c.procs {
		require.True(t, p.running(), "%s exited after its connections were terminated (%s)", p.name, p.exitState())
	}
	c.verify(lg, expect{maxDuplicates: 2 * notifyWorkers, noOutage: true})
}

// TestTwoServeTwoWork: two serve and two work processes share the database;
// the load is split across both serve ports. Jobs are locked by one worker
// at a time: nothing is processed or delivered twice.
func TestTwoServeTwoWork(t *testing.T) {
	c := newCluster(t, 2)
	lg := c.startLoad(2)
	defer lg.abort()
	time.Sleep(2 * c.k.load)
	lg.stop()
	lg.mu.Lock()
	for _, base := range c.bases() {
		require.Positive(t, lg.ackedBy[base], "%s acknowledged nothing", base)
	}
	lg.mu.Unlock()
	c.verify(lg, expect{maxDuplicates: 0, noOutage: true})
	workers := c.count(`SELECT count(DISTINCT attempted_by[array_length(attempted_by, 1)]) FROM river_job WHERE state = 'completed'`)
	t.Logf("completed jobs were worked by %d distinct River clients", workers)
	require.GreaterOrEqual(t, workers, 2, "both work processes should have worked jobs")
}

// TestSIGTERMUnderLoad: serve and work get SIGTERM under load. serve stops
// accepting, finishes the requests in flight (their events committed by the
// group committers, which run until the server has drained) and exits 0;
// work stops fetching, lets running jobs finish and exits 0. Both within 30 s
// (SHUTDOWN_TIMEOUT 20s, QUEUE_SHUTDOWN_TIMEOUT 25s by default). Then both
// are restarted and the load carries on.
func TestSIGTERMUnderLoad(t *testing.T) {
	c := newCluster(t, 1)
	lg := c.startLoad(1)
	defer lg.abort()
	time.Sleep(c.k.load)

	const limit = 30 * time.Second
	procs := []*proc{c.serves[0], c.works[0]}
	codes := make([]int, len(procs))
	took := make([]time.Duration, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { codes[i], took[i] = p.terminate(limit) })
	}
	wg.Wait()
	atStop := lg.ackedCount()
	for i, p := range procs {
		t.Logf("SIGTERM %s: exit code %d after %s", p.name, codes[i], took[i].Round(time.Millisecond))
		require.Equal(t, 0, codes[i], "%s should exit 0 within %s of SIGTERM", p.name, limit)
	}
	lg.mu.Lock()
	cut := lg.answers["broken"] + lg.answers["timeout"]
	lg.mu.Unlock()
	require.Zero(t, cut, "requests in flight at SIGTERM should be answered, not cut off")
	for _, p := range procs {
		p.start()
	}
	time.Sleep(c.k.load)
	lg.stop()
	require.Greater(t, lg.ackedCount(), atStop, "nothing was acknowledged after the restart")
	c.verify(lg, expect{maxDuplicates: 0})
}

// TestOverloadRequestTimeout: with REQUEST_TIMEOUT=1s, inserts into events
// are blocked for 3 s (a table lock), as an overloaded database would. Requests
// waiting past their deadline answer 503 with Retry-After, never 500; a group
// commit that completes after its requests gave up still stores their events,
// and the retries (same idempotency keys) get those ids back as replays.
func TestOverloadRequestTimeout(t *testing.T) {
	c := newCluster(t, 1, "REQUEST_TIMEOUT=1s")
	lg := c.startLoad(1)
	defer lg.abort()
	time.Sleep(c.k.load)

	const hold = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := c.db.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE`) // blocks writers, not readers
	require.NoError(t, err)
	time.Sleep(hold)
	require.NoError(t, tx.Commit())
	mark := lg.ackedCount()
	t.Logf("inserts blocked for %s; %d acknowledged so far", hold, mark)
	time.Sleep(c.k.load)
	require.Greater(t, lg.ackedCount(), mark, "nothing was acknowledged after the lock was released")
	lg.stop()
	lg.mu.Lock()
	timedOut := lg.answers["503"]
	lg.mu.Unlock()
	require.Positive(t, timedOut, "no request hit REQUEST_TIMEOUT while inserts were blocked")
	c.verify(lg, expect{maxDuplicates: 0, noOutage: true})
}

// TestPostgresRestart (long form only): the PostgreSQL cluster itself is
// restarted under load; serve answers 503 while it is down and both
// processes reconnect without a restart of their own.
func TestPostgresRestart(t *testing.T) {
	if mode != "long" {
		t.Skip("long form only: SIGNALOPS_FAULT=long restarts the PostgreSQL cluster")
	}
	if os.Geteuid() != 0 {
		t.Skip("restarting PostgreSQL with pg_ctlcluster needs root")
	}
	ctl, err := exec.LookPath("pg_ctlcluster")
	if err != nil {
		t.Skip("pg_ctlcluster is not on PATH (Debian's postgresql-common)")
	}
	version, name := pgCluster()

	c := newCluster(t, 1)
	lg := c.startLoad(1)
	defer lg.abort()
	time.Sleep(c.k.load)

	start := time.Now()
	out, err := exec.Command(ctl, "--skip-systemctl-redirect", version, name, "restart").CombinedOutput()
	require.NoError(t, err, "pg_ctlcluster %s %s restart: %s", version, name, out)
	mark := lg.ackedCount()
	t.Logf("PostgreSQL %s/%s restarted in %s; %d acknowledged so far", version, name, time.Since(start).Round(time.Millisecond), mark)
	time.Sleep(c.k.load)
	require.Greater(t, lg.ackedCount(), mark, "nothing was acknowledged after PostgreSQL restarted")
	lg.stop()
	for _, p := range c.procs {
		require.True(t, p.running(), "%s exited when PostgreSQL restarted (%s)", p.name, p.exitState())
	}
	c.verify(lg, expect{maxDuplicates: notifyWorkers, noOutage: true})
}

// pgCluster names the cluster TestPostgresRestart restarts: the one serving
// TEST_DATABASE_URL. SIGNALOPS_FAULT_PG_CLUSTER="<version>/<name>" says
// which; by default the newest version under /etc/postgresql, "main".
func pgCluster() (version, name string) {
	if v, n, ok := strings.Cut(os.Getenv("SIGNALOPS_FAULT_PG_CLUSTER"), "/"); ok && v != "" && n != "" {
		return v, n
	}
	return newestVersion(), "main"
}

// newestVersion is the newest version under /etc/postgresql (15 when none).
func newestVersion() string {
	dirs, _ := filepath.Glob("/etc/postgresql/*")
	var versions []string
	for _, d := range dirs {
		versions = append(versions, filepath.Base(d))
	}
	sort.Slice(versions, func(i, j int) bool {
		if len(versions[i]) != len(versions[j]) {
			return len(versions[i]) < len(versions[j])
		}
		return versions[i] < versions[j]
	})
	if len(versions) == 0 {
		return "15"
	}
	return versions[len(versions)-1]
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
