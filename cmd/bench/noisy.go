package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
)

type noisyOptions struct {
	adminToken       string
	token            string // the measured tenant (B)
	floodKey         string // the flooding tenant (A)
	floodToken       string
	backlog          int
	floodFire        bool
	floodHostile     bool
	hostileTemplates bool
	floodRate        float64
	floodBatch       int
	floodConcurrency int
	keepFlooding     bool
	metricsURL       string
	sample           time.Duration
	listen           string
	wait             time.Duration
	healthURLs       []string
	healthEvery      time.Duration
}

// noisyReport is what bench noisy adds to the report of the measured
// tenant's events (whose p50_ms… are event → signed webhook latencies).
type noisyReport struct {
	FloodFire             bool             `json:"flood_fire"`
	FloodEvents           int64            `json:"flood_events"`
	FloodEventsPerS       float64          `json:"flood_events_per_s"`
	FloodErrors           map[string]int64 `json:"flood_errors"`
	FloodDelivered        int64            `json:"flood_delivered,omitempty"`
	FillS                 float64          `json:"fill_s"`
	BacklogTarget         int              `json:"backlog_target"`
	BacklogAtStart        int64            `json:"backlog_at_start"`
	BacklogMin            int64            `json:"backlog_min"`
	BacklogMax            int64            `json:"backlog_max"`
	BacklogMean           float64          `json:"backlog_mean"`
	BacklogAtEnd          int64            `json:"backlog_at_end"` // start … end: while B sent
	BacklogAtLastDelivery int64            `json:"backlog_at_last_delivery"`
	BacklogSamples        [][2]float64     `json:"backlog_samples"`  // [seconds since B started sending, queued event.process jobs]
	MeasuredUntilS        float64          `json:"measured_until_s"` // B's first send to its last webhook (or --wait)
	BacklogUnobserved     bool             `json:"backlog_unobserved,omitempty"`
	FloodHostile          bool             `json:"flood_hostile,omitempty"`
	HostileTemplates      bool             `json:"hostile_templates,omitempty"`
	StaticAttacks         map[string]int   `json:"static_attacks,omitempty"` // --flood-hostile: HTTP status of each refused attack
	Health                []healthReport   `json:"health,omitempty"`         // --health-url probes while B was measured
}

