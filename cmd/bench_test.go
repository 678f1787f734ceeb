package cmd

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/cmd/bench"
	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/modules/auth/authtest"
)

// benchReport is what the tests read of bench's --json report (each mode
// writes some of these).
type benchReport struct {
	Mode              string           `json:"mode"`
	Events            int64            `json:"events"`
	Errors            map[string]int64 `json:"errors"`
	P99MS             float64          `json:"p99_ms"`
	Processed         int64            `json:"processed"`
	ProcessedPerS     float64          `json:"processed_per_s"`
	FinalBacklog      int64            `json:"final_backlog"`
	Delivered         int64            `json:"delivered"`
	Missing           int64            `json:"missing"`
	Duplicates        int64            `json:"duplicates"`
	InvalidSignatures int64            `json:"invalid_signatures"`
	FloodEvents       int64            `json:"flood_events"`
	FloodFire         bool             `json:"flood_fire"`
	BacklogSamples    [][2]float64     `json:"backlog_samples"`
}

// runBench runs the bench command with args (and --json) against sys
// served over HTTP, and returns its report.
func runBench(t *testing.T, sys *system, args ...string) benchReport {
	t.Helper()
	srv := httptest.NewServer(sys.router())
	t.Cleanup(srv.Close)
	var out, errOut bytes.Buffer
	c := bench.NewCommand()
	c.SetOut(&out)
	c.SetErr(&errOut)
	c.SetArgs(append(args, "--url", srv.URL, "--json"))
	require.NoError(t, c.ExecuteContext(t.Context()), errOut.String())
	var rep benchReport
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	return rep
}

// TestBenchDrain runs the bench drain command against a real system (router
// over HTTP, River workers with their group commits): every event is
// processed once, every webhook arrives signed, and the rules and channel
// are cleaned up.
func TestBenchDrain(t *testing.T) {
	t.Parallel()
	tb := setupTenant(t, nil)
	pool := tb.sys.db
	rep := runBench(t, tb.sys, "drain", "--key", tb.tenant.APIKey, "--concurrency", "2", "--timeout", "30s",
		"--token", tb.token, "--events", "1200", "--rules", "3", "--deliver",
		"--listen", "127.0.0.1:0", "--wait", "1m", "--poll", "50ms")

	require.EqualValues(t, 1200, rep.Processed)
	require.EqualValues(t, 1200, rep.Delivered)
	require.Zero(t, rep.InvalidSignatures)
	require.Zero(t, rep.FinalBacklog)
	require.Greater(t, rep.ProcessedPerS, 0.0)

	var stored, deliveries int
	require.NoError(t, pool.Get(&stored, `SELECT count(*) FROM events WHERE type = 'bench.drain' AND status = 'processed'`))
	require.NoError(t, pool.Get(&deliveries, `SELECT count(*) FROM deliveries WHERE status = 'succeeded'`))
	require.Equal(t, 1200, stored)
	require.Equal(t, 1200, deliveries, "one delivery per event: the firing rule, and only it")
	requireCleanedUp(t, pool)
}

// TestBenchE2E runs bench e2e against a real system: after its probe, every
// event it sends arrives once as a signed webhook, and the rule and channel
// it made are deleted.
func TestBenchE2E(t *testing.T) {
	t.Parallel()
	tb := setupTenant(t, nil)
	rep := runBench(t, tb.sys, "e2e", "--key", tb.tenant.APIKey, "--token", tb.token,
		"--rate", "20", "--duration", "1s", "--wait", "1m")

	require.Equal(t, "e2e", rep.Mode)
	require.EqualValues(t, 20, rep.Events, "20 events in its second")
	require.Empty(t, rep.Errors)
	require.Equal(t, rep.Events, rep.Delivered)
	require.Zero(t, rep.Missing)
	require.Zero(t, rep.Duplicates)
	require.Zero(t, rep.InvalidSignatures)
	require.Greater(t, rep.P99MS, 0.0)
	requireCleanedUp(t, tb.sys.db)
}

