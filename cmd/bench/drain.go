package bench

import (
	"context"
	"encoding/json"
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

// gaugeMaxAge is how old serve's database-sampled gauges may be (it samples
// them at most every 5 s), plus a margin.
const gaugeMaxAge = 5500 * time.Millisecond

type drainOptions struct {
	token      string
	events     int
	rules      int
	deliver    bool
	listen     string
	hookURL    string
	wait       time.Duration
	poll       time.Duration
	metricsURL string // with --rules 0: serve's /metrics, whose queue depth tells what is left
	meter      cpuMeter
}

// drainReport is bench drain's result.
type drainReport struct {
	Mode            string  `json:"mode"`
	Events          int64   `json:"events"`
	Rules           int     `json:"rules"`
	Deliver         bool    `json:"deliver"`
	LoadS           float64 `json:"load_s"`
	LoadEventsPerS  float64 `json:"load_events_per_s"`
	Processed       int64   `json:"processed"`
	ProcessS        float64 `json:"process_s"`
	ProcessedPerS   float64 `json:"processed_per_s"`
	Delivered       int64   `json:"delivered,omitempty"`
	DeliverS        float64 `json:"deliver_s,omitempty"`
	DeliveredPerS   float64 `json:"delivered_per_s,omitempty"`
	InvalidSigs     int64   `json:"invalid_signatures,omitempty"`
	TimedOut        bool    `json:"timed_out,omitempty"`
	PeakBacklog     int64   `json:"peak_backlog"`
	FinalBacklog    int64   `json:"final_backlog"`
	FirstProcessedS float64 `json:"first_processed_s"`
	// With --cgroup: CPU from "backlog loaded" until the last event was
	// processed (and delivered), per processed event, and per delivery.
	*cpuCost
	CPUPerDelivery map[string]float64 `json:"cpu_us_per_delivery,omitempty"`
}

func newBenchDrainCmd() *cobra.Command {
	var (
		o benchOptions
		d drainOptions
	)
	c := &cobra.Command{
		Use:   "drain",
		Short: "Measure worker throughput: load a backlog of events, time how fast `work` processes it",
		Long: `Measure how many events per second the workers process (and, with
--deliver, deliver), with --rules rules per tenant.

The run creates (with --token) a webhook channel pointing at a local
receiver and --rules rules matching type "bench.drain". Every rule has a
condition, so each event is evaluated against all of them; none fires,
except with --deliver, where the first rule fires for every event and sends
one signed webhook to the receiver.

With --rules 0 no rule or channel is made: the events match nothing, and
the usage counters cannot tell how many were processed, so progress is
read from serve's /metrics (--metrics-url, default <url>/metrics):
processed = loaded − signalops_queue_depth{kind="event.process"}, a gauge
of all tenants that serve refreshes at most every 5 s. The run ends once
a fresh sample shows an empty queue; the CPU is read, and the processing
time ends, when the newest event loaded is processed (GET
/api/events/:id): jobs run oldest first, so only the few running beside it
are left. processed_per_s is still coarse (the first progress is seen up
to 5 s late); take the exact rate from the jobs' own timestamps
(db/bench/suite.sh does). Only this load may use
the queue meanwhile. (work's signalops_jobs_total is no substitute: River
drops job events its subscription buffer cannot hold at these rates.)

With --cgroup, the CPU time of each group from "backlog loaded" until the
last event was processed (and delivered) is reported per processed event
and, with --deliver, per delivery: start work right after that line.

It then sends --events events with --key through POST /api/events/batch
(500 per request, --concurrency requests in flight), as fast as the server
takes them, and polls GET /api/usage every --poll: events processed are
the rule evaluations counted since the start divided by the tenant's enabled
rules, deliveries the notifications counted. Processing throughput is the
events processed between the first poll that saw one and the poll that saw
the last, over that time; likewise for deliveries.

For the workers' throughput alone, start "signalops work" only after the
line "backlog loaded" (the load then does not compete with the workers for
the CPU). With work running throughout, the report shows whether the
workers keep up with the load: peak_backlog stays small when they do.

The tenant should have no other enabled rules matching bench.drain. The
rules and the channel are deleted at the end.`,
		Example: `  signalops serve &    # with WEBHOOK_ALLOW_PRIVATE=true for --deliver
  signalops bench drain --key so_live_… --token "$JWT" --events 50000 --rules 10
  # when it prints "backlog loaded":  signalops work &`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.duration = time.Second // not used; satisfies validate
			if err := o.validate(); err != nil {
				return err
			}
			switch {
			case d.token == "":
				return errors.New("a bearer token is required: --token (from POST /api/auth/login)")
			case d.events < 1 || d.events > 10_000_000:
				return errors.New("--events must be 1 to 10000000")
			case d.rules < 0 || d.rules > 100:
				return errors.New("--rules must be 0 to 100")
			case d.rules == 0 && d.deliver:
				return errors.New("--deliver needs a rule that fires: --rules 1 or more")
			case d.wait <= 0 || d.poll <= 0:
				return errors.New("--wait and --poll must be positive")
			}
			meter, err := parseCgroups(o.cgroups)
			if err != nil {
				return err
			}
			d.meter = meter
			if d.metricsURL == "" {
				d.metricsURL = strings.TrimRight(o.url, "/") + "/metrics"
			}
			return outputOf(cmd).runBenchDrain(cmd.Context(), &o, d)
		},
	}
	f := c.Flags()
	f.StringVar(&o.url, "url", benchDefaultURL, "base URL of the SignalOps API")
	f.StringVar(&o.key, "key", "", "API key (so_live_…) with scope events:write")
	f.IntVar(&o.concurrency, "concurrency", 4, "batch requests in flight while loading")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "per-request timeout")
	f.BoolVar(&o.json, "json", false, "print exactly one JSON line instead of the summary")
	f.StringVar(&d.token, "token", "", "bearer JWT of a user who may manage rules and channels")
	f.IntVar(&d.events, "events", 50_000, "events in the backlog")
	f.IntVar(&d.rules, "rules", 10, "rules evaluated per event (0–100; 0: progress from the queue depth, see above)")
	f.BoolVar(&d.deliver, "deliver", false, "one rule fires for every event: one signed webhook each")
	f.StringVar(&d.listen, "listen", "127.0.0.1:0", "address of the local webhook receiver")
	f.StringVar(&d.hookURL, "hook-url", "", "URL the server should deliver to (default http://<listen address>/hook)")
	f.DurationVar(&d.wait, "wait", 10*time.Minute, "how long to wait for the backlog to drain")
	f.DurationVar(&d.poll, "poll", 250*time.Millisecond, "how often to read the usage counters")
	f.StringVar(&d.metricsURL, "metrics-url", "", "serve's /metrics (default <url>/metrics), read with --rules 0 for the queue depth")
	registerCgroups(c, &o.cgroups)
	return c
}

