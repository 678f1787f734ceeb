package cmd

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
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