// requireCleanedUp checks that a bench run deleted the rules and channels
// it made.
func requireCleanedUp(t *testing.T, db *sqlx.DB) {
	t.Helper()
	var rules, channels int
	require.NoError(t, db.Get(&rules, `SELECT count(*) FROM rules WHERE deleted_at IS NULL`))
	require.NoError(t, db.Get(&channels, `SELECT count(*) FROM channels WHERE deleted_at IS NULL`))
	require.Zero(t, rules, "the rules were deleted")
	require.Zero(t, channels, "the channels were deleted")
}

// TestBenchNoisy runs bench noisy against a real system: it creates two
// tenants through the operator API, tenant A floods with batches while
// tenant B's events each arrive as one signed webhook, the backlog is read
// from serve's /metrics, and the rules and channels are cleaned up.
func TestBenchNoisy(t *testing.T) {
	t.Parallel()
	sys, url := wireTest(t, nil, func(cfg *config.Config) { cfg.AdminToken = authtest.Options.AdminToken })
	pool := sys.db
	sys.registerGauges() // as serve does: the queue depth on /metrics
	startWorker(t, sys, url)
	rep := runBench(t, sys, "noisy", "--admin-token", authtest.Options.AdminToken,
		"--rate", "20", "--duration", "1s", "--backlog", "0", "--flood-fire", "--flood-batch", "50",
		"--flood-concurrency", "1", "--sample", "100ms", "--wait", "1m")

	require.Equal(t, "noisy", rep.Mode)
	require.EqualValues(t, 20, rep.Events, "B sent 20 events in its second")
	require.Empty(t, rep.Errors)
	require.Equal(t, rep.Events, rep.Delivered, "each of B's events arrived as a signed webhook")
	require.Zero(t, rep.Missing)
	require.Zero(t, rep.InvalidSignatures)
	require.Greater(t, rep.P99MS, 0.0)
	require.True(t, rep.FloodFire)
	require.Positive(t, rep.FloodEvents)
	require.NotEmpty(t, rep.BacklogSamples, "the backlog was read while B was measured")

	var tenants, flooded, measured int
	require.NoError(t, pool.Get(&tenants, `SELECT count(*) FROM tenants WHERE slug LIKE 'bench-%'`))
	require.NoError(t, pool.Get(&flooded, `SELECT count(*) FROM events WHERE type = 'bench.flood'`))
	require.NoError(t, pool.Get(&measured, `SELECT count(*) FROM events WHERE type = 'bench.noisy'`))
	require.Equal(t, 2, tenants, "tenants A and B were created")
	require.EqualValues(t, rep.FloodEvents, flooded, "every event A's flood counted is stored")
	require.Equal(t, 21, measured, "B's events and its probe")
	requireCleanedUp(t, pool)
}

// TestBenchDrainNoRules drains events that match no rule: progress comes
// from the queue depth on serve's /metrics, so the run ends only once the
// queue is empty, never on a gauge sampled before the load.
func TestBenchDrainNoRules(t *testing.T) {
	t.Parallel()
	sys, url := wireTest(t, nil, nil)
	sys.registerGauges()
	tb := newTenantBundle(t, sys, url)
	pool := sys.db
	rep := runBench(t, sys, "drain", "--key", tb.tenant.APIKey, "--events", "1500", "--rules", "0",
		"--token", tb.token, "--wait", "1m", "--poll", "100ms")

	require.EqualValues(t, 1500, rep.Processed)
	require.Zero(t, rep.FinalBacklog)
	var left, rules int
	require.NoError(t, pool.Get(&left, `SELECT count(*) FROM river_job WHERE kind = 'event.process' AND state IN ('available', 'retryable', 'scheduled')`))
	require.NoError(t, pool.Get(&rules, `SELECT count(*) FROM rules`))
	require.Zero(t, left, "the run ended once no event.process job was queued")
	require.Zero(t, rules, "no rule was made")
}
