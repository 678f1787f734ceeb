package cmd

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sys := newTestSystem(t)
	sys.registerGauges()
	router := sys.router()
	tenant := authtest.CreateTenant(ctx, t, sys.db, nil)

	require.Equal(t, http.StatusOK, serveReq(router, "GET", "/healthz", "").Code)
	require.Equal(t, http.StatusNotFound, serveReq(router, "GET", "/no/such/path/8f3a", "").Code)
	rec := serveReq(router, "POST", "/api/events", `{"type":"order.created","payload":{}}`, "x-api-key", tenant.APIKey)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	rec = serveReq(router, "POST", "/api/events", `{"payload":{}}`, "x-api-key", tenant.APIKey)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())

	rec = serveReq(router, "GET", "/metrics", "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Header().Get("Content-Type"), "text/plain")
	body := rec.Body.String()
	for _, want := range []string{
		`signalops_http_requests_total{method="GET",route="/healthz",status="200"} 1`,
		`signalops_http_requests_total{method="POST",route="/api/events",status="202"} 1`,
		`signalops_http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`signalops_http_request_duration_seconds_count{method="GET",route="/healthz"} 1`,
		`signalops_events_ingested_total{result="accepted"} 1`,
		`signalops_events_ingested_total{result="rejected"} 1`,
		`signalops_queue_depth{kind="event.process"} 1`,
		`signalops_dlq_size{kind="notify.deliver"} 0`,
		`signalops_deliveries{status="failed"} 0`,
		`go_goroutines `,
		`process_cpu_seconds_total `,
	} {
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, "/no/such/path", "raw paths never become labels")
}

func TestRiverUI(t *testing.T) {
	t.Parallel()

	t.Run("BasicAuthWithAdminToken", func(t *testing.T) {
		t.Parallel()
		router := newTestSystem(t).router()
		basic := func(password string) string {
			req, _ := http.NewRequest(http.MethodGet, "/", nil)
			req.SetBasicAuth("operator", password)
			return req.Header.Get("Authorization")
		}

		for _, tt := range []struct {
			name, authorization string
		}{
			{"NoCredentials", ""},
			{"WrongPassword", basic("not-the-admin-token-at-all")},
			{"BearerInsteadOfBasic", "Bearer " + authtest.Options.AdminToken},
		} {
			t.Run(tt.name, func(t *testing.T) {
				rec := serveReq(router, "GET", RiverUIPath, "", "Authorization", tt.authorization)
				require.Equal(t, http.StatusUnauthorized, rec.Code)
				require.Equal(t, `Basic realm="SignalOps operator"`, rec.Header().Get("WWW-Authenticate"))
				require.NotContains(t, rec.Body.String(), "<html")
			})
		}

		auth := basic(authtest.Options.AdminToken)
		rec := serveReq(router, "GET", RiverUIPath+"/", "", "Authorization", auth)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Contains(t, rec.Header().Get("Content-Type"), "text/html")
		require.Contains(t, rec.Body.String(), "<html")

		rec = serveReq(router, "GET", RiverUIPath+"/api/jobs?state=available", "", "Authorization", auth)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.JSONEq(t, `{"data":[]}`, rec.Body.String())

		rec = serveReq(router, "GET", RiverUIPath+"/api/queues", "", "Authorization", auth)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())

		// Basic-auth credentials ride along on cross-site requests too: a
		// state-changing call from another origin is refused.
		rec = serveReq(router, "POST", RiverUIPath+"/api/jobs/cancel", `{"ids":["1"]}`,
			"Authorization", auth, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		require.Equal(t, http.StatusForbidden, rec.Code)
	})

	// River UI's count caches (full-table counts of river_job every 10–30 s)
	// run only while the UI is used: the states endpoint answers from a cold
	// cache, a request starts them on a fresh handler, and they end with the
	// loop (or riverUIIdle after the last request).
	t.Run("CountCachesOnDemand", func(t *testing.T) {
		t.Parallel()
		sys := newTestSystem(t)
		router := sys.router()
		req, _ := http.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth("operator", authtest.Options.AdminToken)
		auth := req.Header.Get("Authorization")
		initial := sys.riverUI.current.Load()

		rec := serveReq(router, "GET", RiverUIPath+"/api/states", "", "Authorization", auth)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Contains(t, rec.Body.String(), `"available"`)
		require.Same(t, initial, sys.riverUI.current.Load(), "no loop runs: the caches were not started")

		loop := background.Start(t.Context(), "river-ui-caches", sys.riverUI.use.Run)
		defer loop.Stop()
		rec = serveReq(router, "GET", RiverUIPath+"/api/states", "", "Authorization", auth)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Eventually(t, func() bool { return sys.riverUI.current.Load() != initial }, 10*time.Second, 10*time.Millisecond,
			"a request to the UI starts its caches on a fresh handler")
		rec = serveReq(router, "GET", RiverUIPath+"/api/states", "", "Authorization", auth)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	})

	t.Run("NotFoundWithoutAdminToken", func(t *testing.T) {
		t.Parallel()
		pool, url := testdb.NewWithURL(t)
		sys, err := wire(pool, testConfig(t, url), slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		router := sys.router()

		for _, path := range []string{RiverUIPath, RiverUIPath + "/", RiverUIPath + "/api/jobs"} {
			req, _ := http.NewRequest(http.MethodGet, "/", nil)
			req.SetBasicAuth("operator", "")
			rec := serveReq(router, "GET", path, "", "Authorization", req.Header.Get("Authorization"))
			require.Equal(t, http.StatusNotFound, rec.Code, path)
		}
	})
}

// TestPprof checks the profiles on serve's router and on work's
// METRICS_ADDR handler. Its subtests run one after another: the process has
// one CPU profiler.
func TestPprof(t *testing.T) {
	t.Parallel()
	const prefix = httpx.PprofPath
	bearer := "Bearer " + authtest.Options.AdminToken

	pool, url := testdb.NewWithURL(t)
	cfg := testConfig(t, url)
	cfg.AdminToken = authtest.Options.AdminToken
	cfg.HTTP.RequestTimeout = 500 * time.Millisecond // shorter than the 1 s profile below
	sys, err := wire(pool, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	for name, h := range map[string]http.Handler{"Serve": sys.router(), "WorkMetricsListener": workMetricsHandler(sys)} {
		t.Run(name, func(t *testing.T) {
			basic, _ := http.NewRequest(http.MethodGet, "/", nil)
			basic.SetBasicAuth("operator", authtest.Options.AdminToken)
			for _, authorization := range []string{"", "Bearer not-the-admin-token-at-all", basic.Header.Get("Authorization")} {
				for _, path := range []string{"/", "/heap?debug=1", "/profile?seconds=1", "/cmdline"} {
					rec := serveReq(h, "GET", prefix+path, "", "Authorization", authorization)
					require.Equal(t, http.StatusUnauthorized, rec.Code, path)
					require.Equal(t, httpx.ProblemContentType, rec.Header().Get("Content-Type"))
					require.Contains(t, rec.Body.String(), `"code":"invalid_admin_token"`)
				}
			}

			rec := serveReq(h, "GET", prefix+"/", "", "Authorization", bearer)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Contains(t, rec.Body.String(), "goroutine")

			rec = serveReq(h, "GET", prefix+"/heap?debug=1", "", "Authorization", bearer)
			require.Equal(t, http.StatusOK, rec.Code)
			require.Contains(t, rec.Body.String(), "heap profile:")

			start := time.Now()
			rec = serveReq(h, "GET", prefix+"/profile?seconds=1", "", "Authorization", bearer)
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			require.NotEmpty(t, rec.Body.Bytes())
			require.GreaterOrEqual(t, time.Since(start), time.Second)

			rec = serveReq(h, "GET", prefix+"/profile?seconds=3600", "", "Authorization", bearer)
			require.Equal(t, http.StatusBadRequest, rec.Code)
			require.Contains(t, rec.Body.String(), `"code":"invalid_seconds"`)
		})
	}

	t.Run("MetricsStayOpenOnWorkListener", func(t *testing.T) {
		rec := serveReq(workMetricsHandler(sys), "GET", "/metrics", "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.Contains(t, rec.Body.String(), "go_goroutines ")
	})

	t.Run("NotFoundWithoutAdminToken", func(t *testing.T) {
		pool, url := testdb.NewWithURL(t)
		sys, err := wire(pool, testConfig(t, url), slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		for _, h := range []http.Handler{sys.router(), workMetricsHandler(sys)} {
			for _, path := range []string{"/", "/heap?debug=1", "/profile?seconds=1", "/cmdline"} {
				rec := serveReq(h, "GET", prefix+path, "", "Authorization", bearer)
				require.Equal(t, http.StatusNotFound, rec.Code, path)
			}
		}
	})
}

func TestDeliveryMetrics(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)

	b.ingest(t, `{"type":"order.created","payload":{"orderId":"M-1"}}`)
	require.Eventually(t, func() bool { n, _ := b.rx.delivered(); return n == 1 }, 10*time.Second, 20*time.Millisecond)

	require.Eventually(t, func() bool {
		body := serveReq(b.router, "GET", "/metrics", "").Body.String()
		return strings.Contains(body, `signalops_deliveries_total{kind="webhook",status="succeeded"} 1`) &&
			strings.Contains(body, "signalops_event_to_delivery_seconds_count 1")
	}, 5*time.Second, 20*time.Millisecond)
}

// TestWorkProbes: work answers the orchestrator's probes on METRICS_ADDR
// with serve's checks: /readyz is 503 with Retry-After until the schema is
// current.
func TestWorkProbes(t *testing.T) {
	t.Parallel()

	t.Run("Ready", func(t *testing.T) {
		t.Parallel()
		h := workMetricsHandler(newTestSystem(t))
		rec := serveReq(h, "GET", "/healthz", "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.JSONEq(t, `{"status":"ok"}`, rec.Body.String())
		rec = serveReq(h, "GET", "/readyz", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.JSONEq(t, `{"status":"ready"}`, rec.Body.String())
	})

	t.Run("NotReadyBeforeMigrations", func(t *testing.T) {
		t.Parallel()
		url := testdb.Empty(t)
		pool, err := pg.Open(t.Context(), url, pg.PoolConfig{MaxOpenConns: 2})
		require.NoError(t, err)
		t.Cleanup(func() { _ = pool.Close() })
		sys, err := wire(pool, testConfig(t, url), slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		h := workMetricsHandler(sys)
		require.Equal(t, http.StatusOK, serveReq(h, "GET", "/healthz", "").Code, "liveness does not depend on the database")
		rec := serveReq(h, "GET", "/readyz", "")
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
		require.NotEmpty(t, rec.Header().Get("Retry-After"))
		require.Contains(t, rec.Body.String(), "migrate up")
	})
}
