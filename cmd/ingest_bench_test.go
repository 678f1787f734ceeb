package cmd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/benchtest"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

// BenchmarkServeIngest is serve's work per ingested event without the
// network: POST /api/events (32 requests in flight per CPU, group commit
// as serve runs it) and POST /api/events/batch with 100 events, through
// the production router, middleware, handlers and PostgreSQL.
// cpu-ns/event is this process's CPU time per event (PostgreSQL's is not
// in it; net/http's connection handling is not either): steadier than the
// rate on a shared machine. db/bench/suite.sh measures the whole of serve.
//
//	go test -run '^$' -bench ServeIngest -benchmem ./cmd/
func BenchmarkServeIngest(b *testing.B) {
	pool, url := testdb.NewWithURL(b)
	cfg := testConfig(b, url)
	cfg.RateLimit.IngestRate, cfg.RateLimit.IngestBurst = 1e9, 1e9 // the rate limiter is measured, never in the way
	sys, err := wire(pool, cfg, slog.New(slog.DiscardHandler))
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(b.Context())
	defer cancel()
	committers := background.Start(ctx, "ingest-committers", func(ctx context.Context) {
		sys.events.Service.RunCommitters(ctx, pg.GroupOptions{Committers: cfg.Ingest.Committers, MaxBatch: cfg.Ingest.MaxBatch})
	})
	defer committers.Stop()
	plan := "enterprise"
	tenant := authtest.CreateTenant(ctx, b, pool, &authtest.TenantOpts{Plan: &plan})
	router := sys.router()

	var seq atomic.Int64
	event := func(b []byte) []byte {
		return fmt.Appendf(b, `{"type":"bench.event","payload":{"i":%d,"sentAt":"%s"}}`,
			seq.Add(1), time.Now().UTC().Format(time.RFC3339Nano))
	}
	post := func(tb testing.TB, path string, body []byte, want int) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(auth.HeaderAPIKey, tenant.APIKey)
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, req)
		if rec.Code != want {
			tb.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
	for _, bc := range []struct {
		name  string
		batch int
	}{{"Single", 0}, {"Batch100", 100}} {
		b.Run(bc.name, func(b *testing.B) {
			if bc.batch == 0 {
				b.SetParallelism(16) // 32 requests in flight on 2 CPUs, as the suite's 32 clients
			}
			b.ReportAllocs()
			cpu := benchtest.CPU()
			b.RunParallel(func(pb *testing.PB) {
				var body []byte
				for pb.Next() {
					if bc.batch == 0 {
						post(b, "/api/events", event(body[:0]), http.StatusAccepted)
						continue
					}
					body = append(body[:0], `{"events":[`...)
					for i := range bc.batch {
						if i > 0 {
							body = append(body, ',')
						}
						body = event(body)
					}
					post(b, "/api/events/batch", append(body, "]}"...), http.StatusOK)
				}
			})
			n := b.N * max(1, bc.batch)
			b.ReportMetric(float64(benchtest.CPU()-cpu)/float64(n), "cpu-ns/event")
		})
	}
}
