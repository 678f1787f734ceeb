package cmd

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
)

// The load tool. It talks to a running SignalOps over HTTP only, so it needs
// no database and no secrets: point it at any deployment.

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
	u, err := url.Parse(o.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--url must be an http(s) URL, got %q", o.url)
	}
	switch {
	case len(o.allKeys()) == 0:
		return errors.New("an API key is required: --key so_live_… (or --keys k1,k2,…)")
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
requests that got no answer). Ctrl-C stops early and still reports.`

func newBenchCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a running SignalOps over HTTP: ingestion, batch ingestion, end-to-end webhook latency",
		Long: `Load-test a running SignalOps over HTTP. It needs no database or secrets of
its own, only the API's URL and credentials.

` + benchLoopHelp,
		Args: cobra.NoArgs,
	}
	c.AddCommand(newBenchIngestCmd(a), newBenchBatchCmd(a), newBenchE2ECmd(a), newBenchDrainCmd(a))
	return c
}

func newBenchIngestCmd(a *app) *cobra.Command {
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
			client := newBenchClient(o.url, o.concurrency, o.timeout)
			keys := o.allKeys()
			send := func(ctx context.Context, seq int64, sentAt time.Time) benchOutcome {
				body := appendBenchEvent(nil, "bench.event", seq, sentAt)
				return client.postEvent(ctx, keys[int(seq%int64(len(keys)))], body)
			}
			res := runLoad(cmd.Context(), o.loadConfig(), send)
			rep := newBenchReport("ingest", &o, len(keys), res)
			return a.printBench(rep, o.json)
		},
	}
	o.register(c, 0, true)
	o.registerKeys(c)
	return c
}

func newBenchBatchCmd(a *app) *cobra.Command {
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
			client := newBenchClient(o.url, o.concurrency, o.timeout)
			keys := o.allKeys()
			send := func(ctx context.Context, seq int64, sentAt time.Time) benchOutcome {
				body := make([]byte, 0, 16+n*96)
				body = append(body, `{"events":[`...)
				for j := range n {
					if j > 0 {
						body = append(body, ',')
					}
					body = appendBenchEvent(body, "bench.event", seq*int64(n)+int64(j), sentAt)
				}
				body = append(body, "]}"...)
				return client.postBatch(ctx, keys[int(seq%int64(len(keys)))], body, n)
			}
			res := runLoad(cmd.Context(), o.loadConfig(), send)
			rep := newBenchReport("batch", &o, len(keys), res)
			rep.BatchSize = n
			return a.printBench(rep, o.json)
		},
	}
	o.register(c, 0, true)
	o.registerKeys(c)
	c.Flags().IntVar(&n, "n", 100, "events per batch (1–500)")
	return c
}

func newBenchE2ECmd(a *app) *cobra.Command {
	var (
		o       benchOptions
		token   string
		listen  string
		hookURL string
		wait    time.Duration
	)
	c := &cobra.Command{
		Use:   "e2e",
		Short: "Measure event-to-webhook latency through the whole pipeline (ingest, rules, delivery)",
		Long: `Measure end-to-end latency: from an event's send time to the signed webhook
it causes arriving at a local receiver.

The run starts an HTTP receiver on --listen, creates (through the API, with
--token) a webhook channel pointing at it with a fresh signing secret, and a
rule matching type "bench.e2e" whose template renders payload.sentAt. It waits
until one probe event comes through, then sends bench.e2e events with --key at
--rate (open loop, see below). The receiver verifies every Standard Webhooks
signature, reads data.message (the sentAt), records receive time − sentAt and
counts duplicates by webhook-id. After sending it waits up to --wait for the
deliveries still due, reports, and deletes the rule and the channel.

The API key and the token must belong to the same tenant, "signalops work"
must be running, and the server must run with WEBHOOK_ALLOW_PRIVATE=true,
because the receiver is on a loopback/private address that webhook delivery
otherwise refuses.

In --json, p50_ms…max_ms are the end-to-end latencies; ingest_p50_ms… are
those of the ingest requests.

` + benchLoopHelp,
		Example: `  WEBHOOK_ALLOW_PRIVATE=true signalops serve & WEBHOOK_ALLOW_PRIVATE=true signalops work &
  signalops bench e2e --key so_live_… --token "$JWT" --rate 100 --duration 10s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if o.rate <= 0 {
				return errors.New("--rate must be positive: e2e runs open loop")
			}
			if token == "" {
				return errors.New("a bearer token is required: --token (from POST /api/auth/login)")
			}
			if wait <= 0 {
				return errors.New("--wait must be positive")
			}
			return a.runBenchE2E(cmd.Context(), &o, e2eOptions{token: token, listen: listen, hookURL: hookURL, wait: wait})
		},
	}
	o.register(c, 200, false)
	f := c.Flags()
	f.StringVar(&token, "token", "", "bearer JWT of a user who may manage rules and channels (POST /api/auth/login)")
	f.StringVar(&listen, "listen", "127.0.0.1:0", "address of the local webhook receiver (port 0 = any free port)")
	f.StringVar(&hookURL, "hook-url", "", "URL the server should deliver to (default http://<listen address>/hook)")
	f.DurationVar(&wait, "wait", 30*time.Second, "how long to wait after sending for outstanding deliveries")
	return c
}