func newBenchNoisyCmd() *cobra.Command {
	var (
		o benchOptions
		n noisyOptions
	)
	c := &cobra.Command{
		Use:   "noisy",
		Short: "Noisy neighbour: one tenant floods, another measures event-to-webhook latency",
		Long: `Measure what one tenant's flood does to another tenant's latency.

Tenant A (the flood) sends batches of --flood-batch events with
--flood-concurrency requests back to back, until the queue holds --backlog
event.process jobs; then tenant B sends events at --rate (open loop) for
--duration while A keeps flooding (--keep-flooding=false: A stops when
the backlog is reached, and B measures while the workers drain it). Every
B event fires a rule with a webhook to a local receiver that verifies its
Standard Webhooks signature; the report's p50_ms…max_ms are B's event →
signed webhook latencies (from when each event was due), ingest_p50_ms…
those of B's ingest requests. A's events match no rule, or with
--flood-fire fire one webhook each (to a receiver of their own).

The backlog is read from --metrics-url (serve's GET /metrics by default:
signalops_queue_depth{kind="event.process"}, all tenants, refreshed by
serve at most every 5 s) every --sample, and reported while B sends (at
the start, min, max, mean, at the end), when B's last webhook arrived, and
as the series of samples from B's first send. Because the gauge is up to
5 s old, A usually floods well past --backlog before a sample shows it.

Tenants: with --admin-token (the operator API), the run creates two fresh
enterprise tenants (A and B) with an owner each and signs in as them;
otherwise give B's --key and --token, and A's --flood-key (and
--flood-token with --flood-fire). The rules and channels it creates are
deleted at the end; created tenants stay, and A's backlog drains on its own.

With --flood-hostile, A replays issue 12's template attacks instead of
flooding batches: its rule's three budget-exhausting templates run on
each of its ~140 KB events, sent one at a time at --flood-rate (use
--backlog 0); the static attacks (a 340-verb printf, a format taken from
the payload, %p) are sent first and their statuses reported.
--health-url probes each /healthz every --health-every while B is
measured.

"signalops work" must be running, and serve must run with
WEBHOOK_ALLOW_PRIVATE=true (the receivers are on loopback).`,
		Example: `  signalops bench noisy --admin-token "$ADMIN_TOKEN" --rate 50 --duration 20s --backlog 10000
  signalops bench noisy --key so_live_B… --token "$JWT_B" --flood-key so_live_A… --flood-fire --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validateLoad(); err != nil {
				return err
			}
			switch {
			case o.rate <= 0:
				return errors.New("--rate must be positive: noisy runs the measured tenant open loop")
			case n.adminToken == "" && (o.key == "" || n.token == "" || n.floodKey == ""):
				return errors.New("give --admin-token (tenants are created), or B's --key and --token and A's --flood-key")
			case n.adminToken == "" && n.floodFire && n.floodToken == "":
				return errors.New("--flood-fire needs A's --flood-token (or --admin-token)")
			case n.backlog < 0 || n.backlog > 10_000_000:
				return errors.New("--backlog must be 0 to 10000000")
			case n.floodBatch < 1 || n.floodBatch > 500:
				return errors.New("--flood-batch must be 1 to 500 (the API's batch limit)")
			case n.floodConcurrency < 1 || n.floodConcurrency > 1000:
				return errors.New("--flood-concurrency must be 1 to 1000")
			case n.sample <= 0 || n.wait <= 0 || n.healthEvery <= 0:
				return errors.New("--sample, --wait and --health-every must be positive")
			case n.floodHostile && n.floodRate < 0:
				return errors.New("--flood-rate must not be negative")
			case len(o.cgroups) > 0:
				return errors.New("--cgroup: noisy measures latency, not CPU (the flood's CPU is not B's); use e2e or drain")
			}
			if n.floodHostile {
				n.floodFire = true // its harmless action is delivered
			}
			if n.metricsURL == "" {
				n.metricsURL = strings.TrimRight(o.url, "/") + "/metrics"
			}
			return outputOf(cmd).runBenchNoisy(cmd.Context(), &o, n)
		},
	}
	o.register(c, 50, false)
	f := c.Flags()
	f.StringVar(&n.adminToken, "admin-token", "", "ADMIN_TOKEN of the operator API: create tenants A and B")
	f.StringVar(&n.token, "token", "", "bearer JWT of tenant B (the one measured; --key is B's API key)")
	f.StringVar(&n.floodKey, "flood-key", "", "API key of tenant A (the flood)")
	f.StringVar(&n.floodToken, "flood-token", "", "bearer JWT of tenant A (needed with --flood-fire)")
	f.IntVar(&n.backlog, "backlog", 10_000, "queued event.process jobs to build before measuring (0: measure at once)")
	f.BoolVar(&n.floodFire, "flood-fire", false, "A's events fire a rule with a webhook each (else they match no rule)")
	f.BoolVar(&n.floodHostile, "flood-hostile", false, "A replays issue 12's template attacks: ~140 KB events, one at a time at --flood-rate, each firing three budget-exhausting actions and one harmless one (implies --flood-fire; use --backlog 0)")
	f.BoolVar(&n.hostileTemplates, "hostile-templates", true, "with --flood-hostile: A's rule runs the three budget-exhausting templates (false: only the harmless one, the control run for the payloads' own cost)")
	f.Float64Var(&n.floodRate, "flood-rate", 10, "with --flood-hostile: A's events per second (0: back to back, one at a time)")
	f.StringSliceVar(&n.healthURLs, "health-url", nil, "comma-separated /healthz URLs to probe while B is measured (e.g. serve's and work's): latency and failures in the report")
	f.DurationVar(&n.healthEvery, "health-every", 100*time.Millisecond, "how often to probe each --health-url")
	f.IntVar(&n.floodBatch, "flood-batch", 100, "events per batch request of A (1–500)")
	f.IntVar(&n.floodConcurrency, "flood-concurrency", 4, "A's batch requests in flight, back to back")
	f.BoolVar(&n.keepFlooding, "keep-flooding", true, "A keeps flooding while B is measured (false: A stops once the backlog is built)")
	f.StringVar(&n.metricsURL, "metrics-url", "", "Prometheus endpoint with signalops_queue_depth (default <url>/metrics)")
	f.DurationVar(&n.sample, "sample", time.Second, "how often to read the backlog")
	f.StringVar(&n.listen, "listen", "127.0.0.1:0", "address of the local webhook receivers (port 0 = any free port)")
	f.DurationVar(&n.wait, "wait", 2*time.Minute, "longest wait for the backlog to build, and for B's webhooks after sending")
	return c
}

// randomSuffix is 8 hex characters, to make slugs and e-mail addresses unique.
func randomSuffix() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// createTenant makes an enterprise tenant (no quota, high rate limits)
// through the operator API and signs in as its owner.
func createTenant(ctx context.Context, client *benchClient, adminToken, name string) (benchTenant, error) {
	suffix, err := randomSuffix()
	if err != nil {
		return benchTenant{}, err
	}
	password, err := randomSuffix()
	if err != nil {
		return benchTenant{}, err
	}
	password += password // 16 characters
	email := fmt.Sprintf("bench-%s-%s@bench.test", name, suffix)
	var created struct {
		APIKey string `json:"apiKey"`
	}
	err = client.api(ctx, http.MethodPost, "/api/admin/tenants", adminToken, map[string]any{
		"slug": "bench-" + name + "-" + suffix, "name": "bench noisy " + name, "plan": "enterprise",
		"owner": map[string]any{"email": email, "password": password},
	}, &created)
	if err != nil {
		return benchTenant{}, fmt.Errorf("create tenant %s: %w", name, err)
	}
	var login struct {
		AccessToken string `json:"accessToken"`
	}
	err = client.api(ctx, http.MethodPost, "/api/auth/login", "", map[string]any{"email": email, "password": password}, &login)
	if err != nil {
		return benchTenant{}, fmt.Errorf("sign in to tenant %s: %w", name, err)
	}
	return benchTenant{key: created.APIKey, token: login.AccessToken}, nil
}

// backlogSample is the queue depth read at one moment.
type backlogSample struct {
	at    time.Time
	depth int64
}

// backlogSampler reads the event.process queue depth every period into a
// series, until stopped.
type backlogSampler struct {
	mu      sync.Mutex
	samples []backlogSample
	lastErr error
}

func (s *backlogSampler) run(ctx context.Context, client *benchClient, url string, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, max(period, time.Second))
		v, err := client.scrapeMetric(rctx, url, "signalops_queue_depth", map[string]string{"kind": "event.process"})
		cancel()
		s.mu.Lock()
		if err == nil {
			s.samples = append(s.samples, backlogSample{at: time.Now(), depth: int64(v)})
		} else if ctx.Err() == nil {
			s.lastErr = err
		}
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// latest is the last sample, if any, and the last scrape error.
func (s *backlogSampler) latest() (backlogSample, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.samples) == 0 {
		return backlogSample{}, false, s.lastErr
	}
	return s.samples[len(s.samples)-1], true, s.lastErr
}

// summarize fills the backlog fields of r: start, min, max, mean and end
// over the samples taken while B sent (sendStart to sendEnd; the start is
// the last sample at or before sendStart, which a sample period longer than
// the window leaves as the only one), the last sample at or before B's last
// webhook, and the series from sendStart to the last sample.
func (s *backlogSampler) summarize(r *noisyReport, sendStart, sendEnd, lastDelivery time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.BacklogSamples = [][2]float64{}
	var in []backlogSample
	var before *backlogSample
	for i, x := range s.samples {
		switch {
		case !x.at.After(sendStart):
			before = &s.samples[i]
		case !x.at.After(sendEnd):
			in = append(in, x)
		}
		if !x.at.After(lastDelivery) {
			r.BacklogAtLastDelivery = x.depth
		}
		if !x.at.Before(sendStart) {
			r.BacklogSamples = append(r.BacklogSamples, [2]float64{math.Round(x.at.Sub(sendStart).Seconds()*100) / 100, float64(x.depth)})
		}
	}
	if before != nil {
		in = append([]backlogSample{*before}, in...)
	}
	if len(in) == 0 {
		r.BacklogUnobserved = true
		return
	}
	r.BacklogAtStart, r.BacklogAtEnd = in[0].depth, in[len(in)-1].depth
	r.BacklogMin, r.BacklogMax = in[0].depth, in[0].depth
	var sum int64
	for _, x := range in {
		r.BacklogMin, r.BacklogMax = min(r.BacklogMin, x.depth), max(r.BacklogMax, x.depth)
		sum += x.depth
	}
	r.BacklogMean = math.Round(float64(sum)/float64(len(in))*10) / 10
}

// flood is tenant A's load: closed-loop batch requests until stopped.
type flood struct {
	accepted atomic.Int64
	mu       sync.Mutex
	errors   map[string]int64
}

// run sends until ctx is done; requests in flight then finish (bounded by
// the client's timeout) and are counted, so every event A got accepted is.
func (f *flood) run(ctx context.Context, client *benchClient, key string, batch, concurrency int) {
	reqCtx := context.WithoutCancel(ctx)
	var seq atomic.Int64
	var wg sync.WaitGroup
	for range concurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				from := seq.Add(int64(batch)) - int64(batch)
				o := client.postBatch(reqCtx, key, benchBatch("bench.flood", from, batch, time.Now()), batch)
				if o.ok() {
					f.accepted.Add(int64(o.events))
					continue
				}
				f.mu.Lock()
				f.errors[errorKey(o)]++
				f.mu.Unlock()
				if o.status == http.StatusTooManyRequests || o.status == 0 {
					time.Sleep(50 * time.Millisecond) // do not spin on a refusal
				}
			}
		})
	}
	wg.Wait()
}

func (a *streams) runBenchNoisy(ctx context.Context, o *benchOptions, n noisyOptions) (err error) {
	client := newBenchClient(o.url, o.concurrency, o.timeout)
	floodClient := newBenchClient(o.url, n.floodConcurrency, o.timeout)
	mgmt := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	}
	sctx, cancel := mgmt()
	defer cancel()

	measured := benchTenant{key: o.key, token: n.token}
	flooder := benchTenant{key: n.floodKey, token: n.floodToken}
	if n.adminToken != "" {
		if flooder, err = createTenant(sctx, client, n.adminToken, "a"); err != nil {
			return err
		}
		if measured, err = createTenant(sctx, client, n.adminToken, "b"); err != nil {
			return err
		}
		fmt.Fprintln(a.stderr, "bench noisy: created tenants A (flood) and B (measured)")
	}
	defer func() {
		cctx, cancel := mgmt()
		defer cancel()
		if cerr := errors.Join(measured.cleanup(cctx, client), flooder.cleanup(cctx, client)); cerr != nil {
			fmt.Fprintf(a.stderr, "bench noisy: cleanup: %v\n", cerr)
		}
	}()

	var recv *hookReceiver
	hook, err := startSignedHook(n.listen, "", func(key []byte) http.Handler { recv = newHookReceiver(key); return recv })
	if err != nil {
		return err
	}
	defer hook.stop()
	if err := measured.setupHook(sctx, client, "bench noisy B", hook, "bench.noisy", "{{.payload.sentAt}}"); err != nil {
		return fmt.Errorf("tenant B: %w", err)
	}
	recv.setRule(measured.ruleID)
	var floodRecv *countingReceiver
	var static map[string]int
	if n.floodFire {
		floodHook, err := startSignedHook(n.listen, "", func(key []byte) http.Handler { floodRecv = &countingReceiver{key: key}; return floodRecv })
		if err != nil {
			return err
		}
		defer floodHook.stop()
		if n.floodHostile {
			if err := flooder.setupHostile(sctx, client, floodHook, "bench.flood", n.hostileTemplates); err != nil {
				return fmt.Errorf("tenant A: %w", err)
			}
			if static, err = staticAttacks(sctx, client, flooder.token, flooder.channelID); err != nil {
				return fmt.Errorf("tenant A's static attacks: %w", err)
			}
		} else if err := flooder.setupHook(sctx, client, "bench noisy A", floodHook, "bench.flood", "flood {{.payload.i}}"); err != nil {
			return fmt.Errorf("tenant A: %w", err)
		}
	}
	fmt.Fprintf(a.stderr, "bench noisy: B's rule %s delivers to %s; waiting for a probe delivery\n", measured.ruleID, hook.url)
	if po := client.postEvent(sctx, measured.key, appendBenchEvent(nil, "bench.noisy", -1, time.Now())); !po.ok() {
		return fmt.Errorf("send B's probe event: %s", errorKey(po))
	}
	if err := recv.awaitProbe(ctx, n.wait, "is `signalops work` running, and does the server run with WEBHOOK_ALLOW_PRIVATE=true?"); err != nil {
		return err
	}

	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	sampler := &backlogSampler{}
	sampled := make(chan struct{})
	go func() { defer close(sampled); sampler.run(sampleCtx, client, n.metricsURL, n.sample) }()

	floodCtx, stopFlooding := context.WithCancel(ctx)
	defer stopFlooding()
	fl := &flood{errors: map[string]int64{}}
	flooded := make(chan struct{})
	floodStart := time.Now()
	go func() {
		defer close(flooded)
		if n.floodHostile {
			fl.runPaced(floodCtx, floodClient, flooder.key, "bench.flood", n.floodRate)
			return
		}
		fl.run(floodCtx, floodClient, flooder.key, n.floodBatch, n.floodConcurrency)
	}()
	fmt.Fprintf(a.stderr, "bench noisy: A floods (batches of %d, %d in flight, fire=%v) until %d event.process jobs are queued\n",
		n.floodBatch, n.floodConcurrency, n.floodFire, n.backlog)
	var fill time.Duration
	if n.backlog > 0 {
		deadline := time.After(n.wait)
		tick := time.NewTicker(min(n.sample, 200*time.Millisecond))
	wait:
		for {
			select {
			case <-ctx.Done():
				tick.Stop()
				return errors.New("interrupted while building the backlog")
			case <-deadline:
				tick.Stop()
				last, ok, serr := sampler.latest()
				if !ok && serr != nil {
					return fmt.Errorf("the backlog could not be read: %w", serr)
				}
				return fmt.Errorf("the backlog reached only %d of --backlog %d within --wait %s (A sent %d events; errors %s): the workers keep up with the flood; try --flood-fire or more --flood-concurrency",
					last.depth, n.backlog, n.wait, fl.accepted.Load(), formatErrors(fl.snapshotErrors()))
			case <-tick.C:
				if last, ok, _ := sampler.latest(); ok && last.depth >= int64(n.backlog) {
					break wait
				}
			}
		}
		tick.Stop()
		fill = time.Since(floodStart)
	}
	if !n.keepFlooding {
		stopFlooding()
		<-flooded
	}
	last, _, _ := sampler.latest()
	fmt.Fprintf(a.stderr, "bench noisy: backlog %d after %.1fs; B sends %g events/s for %s\n", last.depth, fill.Seconds(), o.rate, o.duration)

	var mu sync.Mutex
	accepted := map[int64]struct{}{}
	send := func(ctx context.Context, seq int64, sentAt time.Time) benchOutcome {
		out := client.postEvent(ctx, measured.key, appendBenchEvent(nil, "bench.noisy", seq, sentAt))
		if out.ok() {
			mu.Lock()
			accepted[seq] = struct{}{}
			mu.Unlock()
		}
		return out
	}
	stopProbes := healthProbes(ctx, n.healthURLs, n.healthEvery)
	measureStart := time.Now()
	res := runLoad(ctx, o.loadConfig(), send)
	sendEnd := time.Now()
	stopFlooding()
	<-flooded
	floodS := time.Since(floodStart).Seconds()
	deadline := time.Now().Add(n.wait)
	for ctx.Err() == nil && time.Now().Before(deadline) && recv.delivered(accepted) < len(accepted) {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	measureEnd := time.Now()
	health := stopProbes()
	if ctx.Err() != nil {
		res.interrupted = true
	}
	// One more sample after the last delivery closes the window.
	time.Sleep(min(n.sample, time.Second))
	stopSampling()
	<-sampled

	rep := newBenchReport("noisy", o, 1, res)
	rep.e2eReport = &e2eReport{IngestP50MS: rep.P50MS, IngestP95MS: rep.P95MS, IngestP99MS: rep.P99MS, IngestMaxMS: rep.MaxMS}
	lat := recv.collect(rep.e2eReport, accepted)
	rep.P50MS, rep.P95MS = ms(percentile(lat, 50)), ms(percentile(lat, 95))
	rep.P99MS, rep.MaxMS = ms(percentile(lat, 99)), ms(percentile(lat, 100))
	nr := &noisyReport{
		FloodFire: n.floodFire, FloodEvents: fl.accepted.Load(), FloodErrors: fl.snapshotErrors(),
		FillS: math.Round(fill.Seconds()*100) / 100, BacklogTarget: n.backlog,
		MeasuredUntilS: math.Round(measureEnd.Sub(measureStart).Seconds()*100) / 100,
		FloodHostile:   n.floodHostile, HostileTemplates: n.floodHostile && n.hostileTemplates, StaticAttacks: static, Health: health,
	}
	if floodS > 0 {
		nr.FloodEventsPerS = round2(float64(nr.FloodEvents) / floodS)
	}
	if floodRecv != nil {
		nr.FloodDelivered = floodRecv.ok.Load()
	}
	sampler.summarize(nr, measureStart, sendEnd, measureEnd)
	rep.noisyReport = nr
	return a.printBench(rep, o.json)
}

func (f *flood) snapshotErrors() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]int64, len(f.errors))
	for k, v := range f.errors {
		out[k] = v
	}
	return out
}
