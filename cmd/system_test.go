package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/docs"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/queue"
	"github.com/signalops/signalops/platform/testdb"
)

func testConfig(t testing.TB, url string) config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) string {
		return map[string]string{
			"DATABASE_URL": url, "QUEUE_FETCH_POLL_INTERVAL": "200ms",
			"SECRET_KEY":            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
			"WEBHOOK_ALLOW_PRIVATE": "true", "NOTIFY_RETRY_SCHEDULE": "100ms,100ms",
		}[k]
	})
	require.NoError(t, err)
	return cfg
}

func TestWiring(t *testing.T) {
	t.Parallel()
	pool, url := testdb.NewWithURL(t)
	cfg := testConfig(t, url)
	cfg.AdminToken = authtest.Options.AdminToken // the whole surface: River UI and pprof too
	sys, err := wire(pool, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)

	t.Run("EveryPublishedJobHasAWorkerAndAQueue", func(t *testing.T) {
		client, err := river.NewClient(riverdatabasesql.New(pool.DB), &river.Config{Workers: workersOf(sys)})
		require.NoError(t, err)
		queues := queueConfig(sys.cfg).Queues
		for _, args := range publishedJobs() {
			tx, err := pool.BeginTx(t.Context(), nil)
			require.NoError(t, err)
			_, err = client.InsertTx(t.Context(), tx, args, nil)
			var unknown *river.UnknownJobKindError
			require.False(t, errors.As(err, &unknown), "no worker registered for %s", args.Kind())
			require.NoError(t, err)
			require.NoError(t, tx.Rollback())
			if o, ok := args.(river.JobArgsWithInsertOpts); ok {
				require.Contains(t, queues, o.InsertOpts().Queue, "%s goes to a queue no process works", args.Kind())
			}
		}
	})

	t.Run("OpenAPIDocumentMatchesRouter", func(t *testing.T) {
		var doc struct {
			OpenAPI string                    `json:"openapi"`
			Paths   map[string]map[string]any `json:"paths"`
		}
		require.NoError(t, json.Unmarshal(docs.OpenAPI, &doc))
		require.True(t, strings.HasPrefix(doc.OpenAPI, "3."))

		param := regexp.MustCompile(`:(\w+)`)
		var routed, documented []string
		for _, r := range sys.router().Routes() {
			if toolRoute(r) {
				continue // Swagger UI's, River UI's and pprof's own pages, assets and APIs
			}
			routed = append(routed, r.Method+" "+param.ReplaceAllString(r.Path, "{$1}"))
		}
		for path, ops := range doc.Paths {
			for method := range ops {
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
		sort.Strings(routed)
		sort.Strings(documented)
		require.Equal(t, slices.Compact(routed), documented, "router and docs/openapi.json disagree")
	})
}

// TestEndToEnd is the whole foundation flow: a tenant's event is accepted by
// the router, worked by a real River client and reads back processed.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pool, url := testdb.NewWithURL(t)
	sys, err := wire(pool, testConfig(t, url), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	tenant := authtest.CreateTenant(ctx, t, pool, nil)
	router := sys.router()

	startWorker(t, sys, url)

	id := acceptedID(t, serveReq(router, "POST", "/api/events", `{"type":"order.created","payload":{"orderId":"A-1"}}`, "x-api-key", tenant.APIKey))

	var got map[string]any
	require.Eventually(t, func() bool {
		rec := serveReq(router, "GET", "/api/events/"+id, "", "x-api-key", tenant.APIKey)
		got = nil
		_ = json.Unmarshal(rec.Body.Bytes(), &got)
		return got["status"] == events.StatusProcessed
	}, 10*time.Second, 20*time.Millisecond, "event never processed: %v", got)
	require.NotNil(t, got["processedAt"])

	// River completes the job after Work returned (in batches of its own).
	require.Eventually(t, func() bool {
		var jobState string
		require.NoError(t, pool.Get(&jobState, `SELECT state FROM river_job WHERE kind = 'event.process'`))
		return jobState == "completed"
	}, 10*time.Second, 20*time.Millisecond, "the job was never completed")
}

// workersOf is the system's workers without their group committers.
func workersOf(sys *system) *river.Workers {
	w, _ := sys.workers()
	return w
}

// startWorker runs a working River client (LISTEN included) for the test.
func startWorker(t testing.TB, sys *system, url string) {
	t.Helper()
	ctx := t.Context()
	listener, err := pgxpool.New(ctx, url)
	require.NoError(t, err)
	t.Cleanup(listener.Close)
	workers, runGroups := sys.workers()
	worker, err := queue.NewWorking(sys.db.DB, listener, workers, queueConfig(sys.cfg), slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(background.Start(ctx, "worker-groups", runGroups).Stop) // runs after the worker stopped
	require.NoError(t, worker.Start(context.WithoutCancel(ctx)))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, worker.Stop(stopCtx))
	})
}