// ---- load generation ----

// benchOutcome is what one request produced.
type benchOutcome struct {
	status int   // HTTP status; 0 when no response arrived
	events int   // events the server accepted with it
	err    error // the transport error when status is 0
}

func (o benchOutcome) ok() bool { return o.status >= 200 && o.status < 300 }

// errorKey names a failure in the errors map: the HTTP status, or
// "timeout"/"transport" when no response arrived.
func errorKey(o benchOutcome) string {
	if o.status != 0 {
		return strconv.Itoa(o.status)
	}
	var ne net.Error
	if errors.Is(o.err, context.DeadlineExceeded) || (errors.As(o.err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "transport"
}

// sendFunc issues request number seq. sentAt is when it was due: the
// scheduled time in open loop, the start time in closed loop.
type sendFunc func(ctx context.Context, seq int64, sentAt time.Time) benchOutcome

type loadConfig struct {
	concurrency int
	rate        float64 // 0 = closed loop
	duration    time.Duration
	warmup      time.Duration
}

// loadResult is a run's merged tally. Only requests that started (or were
// due) inside the measurement window count.
type loadResult struct {
	requests, ok, events, dropped int64
	errors                        map[string]int64
	latencies                     []time.Duration // successful requests, sorted
	window                        time.Duration   // the measured time: duration, or less if interrupted
	interrupted                   bool
}

// tally is one worker's record; workers never share one, so recording
// needs no lock.
type tally struct {
	lat                  []time.Duration
	requests, ok, events int64
	errors               map[string]int64
}

func (t *tally) record(o benchOutcome, lat time.Duration) {
	t.requests++
	if o.ok() {
		t.ok++
		t.events += int64(o.events)
		t.lat = append(t.lat, lat)
		return
	}
	if t.errors == nil {
		t.errors = map[string]int64{}
	}
	t.errors[errorKey(o)]++
}

// mergeTallies sums the workers' tallies and sorts all latency samples.
func mergeTallies(ts []*tally) loadResult {
	r := loadResult{errors: map[string]int64{}}
	n := 0
	for _, t := range ts {
		n += len(t.lat)
	}
	r.latencies = make([]time.Duration, 0, n)
	for _, t := range ts {
		r.requests += t.requests
		r.ok += t.ok
		r.events += t.events
		r.latencies = append(r.latencies, t.lat...)
		for k, v := range t.errors {
			r.errors[k] += v
		}
	}
	slices.Sort(r.latencies)
	return r
}

// dueAt is when request i of an open-loop run at rate per second is due:
// fixed intervals from start, computed from i (not accumulated) so timer
// lateness never drifts the schedule.
func dueAt(start time.Time, i int64, rate float64) time.Time {
	return start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
}

// runLoad drives send for warmup+duration, closed or open loop, and merges
// the result. Canceling ctx stops sending; requests in flight finish (they
// are bounded by the client's timeout) and are counted.
func runLoad(ctx context.Context, lc loadConfig, send sendFunc) loadResult {
	reqCtx := context.WithoutCancel(ctx)
	start := time.Now()
	measureFrom := start.Add(lc.warmup)
	end := measureFrom.Add(lc.duration)
	var canceledAt atomic.Pointer[time.Time]
	stopWatch := context.AfterFunc(ctx, func() { t := time.Now(); canceledAt.Store(&t) })
	defer stopWatch()

	tallies := make([]*tally, lc.concurrency)
	for i := range tallies {
		tallies[i] = &tally{}
	}
	var wg sync.WaitGroup
	var dropped int64
	if lc.rate <= 0 {
		var seq atomic.Int64
		for w := range lc.concurrency {
			wg.Go(func() {
				t := tallies[w]
				for ctx.Err() == nil {
					now := time.Now()
					if !now.Before(end) {
						return
					}
					o := send(reqCtx, seq.Add(1)-1, now)
					lat := time.Since(now)
					if !now.Before(measureFrom) {
						t.record(o, lat)
					}
				}
			})
		}
	} else {
		sem := make(chan struct{}, lc.concurrency)
		jobs := make(chan int64, lc.concurrency) // never blocks: sem bounds what is queued plus in flight
		for w := range lc.concurrency {
			wg.Go(func() {
				t := tallies[w]
				for i := range jobs {
					due := dueAt(start, i, lc.rate)
					o := send(reqCtx, i, due)
					lat := time.Since(due)
					<-sem
					if !due.Before(measureFrom) {
						t.record(o, lat)
					}
				}
			})
		}
		dropped = schedule(ctx, start, measureFrom, end, lc.rate, sem, jobs)
		close(jobs)
	}
	wg.Wait()

	r := mergeTallies(tallies)
	r.dropped = dropped
	stop := end
	if ctx.Err() != nil {
		at := time.Now() // the AfterFunc may not have run yet: then it was just now
		if c := canceledAt.Load(); c != nil {
			at = *c
		}
		if at.Before(end) {
			stop, r.interrupted = at, true
		}
	}
	if r.window = stop.Sub(measureFrom); r.window < 0 {
		r.window = 0
	}
	return r
}

// schedule hands out open-loop slots until end or ctx is done. A slot is
// taken by a free worker at once or dropped; slots due inside the
// measurement window and dropped are counted.
func schedule(ctx context.Context, start, measureFrom, end time.Time, rate float64, sem chan struct{}, jobs chan<- int64) (dropped int64) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		due := dueAt(start, i, rate)
		if !due.Before(end) {
			return dropped
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return dropped
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return dropped
		}
		select {
		case sem <- struct{}{}:
			jobs <- i
		default:
			if !due.Before(measureFrom) {
				dropped++
			}
		}
	}
}

