// Package bench is the load tool (signalops bench): it talks to a running
// SignalOps over HTTP only, so it needs no database and no secrets and
// imports nothing of SignalOps; point it at any deployment. One file per
// mode (ingest.go, e2e.go, drain.go, noisy.go) over the shared load
// generator (load.go), HTTP client (client.go), Prometheus reader
// (metrics.go), control-group CPU meter (cpu.go: --cgroup, the one thing
// it reads locally) and report (report.go).
package bench

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

const benchDefaultURL = "http://127.0.0.1:3000"

// benchOptions are the flags every bench subcommand shares.
type benchOptions struct {
	url         string
	key         string
	keys        []string
	tenantKeys  []string // --tenants-keys, an alias of --keys
	concurrency int
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	timeout     time.Duration
	json        bool
	cgroups     []string
}

func (o *benchOptions) register(c *cobra.Command, defaultRate float64, withWarmup bool) {
	f := c.Flags()
	f.StringVar(&o.url, "url", benchDefaultURL, "base URL of the SignalOps API")
	f.StringVar(&o.key, "key", "", "API key (so_live_…) with scope events:write")
	f.IntVar(&o.concurrency, "concurrency", 32, "workers (closed loop) or most requests in flight (open loop); also the idle connections kept")
	f.Float64Var(&o.rate, "rate", defaultRate, "requests per second, open loop; 0 = closed loop (every worker sends back to back)")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to measure")
	if withWarmup {
		f.DurationVar(&o.warmup, "warmup", time.Second, "load sent before measuring starts, not counted")
	}
	f.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	f.BoolVar(&o.json, "json", false, "print exactly one JSON line instead of the summary")
	registerCgroups(c, &o.cgroups)
}

func (o *benchOptions) registerKeys(c *cobra.Command) {
	f := c.Flags()
	f.StringSliceVar(&o.keys, "keys", nil, "comma-separated API keys, one per tenant: requests go round-robin across them (with --key, that key comes first)")
	f.StringSliceVar(&o.tenantKeys, "tenants-keys", nil, "alias of --keys")
	_ = f.MarkHidden("tenants-keys")
}

// allKeys is --key followed by --keys, blanks dropped.
func (o *benchOptions) allKeys() []string {
	var out []string
	for _, k := range append(append([]string{o.key}, o.keys...), o.tenantKeys...) {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}

func (o *benchOptions) validate() error {
	if len(o.allKeys()) == 0 {
		return errors.New("an API key is required: --key so_live_… (or --keys k1,k2,…)")
	}
	return o.validateLoad()
}

// validateLoad checks the flags other than the keys.
func (o *benchOptions) validateLoad() error {
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url must be an http(s) URL, got %q", o.url)
	}
	switch {
	case o.concurrency < 1 || o.concurrency > 100_000:
		return errors.New("--concurrency must be 1 to 100000")
	case o.rate < 0 || o.rate > 1_000_000 || math.IsNaN(o.rate):
		return errors.New("--rate must be 0 (closed loop) to 1000000 requests per second")
	case o.duration <= 0:
		return errors.New("--duration must be positive")
	case o.warmup < 0:
		return errors.New("--warmup must not be negative")
	case o.timeout <= 0:
		return errors.New("--timeout must be positive")
	}
	return nil
}

// meter is the --cgroup groups; empty without the flag.
func (o *benchOptions) meter() (cpuMeter, error) {
	return parseCgroups(o.cgroups)
}

func (o *benchOptions) loadConfig() loadConfig {
	return loadConfig{concurrency: o.concurrency, rate: o.rate, duration: o.duration, warmup: o.warmup}
}

const benchLoopHelp = `Closed loop (--rate 0): each of --concurrency workers sends a request as soon
as its previous one is answered; this finds the throughput ceiling.
Open loop (--rate R): requests are due every 1/R seconds whatever the server
does; latency is measured from the time a request was DUE, so queueing in the
server or the client shows up in the percentiles instead of being hidden
(coordinated omission). At most --concurrency requests are in flight; a request
that falls due while all of them are busy is not sent and counts as "dropped".

Latency percentiles are exact (from every sample) and cover successful (2xx)
requests; failures are counted by HTTP status ("timeout" and "transport" for
requests that got no answer). Ctrl-C stops early and still reports.

--cgroup name=dir (repeatable) charges the CPU time of control groups to the
measured events (cpu_s, cpu_us_per_event): put PostgreSQL's postmaster,
serve and work each in a group of its own (db/bench/suite.sh does), and the
count is exact, every backend included.`

// NewCommand returns "signalops bench" with its subcommands: ingest, batch,
// e2e, drain and noisy.
func NewCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a running SignalOps over HTTP: ingestion, end-to-end webhook latency, workers, noisy neighbours",
		Long: `Load-test a running SignalOps over HTTP. It needs no database or secrets of
its own, only the API's URL and credentials.

` + benchLoopHelp,
		Args: cobra.NoArgs,
	}
	c.AddCommand(newBenchIngestCmd(), newBenchBatchCmd(), newBenchE2ECmd(), newBenchDrainCmd(), newBenchNoisyCmd())
	return c
}

// streams are where a run writes: the report to stdout, progress to stderr.
type streams struct {
	stdout io.Writer
	stderr io.Writer
}

// outputOf is the command's own streams (the process's unless a caller set
// others with SetOut/SetErr).
func outputOf(c *cobra.Command) *streams {
	return &streams{stdout: c.OutOrStdout(), stderr: c.ErrOrStderr()}
}
