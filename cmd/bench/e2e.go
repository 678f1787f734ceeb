package bench

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
)

func newBenchE2ECmd() *cobra.Command {
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

With --cgroup name=dir (repeated: PostgreSQL's, serve's and work's groups),
the CPU time each group spent from the first send until the last accepted
event's webhook arrived is reported, in total and per delivered event.

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
			meter, err := o.meter()
			if err != nil {
				return err
			}
			return outputOf(cmd).runBenchE2E(cmd.Context(), &o, e2eOptions{token: token, listen: listen, hookURL: hookURL, wait: wait, meter: meter})
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

type e2eOptions struct {
	token, listen, hookURL string
	wait                   time.Duration
	meter                  cpuMeter
}

// VerifyWebhookSignature checks a Standard Webhooks signature header (one
// or more space-separated "v1,<base64>") against HMAC-SHA256(key,
// id.timestamp.body), and the timestamp against now within tolerance: what
// a receiver does. bench's receivers use it, and so do the tests' (it is
// written from the spec, apart from the signing code it checks).
func VerifyWebhookSignature(key []byte, id, timestamp string, body []byte, header string, now time.Time, tolerance time.Duration) bool {
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
	if !VerifyWebhookSignature(h.key, id, r.Header.Get("webhook-timestamp"), body, r.Header.Get("webhook-signature"), received, 5*time.Minute) {
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

// collect fills the delivery counts of r for the accepted events and
// returns their latencies, sorted.
func (h *hookReceiver) collect(r *e2eReport, accepted map[int64]struct{}) []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	var lat []time.Duration
	for i := range accepted {
		if d, ok := h.latency[i]; ok {
			lat = append(lat, d)
		}
	}
	r.Delivered = int64(len(lat))
	r.Missing = int64(len(accepted)) - r.Delivered
	r.Unexpected = int64(len(h.latency)) - r.Delivered
	r.Duplicates, r.DuplicateEvents, r.InvalidSignatures = h.dupIDs, h.dupEvents, h.invalid
	slices.Sort(lat)
	return lat
}

// signedHook is a local webhook receiver, and the fresh signing secret
// the channel that delivers to it signs with.
type signedHook struct {
	secret string // "whsec_…", for the channel
	url    string // where the channel delivers: hookURL, or the receiver's /hook
	stop   func()
}

// startSignedHook makes a signing secret and serves the receiver newHandler
// builds for its key on listen.
func startSignedHook(listen, hookURL string, newHandler func(key []byte) http.Handler) (signedHook, error) {
	secret, key, err := newSigningSecret()
	if err != nil {
		return signedHook{}, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return signedHook{}, fmt.Errorf("webhook receiver: %w", err)
	}
	srv := &http.Server{Handler: newHandler(key), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop := func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second) //nolint:forbidigo // runs after the run's context is done
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	if hookURL == "" {
		hookURL = "http://" + ln.Addr().String() + "/hook"
	}
	return signedHook{secret: secret, url: hookURL, stop: stop}, nil
}

// benchTenant is a tenant a run sends as: its credentials, and the webhook
// channel and rule setupHook made for it.
type benchTenant struct {
	key, token        string
	channelID, ruleID string
}

// createWebhookChannel makes a webhook channel to hook, signed with its
// secret, and returns its id.
func createWebhookChannel(ctx context.Context, client *benchClient, token, name string, hook signedHook) (string, error) {
	var channel struct {
		ID string `json:"id"`
	}
	err := client.api(ctx, http.MethodPost, "/api/channels", token, map[string]any{
		"name": name, "kind": "webhook",
		"config":  map[string]any{"url": hook.url},
		"secrets": map[string]any{"signingSecret": hook.secret},
	}, &channel)
	if err != nil {
		return "", fmt.Errorf("create webhook channel: %w", err)
	}
	return channel.ID, nil
}

// setupHook makes a webhook channel to hook and
// a rule on events of type typ that fires for each with template.
func (t *benchTenant) setupHook(ctx context.Context, client *benchClient, name string, hook signedHook, typ, template string) error {
	var err error
	if t.channelID, err = createWebhookChannel(ctx, client, t.token, name, hook); err != nil {
		return err
	}
	var rule struct {
		ID string `json:"id"`
	}
	err = client.api(ctx, http.MethodPost, "/api/rules", t.token, map[string]any{
		"name": name, "enabled": true,
		"definition": map[string]any{
			"match":   map[string]any{"type": typ},
			"actions": []any{map[string]any{"channelId": t.channelID, "template": template}},
		},
	}, &rule)
	if err != nil {
		return fmt.Errorf("create rule: %w", err)
	}
	t.ruleID = rule.ID
	return nil
}

// cleanup deletes the rule and channel setupHook made.
func (t *benchTenant) cleanup(ctx context.Context, client *benchClient) error {
	var errs []error
	if t.ruleID != "" {
		errs = append(errs, client.api(ctx, http.MethodDelete, "/api/rules/"+t.ruleID, t.token, nil, nil))
	}
	if t.channelID != "" {
		errs = append(errs, client.api(ctx, http.MethodDelete, "/api/channels/"+t.channelID, t.token, nil, nil))
	}
	return errors.Join(errs...)
}

// awaitProbe waits for the probe delivery; hint says what to check when
// none arrives within wait.
func (r *hookReceiver) awaitProbe(ctx context.Context, wait time.Duration, hint string) error {
	select {
	case <-r.probe:
		return nil
	case <-ctx.Done():
		return errors.New("interrupted while waiting for the probe delivery")
	case <-time.After(wait):
		return fmt.Errorf("no webhook delivery arrived within %s: %s", wait, hint)
	}
}

func (a *streams) runBenchE2E(ctx context.Context, o *benchOptions, e e2eOptions) (err error) {
	client := newBenchClient(o.url, o.concurrency, o.timeout)
	key := o.allKeys()[0]
	var recv *hookReceiver
	hook, err := startSignedHook(e.listen, e.hookURL, func(key []byte) http.Handler { recv = newHookReceiver(key); return recv })
	if err != nil {
		return err
	}
	defer hook.stop()
	fmt.Fprintf(a.stderr, "bench e2e: receiver listening on %s\n", hook.url)

	// Setup and cleanup use their own deadline: Ctrl-C still cleans up.
	mgmt := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	}
	tenant := benchTenant{key: key, token: e.token}
	defer func() {
		cctx, cancel := mgmt()
		defer cancel()
		if derr := tenant.cleanup(cctx, client); derr != nil {
			fmt.Fprintf(a.stderr, "bench e2e: cleanup: %v\n", derr)
		}
		if tenant.ruleID != "" || tenant.channelID != "" {
			fmt.Fprintf(a.stderr, "bench e2e: deleted rule %s and channel %s\n", tenant.ruleID, tenant.channelID)
		}
	}()

	sctx, cancel := mgmt()
	defer cancel()
	if err := tenant.setupHook(sctx, client, "bench", hook, "bench.e2e", "{{.payload.sentAt}}"); err != nil {
		return err
	}
	recv.setRule(tenant.ruleID)
	fmt.Fprintf(a.stderr, "bench e2e: created channel %s and rule %s; waiting for a probe delivery\n", tenant.channelID, tenant.ruleID)

	// A probe proves the pipeline works before the clock starts.
	probe := appendBenchEvent(nil, "bench.e2e", -1, time.Now())
	if po := client.postEvent(sctx, key, probe); !po.ok() {
		return fmt.Errorf("send probe event: %s", errorKey(po))
	}
	if err := recv.awaitProbe(ctx, e.wait, "is `signalops work` running on the same database, "+
		"do --key and --token belong to the same tenant, and does the server run with WEBHOOK_ALLOW_PRIVATE=true?"); err != nil {
		return err
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
	cpuBefore, err := e.meter.read()
	if err != nil {
		return err
	}
	res := runLoad(ctx, o.loadConfig(), send)

	// CPU is counted until the last accepted event's webhook arrived (or
	// --wait ran out): what a delivered event cost, sending to arrival.
	deadline := time.Now().Add(e.wait)
	for ctx.Err() == nil && time.Now().Before(deadline) && recv.delivered(accepted) < len(accepted) {
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	cpuAfter, err := e.meter.read()
	if err != nil {
		return err
	}
	if ctx.Err() != nil {
		res.interrupted = true
	}

	rep := newBenchReport("e2e", o, 1, res)
	rep.e2eReport = &e2eReport{
		IngestP50MS: rep.P50MS, IngestP95MS: rep.P95MS, IngestP99MS: rep.P99MS, IngestMaxMS: rep.MaxMS,
	}
	lat := recv.collect(rep.e2eReport, accepted)
	recv.mu.Lock()
	malformed, foreign := recv.malformed, recv.foreign
	recv.mu.Unlock()
	rep.P50MS, rep.P95MS = ms(percentile(lat, 50)), ms(percentile(lat, 95))
	rep.P99MS, rep.MaxMS = ms(percentile(lat, 99)), ms(percentile(lat, 100))
	rep.cpuCost = e.meter.cost(cpuBefore, cpuAfter, rep.Delivered)
	if malformed > 0 || foreign > 0 {
		fmt.Fprintf(a.stderr, "bench e2e: ignored %d malformed deliveries and %d of other rules\n", malformed, foreign)
	}
	return a.printBench(rep, o.json)
}