// countingReceiver counts webhooks whose Standard Webhooks signature
// verifies.
type countingReceiver struct {
	key     []byte
	ok, bad atomic.Int64
}

func (h *countingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := make([]byte, 0, 2048)
	buf := make([]byte, 4096)
	for len(body) < 1<<20 {
		n, err := r.Body.Read(buf)
		body = append(body, buf[:n]...)
		if err != nil {
			break
		}
	}
	if VerifyWebhookSignature(h.key, r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), body,
		r.Header.Get("webhook-signature"), time.Now(), 5*time.Minute) {
		h.ok.Add(1)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.bad.Add(1)
	w.WriteHeader(http.StatusUnauthorized)
}

// usageCounts is what bench drain reads of GET /api/usage.
type usageCounts struct {
	Current struct {
		RuleEvaluations int64 `json:"ruleEvaluations"`
		Notifications   struct {
			Total int64 `json:"total"`
		} `json:"notifications"`
	} `json:"current"`
}

func (a *streams) runBenchDrain(ctx context.Context, o *benchOptions, d drainOptions) error {
	client := newBenchClient(o.url, o.concurrency, o.timeout)
	var recv *countingReceiver
	hook, err := startSignedHook(d.listen, d.hookURL, func(key []byte) http.Handler { recv = &countingReceiver{key: key}; return recv })
	if err != nil {
		return err
	}
	defer hook.stop()
	mgmt := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	}

	// Setup: a channel and the rules; cleanup even after Ctrl-C.
	var channelID string
	var ruleIDs []string
	defer func() {
		cctx, cancel := mgmt()
		defer cancel()
		for _, id := range ruleIDs {
			if err := client.api(cctx, http.MethodDelete, "/api/rules/"+id, d.token, nil, nil); err != nil {
				fmt.Fprintf(a.stderr, "bench drain: cleanup: %v\n", err)
			}
		}
		if channelID != "" {
			if err := client.api(cctx, http.MethodDelete, "/api/channels/"+channelID, d.token, nil, nil); err != nil {
				fmt.Fprintf(a.stderr, "bench drain: cleanup: %v\n", err)
			}
		}
	}()
	sctx, cancel := mgmt()
	defer cancel()
	if d.rules > 0 {
		if channelID, err = createWebhookChannel(sctx, client, d.token, "bench drain", hook); err != nil {
			return err
		}
	}
	for k := range d.rules {
		// payload.i counts from 0: "i < -k-1" never holds; "i >= 0" always.
		cond := map[string]any{"field": "payload.i", "op": "lt", "value": -k - 1}
		if d.deliver && k == 0 {
			cond = map[string]any{"field": "payload.i", "op": "gte", "value": 0}
		}
		var rule struct {
			ID string `json:"id"`
		}
		err := client.api(sctx, http.MethodPost, "/api/rules", d.token, map[string]any{
			"name": fmt.Sprintf("bench drain %d", k+1), "enabled": true,
			"definition": map[string]any{
				"match":   map[string]any{"type": "bench.drain", "all": []any{cond}},
				"actions": []any{map[string]any{"channelId": channelID, "template": "event {{.payload.i}}"}},
			},
		}, &rule)
		if err != nil {
			return fmt.Errorf("create rule: %w", err)
		}
		ruleIDs = append(ruleIDs, rule.ID)
	}
	var loadedNow atomic.Int64 // what the queue-depth progress subtracts from
	var loadEnd atomic.Pointer[time.Time]
	progress, err := drainProgress(ctx, client, d, loadedNow.Load, func() bool {
		t := loadEnd.Load()
		return t != nil && time.Since(*t) > gaugeMaxAge
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "bench drain: %d rules, loading %d events\n", d.rules, d.events)

	// The clock starts with the load; polling runs throughout, so work
	// that runs during the load is seen too.
	start := time.Now()
	rep := drainReport{Mode: "drain", Events: int64(d.events), Rules: d.rules, Deliver: d.deliver}
	var (
		mu                         sync.Mutex
		cpuBefore, cpuAfter        cpuReading
		loaded                     int64
		firstProc, lastProc        time.Time
		procAtFirst, delAtFirst    int64
		firstDel, lastDel          time.Time
		processed, delivered       int64
		loadErr                    error
		loadDone                   = make(chan struct{})
		pollCtx, stopPoll          = context.WithCancel(ctx)
		pollDone                   = make(chan struct{})
		processedAll, deliveredAll bool
		lastID                     string // the newest event loaded
	)
	defer stopPoll()
	go func() {
		defer close(pollDone)
		t := time.NewTicker(d.poll)
		defer t.Stop()
		for {
			select {
			case <-pollCtx.Done():
				return
			case <-t.C:
			}
			if d.rules == 0 {
				// The queue depth is up to 5 s old: the end of the work
				// is when the newest event loaded (among the last
				// fetched, as jobs run oldest first) is processed.
				mu.Lock()
				last, pending := lastID, cpuBefore != nil && cpuAfter == nil && loaded == int64(d.events)
				mu.Unlock()
				if pending && last != "" && eventProcessed(pollCtx, client, d.token, last) {
					now := time.Now()
					after, err := d.meter.read()
					mu.Lock()
					cpuAfter, lastProc = after, now
					if err != nil {
						cpuAfter = nil
					}
					mu.Unlock()
				}
			}
			p, n, err := progress()
			if err != nil {
				continue
			}
			now := time.Now()
			mu.Lock()
			if p > processed {
				if firstProc.IsZero() {
					firstProc, procAtFirst = now, p
				}
				if d.rules > 0 {
					lastProc = now
				}
			}
			if n > delivered {
				if firstDel.IsZero() {
					firstDel, delAtFirst = now, n
				}
				lastDel = now
			}
			processed, delivered = p, n
			rep.PeakBacklog = max(rep.PeakBacklog, loaded-p)
			processedAll = p >= int64(d.events)
			deliveredAll = !d.deliver || n >= int64(d.events)
			done := processedAll && deliveredAll && loaded == int64(d.events)
			if done && cpuBefore != nil && cpuAfter == nil {
				cpuAfter, _ = d.meter.read() // a failed read leaves the cost out
			}
			if done && lastProc.IsZero() {
				lastProc = now
			}
			mu.Unlock()
			if done {
				stopPoll()
			}
		}
	}()

	go func() {
		defer close(loadDone)
		sem := make(chan struct{}, o.concurrency)
		var wg sync.WaitGroup
		for from := 0; from < d.events && ctx.Err() == nil; from += 500 {
			n := min(500, d.events-from)
			body := benchBatch("bench.drain", int64(from), n, time.Now())
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				out := client.postBatch(ctx, o.key, body, n)
				mu.Lock()
				defer mu.Unlock()
				if !out.ok() || out.events != n {
					loadErr = fmt.Errorf("a batch failed (%s, %d of %d accepted): stopping", errorKey(out), out.events, n)
					return
				}
				loaded += int64(n)
				loadedNow.Store(loaded)
				lastID = max(lastID, out.lastID)
			})
			mu.Lock()
			failed := loadErr != nil
			mu.Unlock()
			if failed {
				break
			}
		}
		wg.Wait()
	}()
	<-loadDone
	loadEnd.Store(new(time.Now()))
	mu.Lock()
	rep.LoadS = time.Since(start).Seconds()
	rep.LoadEventsPerS = float64(loaded) / rep.LoadS
	err = loadErr
	if err == nil {
		cpuBefore, err = d.meter.read()
	}
	mu.Unlock()
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "bench drain: backlog loaded: %d events in %.1fs (%.0f events/s); waiting for the workers\n",
		loaded, rep.LoadS, rep.LoadEventsPerS)

	select {
	case <-pollDone:
	case <-time.After(d.wait):
		rep.TimedOut = true
	case <-ctx.Done():
	}
	stopPoll()
	<-pollDone

	mu.Lock()
	defer mu.Unlock()
	rep.Processed, rep.Delivered = processed, delivered
	rep.FinalBacklog = loaded - processed
	switch {
	case d.rules == 0 && !lastProc.IsZero():
		// The gauge sees the first progress seconds late: time the whole
		// drain from the end of the load (work is started then).
		if s := lastProc.Sub(*loadEnd.Load()).Seconds(); s > 0 {
			rep.ProcessS, rep.ProcessedPerS = s, float64(processed)/s
		}
	case !firstProc.IsZero():
		rep.FirstProcessedS = firstProc.Sub(start).Seconds()
		if s := lastProc.Sub(firstProc).Seconds(); s > 0 {
			rep.ProcessS, rep.ProcessedPerS = s, float64(processed-procAtFirst)/s
		}
	}
	if d.deliver && !firstDel.IsZero() {
		if s := lastDel.Sub(firstDel).Seconds(); s > 0 {
			rep.DeliverS, rep.DeliveredPerS = s, float64(delivered-delAtFirst)/s
		}
	}
	rep.InvalidSigs = recv.bad.Load()
	if cpuAfter == nil && cpuBefore != nil {
		cpuAfter, _ = d.meter.read()
	}
	rep.cpuCost = d.meter.cost(cpuBefore, cpuAfter, rep.Processed)
	if d.deliver && rep.cpuCost != nil && rep.Delivered > 0 {
		rep.CPUPerDelivery = d.meter.cost(cpuBefore, cpuAfter, rep.Delivered).PerUnit
	}
	for _, f := range []*float64{&rep.LoadS, &rep.LoadEventsPerS, &rep.ProcessS, &rep.ProcessedPerS, &rep.DeliverS, &rep.DeliveredPerS, &rep.FirstProcessedS} {
		*f = math.Round(*f*100) / 100
	}
	if o.json {
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", b)
	} else {
		fmt.Fprintf(a.stdout, "bench drain: %d events, %d rules per event, deliver=%v\n", rep.Events, rep.Rules, rep.Deliver)
		fmt.Fprintf(a.stdout, "  load        %.0f events/s (%.1fs)\n", rep.LoadEventsPerS, rep.LoadS)
		fmt.Fprintf(a.stdout, "  processed   %d, %.0f events/s over %.1fs (first after %.1fs); backlog peak %d, final %d\n",
			rep.Processed, rep.ProcessedPerS, rep.ProcessS, rep.FirstProcessedS, rep.PeakBacklog, rep.FinalBacklog)
		if d.deliver {
			fmt.Fprintf(a.stdout, "  delivered   %d, %.0f webhooks/s over %.1fs (invalid signatures %d, receiver saw %d)\n",
				rep.Delivered, rep.DeliveredPerS, rep.DeliverS, rep.InvalidSigs, recv.ok.Load())
		}
		fmt.Fprint(a.stdout, rep.cpuCost.format("processed event"))
	}
	if rep.TimedOut {
		return fmt.Errorf("the backlog did not drain within --wait %s: is `signalops work` running?", d.wait)
	}
	return nil
}

