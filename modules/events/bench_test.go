package events_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/benchtest"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/queue"
	"github.com/signalops/signalops/platform/testdb"
)

// BenchmarkIngest measures stored events per second through the service
// (no HTTP, no billing): single events group-committed by 4 committers
// from 32 goroutines per CPU, with and without idempotency keys, and batches of 100.
// cpu-ns/event is this process's CPU time per event (parsing included,
// PostgreSQL's not), steadier than the rate on a shared machine.
func BenchmarkIngest(b *testing.B) {
	for _, bc := range []struct {
		name  string
		keyed bool
		batch int
	}{{"Single", false, 0}, {"SingleKeyed", true, 0}, {"Batch100", false, 100}, {"Batch100Keyed", true, 100}} {
		b.Run(bc.name, func(b *testing.B) {
			pool := testdb.New(b)
			pool.SetMaxOpenConns(32)
			logger := slog.New(slog.DiscardHandler)
			jobs, err := queue.NewInsertOnly(pool.DB, queue.Config{FetchCooldown: 10 * time.Millisecond}, logger)
			require.NoError(b, err)
			svc := events.New(pool, jobs, nil, logger).Service
			ctx := b.Context()
			committers := background.Start(ctx, "ingest-committers", func(ctx context.Context) {
				svc.RunCommitters(ctx, pg.GroupOptions{Committers: 4, MaxBatch: 256})
			})
			defer committers.Stop()
			tenant := authtest.CreateTenant(ctx, b, pool, nil)

			var seq atomic.Int64
			body := func() ([]byte, string) {
				n := seq.Add(1)
				key := ""
				if bc.keyed {
					key = fmt.Sprint("k-", n)
				}
				return fmt.Appendf(nil, `{"type":"order.created","payload":{"orderId":"A-%d","amount":1234,"country":"DE"}}`, n), key
			}
			if bc.batch == 0 {
				b.SetParallelism(32) // 32 × GOMAXPROCS requests in flight
			}
			b.ResetTimer()
			cpu := benchtest.CPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if bc.batch == 0 {
						raw, key := body()
						in, err := events.ParseInput(raw, key)
						if err != nil {
							b.Error(err)
							return
						}
						if _, err := svc.Ingest(ctx, tenant.ID, in); err != nil {
							b.Error(err)
							return
						}
						continue
					}
					items := []byte(`{"events":[`)
					for i := range bc.batch {
						raw, key := body()
						if i > 0 {
							items = append(items, ',')
						}
						if key != "" {
							raw = fmt.Appendf(raw[:len(raw)-1], `,"idempotencyKey":%q}`, key)
						}
						items = append(items, raw...)
					}
					parsed, err := events.ParseBatch(append(items, "]}"...))
					if err != nil {
						b.Error(err)
						return
					}
					if _, _, err := svc.IngestBatch(ctx, tenant.ID, parsed); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			n := b.N * max(1, bc.batch)
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(benchtest.CPU()-cpu)/float64(n), "cpu-ns/event")
		})
	}
}
