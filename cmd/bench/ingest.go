package bench

import (
	"context"
	"errors"
	"time"

	"github.com/spf13/cobra"
)

func newBenchIngestCmd() *cobra.Command {
	var o benchOptions
	c := &cobra.Command{
		Use:   "ingest",
		Short: "POST single events to /api/events and measure throughput and latency",
		Long: `POST single events {"type":"bench.event","payload":{"i":N,"sentAt":"<RFC 3339>"}}
to /api/events. With --keys, requests go round-robin across the keys (tenants):
compare one tenant with many at the same total load.

` + benchLoopHelp,
		Example: `  signalops bench ingest --url http://127.0.0.1:3000 --key so_live_… --concurrency 32 --duration 10s
  signalops bench ingest --key so_live_… --rate 300 --duration 10s --json
  signalops bench ingest --keys "$(paste -sd, keys.txt)" --rate 2000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			rep, err := o.keyedLoad(cmd, "ingest", func(ctx context.Context, client *benchClient, key string, seq int64, sentAt time.Time) benchOutcome {
				return client.postEvent(ctx, key, appendBenchEvent(nil, "bench.event", seq, sentAt))
			})
			if err != nil {
				return err
			}
			return outputOf(cmd).printBench(rep, o.json)
		},
	}
	o.register(c, 0, true)
	o.registerKeys(c)
	return c
}

func newBenchBatchCmd() *cobra.Command {
	var o benchOptions
	var n int
	c := &cobra.Command{
		Use:   "batch",
		Short: "POST batches of events to /api/events/batch and measure events/s",
		Long: `POST {"events":[…--n items…]} to /api/events/batch, each item shaped like
bench ingest's event. A request counts as successful on any 2xx; its events
are the items the response lists with status "accepted" (all --n when the
response has no per-item results). Reports requests/s and events/s.

` + benchLoopHelp,
		Example: `  signalops bench batch --key so_live_… --n 100 --concurrency 8 --duration 10s`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if n < 1 || n > 500 {
				return errors.New("--n must be 1 to 500 (the API's batch limit)")
			}
			rep, err := o.keyedLoad(cmd, "batch", func(ctx context.Context, client *benchClient, key string, seq int64, sentAt time.Time) benchOutcome {
				return client.postBatch(ctx, key, benchBatch("bench.event", seq*int64(n), n, sentAt), n)
			})
			if err != nil {
				return err
			}
			rep.BatchSize = n
			return outputOf(cmd).printBench(rep, o.json)
		},
	}
	o.register(c, 0, true)
	o.registerKeys(c)
	c.Flags().IntVar(&n, "n", 100, "events per batch (1–500)")
	return c
}

// keyedLoad is ingest's and batch's run: send builds and posts one request
// with the key it is given (--keys round-robin), and the report of mode
// carries the CPU cost when --cgroup meters it.
func (o *benchOptions) keyedLoad(cmd *cobra.Command, mode string,
	send func(ctx context.Context, client *benchClient, key string, seq int64, sentAt time.Time) benchOutcome,
) (benchReport, error) {
	meter, err := o.meter()
	if err != nil {
		return benchReport{}, err
	}
	client := newBenchClient(o.url, o.concurrency, o.timeout)
	keys := o.allKeys()
	res, cost, err := meteredLoad(cmd.Context(), o.loadConfig(), meter, func(ctx context.Context, seq int64, sentAt time.Time) benchOutcome {
		return send(ctx, client, keys[int(seq%int64(len(keys)))], seq, sentAt)
	})
	if err != nil {
		return benchReport{}, err
	}
	rep := newBenchReport(mode, o, len(keys), res)
	rep.cpuCost = cost
	return rep, nil
}

// meteredLoad is runLoad with the CPU of the meter's groups charged to the
// accepted events: read when the measurement window opens and again once
// every request has been answered (requests of the warmup still in flight
// at the start are charged, those of the window finishing after its end
// too: at most --concurrency requests either way).
func meteredLoad(ctx context.Context, lc loadConfig, meter cpuMeter, send sendFunc) (loadResult, *cpuCost, error) {
	if len(meter) == 0 {
		return runLoad(ctx, lc, send), nil, nil
	}
	var before cpuReading
	var readErr error
	lc.onMeasure = func() { before, readErr = meter.read() }
	res := runLoad(ctx, lc, send)
	after, err := meter.read()
	if err = errors.Join(readErr, err); err != nil {
		return res, nil, err
	}
	return res, meter.cost(before, after, res.events), nil
}