// enabledRules counts the tenant's enabled rules: each event is evaluated
// against all of them, and the usage counter counts every evaluation.
func enabledRules(ctx context.Context, client *benchClient, token string) (int, error) {
	var page struct {
		Data []struct {
			Enabled bool `json:"enabled"`
		} `json:"data"`
		NextCursor *string `json:"nextCursor"`
	}
	if err := client.api(ctx, http.MethodGet, "/api/rules?limit=200", token, nil, &page); err != nil {
		return 0, fmt.Errorf("list rules: %w", err)
	}
	if page.NextCursor != nil {
		return 0, errors.New("the tenant has more than 200 rules: use a tenant of its own for bench drain")
	}
	n := 0
	for _, r := range page.Data {
		if r.Enabled {
			n++
		}
	}
	return n, nil
}

// eventProcessed tells whether the event id has been processed (GET
// /api/events/:id says so); any error is a no.
func eventProcessed(ctx context.Context, client *benchClient, token, id string) bool {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var ev struct {
		Status string `json:"status"`
	}
	return client.api(rctx, http.MethodGet, "/api/events/"+id, token, nil, &ev) == nil && ev.Status == "processed"
}

// drainProgress returns how to read the events processed and webhooks
// delivered since the start of the run: from the tenant's usage counters
// (rule evaluations ÷ its enabled rules, notifications), or with --rules 0
// from the queue depth on serve's /metrics (loaded − still queued).
func drainProgress(ctx context.Context, client *benchClient, d drainOptions, loaded func() int64, settled func() bool) (func() (processed, delivered int64, err error), error) {
	read := func(f func(context.Context) error) error {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return f(rctx)
	}
	if d.rules == 0 {
		depth := func(ctx context.Context) (float64, error) {
			return client.scrapeMetric(ctx, d.metricsURL, "signalops_queue_depth", map[string]string{"kind": "event.process"})
		}
		var base float64
		if err := read(func(ctx context.Context) (err error) { base, err = depth(ctx); return err }); err != nil {
			return nil, fmt.Errorf("--rules 0 reads the queue depth: %w", err)
		}
		if base > 0 {
			return nil, fmt.Errorf("%.0f event.process jobs are already queued: --rules 0 counts progress by the queue depth, so it needs an empty queue", base)
		}
		return func() (int64, int64, error) {
			// The gauge may be up to gaugeMaxAge old: until the load ended
			// longer ago than that, it may predate rows already loaded, and
			// "loaded − queued" would count them as processed.
			if !settled() {
				return 0, 0, errors.New("queue depth not yet sampled after the load")
			}
			n := loaded()
			var v float64
			err := read(func(ctx context.Context) (err error) { v, err = depth(ctx); return err })
			return n - int64(v), 0, err
		}, nil
	}
	perEvent, err := enabledRules(ctx, client, d.token)
	if err != nil {
		return nil, err
	}
	usage := func() (usageCounts, error) {
		var u usageCounts
		return u, read(func(ctx context.Context) error {
			return client.api(ctx, http.MethodGet, "/api/usage", d.token, nil, &u)
		})
	}
	base, err := usage()
	if err != nil {
		return nil, fmt.Errorf("read usage: %w", err)
	}
	return func() (int64, int64, error) {
		u, err := usage()
		if err != nil {
			return 0, 0, err
		}
		return (u.Current.RuleEvaluations - base.Current.RuleEvaluations) / int64(perEvent),
			u.Current.Notifications.Total - base.Current.Notifications.Total, nil
	}, nil
}
