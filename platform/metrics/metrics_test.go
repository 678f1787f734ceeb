package metrics_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/metrics"
	"github.com/signalops/signalops/platform/testdb"
)

type pingArgs struct{}

func (pingArgs) Kind() string { return "test.ping" }

func scrape(t *testing.T, reg *metrics.Registry) string {
	t.Helper()
	rec := httptest.NewRecorder()
	reg.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

func TestDBGauges(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool := testdb.New(t)
	client, err := river.NewClient(riverdatabasesql.New(pool.DB), &river.Config{}) // insert-only
	require.NoError(t, err)
	for range 3 {
		_, err := client.Insert(ctx, pingArgs{}, &river.InsertOpts{Queue: "pings"})
		require.NoError(t, err)
	}
	_, err = pool.ExecContext(ctx, `
		UPDATE river_job SET state = 'discarded', finalized_at = now()
		WHERE id = (SELECT min(id) FROM river_job)`)
	require.NoError(t, err)

	reg := metrics.New()
	gauges := metrics.NewDBGauges(pool.DB, time.Hour, slog.New(slog.DiscardHandler),
		append(metrics.RiverGauges([]string{"test.ping", "test.other"}, []string{"pings", "idle"}),
			metrics.GaugeQuery{Name: "test_broken", Help: "A query that fails.", Label: "x", Query: `SELECT nope FROM nowhere`})...)
	reg.MustRegister(gauges)

	body := scrape(t, reg)
	for _, want := range []string{
		`signalops_dlq_size{kind="test.ping"} 1`,
		`signalops_dlq_size{kind="test.other"} 0`,
		`signalops_queue_depth{kind="test.ping"} 2`,
		`signalops_queue_oldest_available_seconds{queue="idle"} 0`,
		`signalops_queue_oldest_available_seconds{queue="pings"} `,
	} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, "test_broken", "a failed query leaves its family out")

	t.Run("CachedForMaxAge", func(t *testing.T) {
		_, err := pool.ExecContext(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now()`)
		require.NoError(t, err)
		require.Contains(t, scrape(t, reg), `signalops_dlq_size{kind="test.ping"} 1`, "sampled at most once per maxAge")
	})
}

func TestObserveJobs(t *testing.T) {
	t.Parallel()
	reg := metrics.New()
	events := make(chan *river.Event, 10)
	job := func(state rivertype.JobState) *rivertype.JobRow {
		return &rivertype.JobRow{Kind: "notify.deliver", State: state}
	}
	stats := &river.JobStatistics{RunDuration: 20 * time.Millisecond}
	events <- &river.Event{Kind: river.EventKindJobCompleted, Job: job(rivertype.JobStateCompleted), JobStats: stats}
	events <- &river.Event{Kind: river.EventKindJobFailed, Job: job(rivertype.JobStateRetryable), JobStats: stats}
	events <- &river.Event{Kind: river.EventKindJobFailed, Job: job(rivertype.JobStateDiscarded), JobStats: stats}
	events <- &river.Event{Kind: river.EventKindJobCancelled, Job: job(rivertype.JobStateCancelled), JobStats: stats}
	events <- &river.Event{Kind: river.EventKindJobSnoozed, Job: job(rivertype.JobStateScheduled), JobStats: stats}
	close(events)
	reg.ObserveJobs(events) // returns when the channel closes

	body := scrape(t, reg)
	for _, outcome := range []string{"completed", "failed", "discarded", "cancelled", "snoozed"} {
		require.Contains(t, body, `signalops_jobs_total{kind="notify.deliver",outcome="`+outcome+`"} 1`)
	}
	require.Contains(t, body, `signalops_job_duration_seconds_count{kind="notify.deliver"} 5`)
}