// percentile is the nearest-rank percentile p (0–100] of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// ---- HTTP ----

type benchClient struct {
	http *http.Client
	base string
}

// newBenchClient shares one keep-alive connection pool among all workers:
// up to concurrency idle connections to the host, so closed-loop workers
// reuse theirs instead of dialing.
func newBenchClient(base string, concurrency int, timeout time.Duration) *benchClient {
	tr := &http.Transport{
		Proxy:                 nil, // measure the server, not a proxy
		DialContext:           (&net.Dialer{Timeout: min(timeout, 5*time.Second), KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          max(100, concurrency*2),
		MaxIdleConnsPerHost:   concurrency,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
	return &benchClient{
		http: &http.Client{
			Transport:     tr,
			Timeout:       timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base: strings.TrimRight(base, "/"),
	}
}

// appendBenchEvent appends {"type":…,"payload":{"i":seq,"sentAt":"…"}}.
func appendBenchEvent(b []byte, typ string, seq int64, sentAt time.Time) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","payload":{"i":`...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, `,"sentAt":"`...)
	b = sentAt.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}}`...)
}

func (c *benchClient) post(ctx context.Context, path, key string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", key)
	return c.http.Do(req)
}

func (c *benchClient) postEvent(ctx context.Context, key string, body []byte) benchOutcome {
	resp, err := c.post(ctx, "/api/events", key, body)
	if err != nil {
		return benchOutcome{err: err}
	}
	_, err = io.Copy(io.Discard, resp.Body) // drain, so the connection is reused
	_ = resp.Body.Close()
	if err != nil {
		return benchOutcome{err: err}
	}
	o := benchOutcome{status: resp.StatusCode}
	if o.ok() {
		o.events = 1
	}
	return o
}

func (c *benchClient) postBatch(ctx context.Context, key string, body []byte, n int) benchOutcome {
	resp, err := c.post(ctx, "/api/events/batch", key, body)
	if err != nil {
		return benchOutcome{err: err}
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return benchOutcome{err: err}
	}
	o := benchOutcome{status: resp.StatusCode}
	if o.ok() {
		o.events = batchAccepted(b, n)
	}
	return o
}

// batchAccepted counts the items a batch response lists as accepted; a
// body without per-item results counts all n.
func batchAccepted(body []byte, n int) int {
	var r struct {
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
	}
	if json.Unmarshal(body, &r) != nil || r.Results == nil {
		return n
	}
	k := 0
	for _, it := range r.Results {
		if it.Status == "accepted" {
			k++
		}
	}
	return k
}

// api calls a management endpoint with a bearer token, decoding a 2xx
// answer into out and turning anything else into an error with the
// problem's title and detail.
func (c *benchClient) api(ctx context.Context, method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %s", method, path, describeProblem(resp.Status, b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return nil
}

func describeProblem(status string, body []byte) string {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Errors []struct {
			Field   string `json:"field"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &p) != nil || (p.Title == "" && p.Detail == "") {
		return status
	}
	s := status + ": " + p.Title
	if p.Detail != "" && p.Detail != p.Title {
		s += ": " + p.Detail
	}
	for _, e := range p.Errors {
		s += fmt.Sprintf(" [%s: %s]", e.Field, e.Message)
	}
	return s
}

// ---- report ----

// benchReport is the result; its JSON form is the --json line.
type benchReport struct {
	Mode          string           `json:"mode"`
	Concurrency   int              `json:"concurrency"`
	Rate          float64          `json:"rate"`
	Keys          int              `json:"keys"`
	BatchSize     int              `json:"batch_size,omitempty"`
	DurationS     float64          `json:"duration_s"`
	Requests      int64            `json:"requests"`
	Events        int64            `json:"events"`
	OK            int64            `json:"ok"`
	Errors        map[string]int64 `json:"errors"`
	Dropped       int64            `json:"dropped"`
	ThroughputRPS float64          `json:"throughput_rps"`
	EventsPerS    float64          `json:"events_per_s"`
	P50MS         float64          `json:"p50_ms"`
	P95MS         float64          `json:"p95_ms"`
	P99MS         float64          `json:"p99_ms"`
	MaxMS         float64          `json:"max_ms"`
	Interrupted   bool             `json:"interrupted,omitempty"`
	*e2eReport
}

// e2eReport is what bench e2e adds; p50_ms… of the report are then the
// end-to-end latencies, and these ingest_* those of the ingest requests.
type e2eReport struct {
	Delivered         int64   `json:"delivered"`
	Missing           int64   `json:"missing"`
	Duplicates        int64   `json:"duplicates"`
	DuplicateEvents   int64   `json:"duplicate_events"`
	Unexpected        int64   `json:"unexpected"`
	InvalidSignatures int64   `json:"invalid_signatures"`
	IngestP50MS       float64 `json:"ingest_p50_ms"`
	IngestP95MS       float64 `json:"ingest_p95_ms"`
	IngestP99MS       float64 `json:"ingest_p99_ms"`
	IngestMaxMS       float64 `json:"ingest_max_ms"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func newBenchReport(mode string, o *benchOptions, keys int, r loadResult) benchReport {
	rep := benchReport{
		Mode: mode, Concurrency: o.concurrency, Rate: o.rate, Keys: keys,
		DurationS: math.Round(r.window.Seconds()*1000) / 1000,
		Requests:  r.requests, Events: r.events, OK: r.ok, Errors: r.errors, Dropped: r.dropped,
		P50MS: ms(percentile(r.latencies, 50)), P95MS: ms(percentile(r.latencies, 95)),
		P99MS: ms(percentile(r.latencies, 99)), MaxMS: ms(percentile(r.latencies, 100)),
		Interrupted: r.interrupted,
	}
	if rep.Errors == nil {
		rep.Errors = map[string]int64{}
	}
	if s := r.window.Seconds(); s > 0 {
		rep.ThroughputRPS = round2(float64(r.requests) / s)
		rep.EventsPerS = round2(float64(r.events) / s)
	}
	return rep
}

func (r benchReport) errorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// formatErrors renders the errors map sorted by key: "429: 12, timeout: 3".
func formatErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// formatBenchSummary is the human summary.
func formatBenchSummary(r benchReport) string {
	var b strings.Builder
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %g req/s", r.Rate)
	}
	keys := "1 key"
	if r.Keys != 1 {
		keys = fmt.Sprintf("%d keys", r.Keys)
	}
	fmt.Fprintf(&b, "bench %s: %s, concurrency %d, %s", r.Mode, loop, r.Concurrency, keys)
	if r.BatchSize > 0 {
		fmt.Fprintf(&b, ", %d events per batch", r.BatchSize)
	}
	fmt.Fprintf(&b, ", measured %.2fs", r.DurationS)
	if r.Interrupted {
		b.WriteString(" (interrupted)")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  requests    %d (ok %d, errors %d, dropped %d)\n", r.Requests, r.OK, r.errorCount(), r.Dropped)
	fmt.Fprintf(&b, "  throughput  %.1f req/s, %.1f events/s (%d events accepted)\n", r.ThroughputRPS, r.EventsPerS, r.Events)
	lat := func(name string, p50, p95, p99, mx float64) {
		fmt.Fprintf(&b, "  %-11s p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", name, p50, p95, p99, mx)
	}
	if r.e2eReport == nil {
		lat("latency", r.P50MS, r.P95MS, r.P99MS, r.MaxMS)
	} else {
		e := r.e2eReport
		lat("ingest", e.IngestP50MS, e.IngestP95MS, e.IngestP99MS, e.IngestMaxMS)
		lat("end-to-end", r.P50MS, r.P95MS, r.P99MS, r.MaxMS)
		fmt.Fprintf(&b, "  deliveries  %d of %d accepted events (missing %d, duplicates %d, duplicate events %d, unexpected %d, invalid signatures %d)\n",
			e.Delivered, r.Events, e.Missing, e.Duplicates, e.DuplicateEvents, e.Unexpected, e.InvalidSignatures)
	}
	fmt.Fprintf(&b, "  errors      %s\n", formatErrors(r.Errors))
	return b.String()
}

// printBench writes the summary or the JSON line, and fails the command
// when nothing succeeded, so scripts notice a broken setup.
func (a *app) printBench(r benchReport, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", b)
	} else {
		fmt.Fprint(a.stdout, formatBenchSummary(r))
	}
	if r.Requests > 0 && r.OK == 0 {
		return fmt.Errorf("no request succeeded (errors: %s)", formatErrors(r.Errors))
	}
	return nil
}

// ---- end to end ----

type e2eOptions struct {
	token, listen, hookURL string
	wait                   time.Duration
}

// verifyWebhookSignature checks a Standard Webhooks signature header (one
// or more space-separated "v1,<base64>") against HMAC-SHA256(key,
// id.timestamp.body), and the timestamp against now within tolerance.
func verifyWebhookSignature(key []byte, id, timestamp string, body []byte, header string, now time.Time, tolerance time.Duration) bool {
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil || id == "" {
		return false
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(timestamp))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Fields(header) {
		v, b64, ok := strings.Cut(sig, ",")
		if !ok || v != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return true
		}
	}
	return false
}

// newSigningSecret returns "whsec_" + base64 of 24 random bytes, and the key.
func newSigningSecret() (string, []byte, error) {
	key := make([]byte, 24)
	if _, err := rand.Read(key); err != nil {
		return "", nil, err
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(key), key, nil
}

// hookReceiver is the local webhook endpoint of bench e2e.
type hookReceiver struct {
	key []byte
	now func() time.Time

	mu        sync.Mutex
	ruleID    string
	seenIDs   map[string]struct{}
	latency   map[int64]time.Duration // by payload.i, first delivery only
	probe     chan struct{}           // closed when a probe (i < 0) arrives
	probed    bool
	dupIDs    int64
	dupEvents int64
	invalid   int64
	malformed int64
	foreign   int64 // deliveries of another rule
}

func newHookReceiver(key []byte) *hookReceiver {
	return &hookReceiver{key: key, now: time.Now, seenIDs: map[string]struct{}{},
		latency: map[int64]time.Duration{}, probe: make(chan struct{})}
}

func (h *hookReceiver) setRule(id string) {
	h.mu.Lock()
	h.ruleID = id
	h.mu.Unlock()
}

type hookBody struct {
	Data struct {
		RuleID  string `json:"ruleId"`
		Message string `json:"message"`
		Event   struct {
			Payload struct {
				I *int64 `json:"i"`
			} `json:"payload"`
		} `json:"event"`
	} `json:"data"`
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := h.now()
	if r.Method != http.MethodPost {
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	id := r.Header.Get("webhook-id")
	if !verifyWebhookSignature(h.key, id, r.Header.Get("webhook-timestamp"), body, r.Header.Get("webhook-signature"), received, 5*time.Minute) {
		h.mu.Lock()
		h.invalid++
		h.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var hb hookBody
	jsonErr := json.Unmarshal(body, &hb)
	sentAt, timeErr := time.Parse(time.RFC3339Nano, hb.Data.Message)

	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case jsonErr != nil || hb.Data.Event.Payload.I == nil:
		h.malformed++
	case hb.Data.RuleID != h.ruleID:
		h.foreign++
	default:
		if _, dup := h.seenIDs[id]; dup {
			h.dupIDs++
			break
		}
		h.seenIDs[id] = struct{}{}
		i := *hb.Data.Event.Payload.I
		if i < 0 {
			if !h.probed {
				h.probed = true
				close(h.probe)
			}
			break
		}
		if _, dup := h.latency[i]; dup {
			h.dupEvents++
			break
		}
		if timeErr != nil {
			h.malformed++
			break
		}
		h.latency[i] = received.Sub(sentAt)
	}
	w.WriteHeader(http.StatusNoContent)
}

// delivered counts the accepted events that have arrived.
func (h *hookReceiver) delivered(accepted map[int64]struct{}) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for i := range accepted {
		if _, ok := h.latency[i]; ok {
			n++
		}
	}
	return n
}

// startReceiver serves h on listen and returns the URL the server should
// deliver to (hookURL, or http://<address>/hook) and how to stop it.
func startReceiver(h http.Handler, listen, hookURL string) (string, func(), error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return "", nil, fmt.Errorf("webhook receiver: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) //nolint:forbidigo // runs after the run's context is done
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	if hookURL == "" {
		hookURL = "http://" + ln.Addr().String() + "/hook"
	}
	return hookURL, stop, nil
}

func (a *app) runBenchE2E(ctx context.Context, o *benchOptions, e e2eOptions) (err error) {
	client := newBenchClient(o.url, o.concurrency, o.timeout)
	key := o.allKeys()[0]
	secret, secretKey, err := newSigningSecret()
	if err != nil {
		return err
	}
	recv := newHookReceiver(secretKey)
	hookURL, stop, err := startReceiver(recv, e.listen, e.hookURL)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Fprintf(a.stderr, "bench e2e: receiver listening on %s\n", hookURL)

	// Setup and cleanup use their own deadline: Ctrl-C still cleans up.
	mgmt := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	}
	var channel, rule struct {
		ID string `json:"id"`
	}
	defer func() {
		cctx, cancel := mgmt()
		defer cancel()
		if rule.ID != "" {
			if derr := client.api(cctx, http.MethodDelete, "/api/rules/"+rule.ID, e.token, nil, nil); derr != nil {
				fmt.Fprintf(a.stderr, "bench e2e: cleanup: %v\n", derr)
			}
		}
		if channel.ID != "" {
			if derr := client.api(cctx, http.MethodDelete, "/api/channels/"+channel.ID, e.token, nil, nil); derr != nil {
				fmt.Fprintf(a.stderr, "bench e2e: cleanup: %v\n", derr)
			}
		}
		if rule.ID != "" || channel.ID != "" {
			fmt.Fprintf(a.stderr, "bench e2e: deleted rule %s and channel %s\n", rule.ID, channel.ID)
		}
	}()

	sctx, cancel := mgmt()
	defer cancel()
	err = client.api(sctx, http.MethodPost, "/api/channels", e.token, map[string]any{
		"name": "bench", "kind": "webhook",
		"config":  map[string]any{"url": hookURL},
		"secrets": map[string]any{"signingSecret": secret},
	}, &channel)
	if err != nil {
		return fmt.Errorf("create webhook channel: %w", err)
	}
	err = client.api(sctx, http.MethodPost, "/api/rules", e.token, map[string]any{
		"name": "bench", "enabled": true,
		"definition": map[string]any{
			"match":   map[string]any{"type": "bench.e2e"},
			"actions": []any{map[string]any{"channelId": channel.ID, "template": "{{.payload.sentAt}}"}},
		},
	}, &rule)
	if err != nil {
		return fmt.Errorf("create rule: %w", err)
	}
	recv.setRule(rule.ID)
	fmt.Fprintf(a.stderr, "bench e2e: created channel %s and rule %s; waiting for a probe delivery\n", channel.ID, rule.ID)

	// A probe proves the pipeline works before the clock starts.
	probe := appendBenchEvent(nil, "bench.e2e", -1, time.Now())
	if po := client.postEvent(sctx, key, probe); !po.ok() {
		return fmt.Errorf("send probe event: %s", errorKey(po))
	}
	select {
	case <-recv.probe:
	case <-ctx.Done():
		return errors.New("interrupted while waiting for the probe delivery")
	case <-time.After(e.wait):
		return fmt.Errorf("no webhook delivery arrived within %s: is `signalops work` running on the same database, "+
			"do --key and --token belong to the same tenant, and does the server run with WEBHOOK_ALLOW_PRIVATE=true?", e.wait)
	}

	var mu sync.Mutex
	accepted := map[int64]struct{}{}
	send := func(ctx context.Context, seq int64, sentAt time.Time) benchOutcome {
		o := client.postEvent(ctx, key, appendBenchEvent(nil, "bench.e2e", seq, sentAt))
		if o.ok() {
			mu.Lock()
			accepted[seq] = struct{}{}
			mu.Unlock()
		}
		return o
	}
	fmt.Fprintf(a.stderr, "bench e2e: sending at %g events/s for %s\n", o.rate, o.duration)
	res := runLoad(ctx, o.loadConfig(), send)

	deadline := time.Now().Add(e.wait)
	for ctx.Err() == nil && time.Now().Before(deadline) && recv.delivered(accepted) < len(accepted) {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if ctx.Err() != nil {
		res.interrupted = true
	}

	rep := newBenchReport("e2e", o, 1, res)
	rep.e2eReport = &e2eReport{
		IngestP50MS: rep.P50MS, IngestP95MS: rep.P95MS, IngestP99MS: rep.P99MS, IngestMaxMS: rep.MaxMS,
	}
	recv.mu.Lock()
	var lat []time.Duration
	for i := range accepted {
		if d, ok := recv.latency[i]; ok {
			lat = append(lat, d)
		}
	}
	rep.Delivered = int64(len(lat))
	rep.Missing = int64(len(accepted)) - rep.Delivered
	rep.Unexpected = int64(len(recv.latency)) - rep.Delivered
	rep.Duplicates, rep.DuplicateEvents, rep.InvalidSignatures = recv.dupIDs, recv.dupEvents, recv.invalid
	malformed, foreign := recv.malformed, recv.foreign
	recv.mu.Unlock()
	slices.Sort(lat)
	rep.P50MS, rep.P95MS = ms(percentile(lat, 50)), ms(percentile(lat, 95))
	rep.P99MS, rep.MaxMS = ms(percentile(lat, 99)), ms(percentile(lat, 100))
	if malformed > 0 || foreign > 0 {
		fmt.Fprintf(a.stderr, "bench e2e: ignored %d malformed deliveries and %d of other rules\n", malformed, foreign)
	}
	return a.printBench(rep, o.json)
}
