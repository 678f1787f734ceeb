package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/modules/notify"
)

// Flow control per channel (SPEC §8) through the production router and a
// real worker: the circuit breaker against a receiver that fails and then
// recovers, a healthy channel next to one that times out, the rate cap,
// a receiver's 429 + Retry-After, and fallback on an open circuit. Bulk DLQ
// recovery is in dlq_test.go.

// flowReceiver is a webhook endpoint whose answer the test sets; it counts
// every request (valid or not), the deliveries it accepted by webhook-id,
// when each request arrived, and how many were in flight at once.
type flowReceiver struct {
	srv *httptest.Server

	// answer: 0 accepts (204); a status answers it; -1 holds the request
	// until the client gives up (a receiver that never answers).
	answer     atomic.Int32
	retryAfter atomic.Int32 // seconds, sent with a 429

	mu       sync.Mutex
	requests []time.Time
	accepted map[string]int       // webhook-id → accepted deliveries
	arrived  map[string]time.Time // "<event type>:<payload.n>" → first accepted
	inFlight int
	most     int // most requests in flight at once
}

func newFlowReceiver(t *testing.T) *flowReceiver {
	rx := &flowReceiver{accepted: map[string]int{}, arrived: map[string]time.Time{}}
	rx.srv = httptest.NewServer(rx)
	t.Cleanup(rx.srv.Close)
	return rx
}

func (rx *flowReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	var body bytes.Buffer
	_, _ = body.ReadFrom(r.Body)
	rx.mu.Lock()
	rx.requests = append(rx.requests, now)
	rx.inFlight++
	rx.most = max(rx.most, rx.inFlight)
	rx.mu.Unlock()
	defer func() {
		rx.mu.Lock()
		rx.inFlight--
		rx.mu.Unlock()
	}()
	switch a := rx.answer.Load(); {
	case a == -1:
		<-r.Context().Done() // the sender's NOTIFY_TIMEOUT ends it
		return
	case a == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(int(rx.retryAfter.Load())))
		w.WriteHeader(int(a))
		return
	case a != 0:
		w.WriteHeader(int(a))
		return
	}
	var msg struct {
		Type string
		Data struct {
			Event struct {
				Payload struct{ N json.Number }
			}
		}
	}
	_ = json.Unmarshal(body.Bytes(), &msg)
	key := msg.Type + ":" + msg.Data.Event.Payload.N.String()
	id := r.Header.Get("webhook-id")
	rx.mu.Lock()
	rx.accepted[id]++
	if _, ok := rx.arrived[key]; !ok {
		rx.arrived[key] = now
	}
	rx.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rx *flowReceiver) url() string { return rx.srv.URL + "/hook" }

// snapshot returns the request times, accepted deliveries (total and
// distinct), and the most requests seen in flight at once.
func (rx *flowReceiver) snapshot() (requests []time.Time, total, distinct, most int) {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	for _, n := range rx.accepted {
		total += n
	}
	return slices.Clone(rx.requests), total, len(rx.accepted), rx.most
}

func (rx *flowReceiver) requestCount() int {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return len(rx.requests)
}

// flowChannel creates a webhook channel to rx with extra config members
// (`"rateLimit":{…}`, or "").
func (b *tenantBundle) flowChannel(t *testing.T, name, url, extra string) string {
	t.Helper()
	if extra != "" {
		extra = "," + extra
	}
	rec := b.api(t, "POST", "/api/channels", `{"name":"`+name+`","kind":"webhook","config":{"url":"`+url+`"`+extra+`},
		"secrets":{"signingSecret":"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var ch struct {
		ID     string
		Health struct{ State string }
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ch))
	require.Equal(t, "closed", ch.Health.State)
	return ch.ID
}

// channelHealth is the health of GET /api/channels/{id}.
type channelHealth struct {
	State               string
	ConsecutiveFailures int
	OpenedAt            *time.Time
	NextProbeAt         *time.Time
	LastError           *string
	PausedUntil         *time.Time
}

func (b *tenantBundle) health(t *testing.T, channelID string) channelHealth {
	t.Helper()
	rec := b.api(t, "GET", "/api/channels/"+channelID, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var ch struct{ Health channelHealth }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ch))
	return ch.Health
}

// eventsOfType lists the tenant's events of one type (the circuit events).
func (b *tenantBundle) eventsOfType(t *testing.T, typ string) []map[string]any {
	t.Helper()
	rec := b.api(t, "GET", "/api/events?type="+typ, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var page struct{ Data []map[string]any }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	return page.Data
}

func (b *tenantBundle) ingestN(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = b.ingest(t, fmt.Sprintf(`{"type":"order.created","payload":{"n":%d}}`, i))
	}
	return ids
}

// TestCircuitBreaker: a receiver that fails every request opens its
// channel's circuit after CHANNEL_BREAKER_FAILURES; while open it sees
// only probes, at most one per probe interval, and the waiting deliveries
// spend no attempt; when it recovers the first probe closes the circuit
// and every waiting delivery arrives exactly once. Opening and closing are
// the tenant's own events, health and metrics show it.
func TestCircuitBreaker(t *testing.T) {
	t.Parallel()

	const (
		failures = 3
		probe    = 300 * time.Millisecond
		probeMax = time.Second
		events   = 12
	)
	b := setupTenant(t, func(c *config.Config) {
		c.Notify.Breaker = config.Breaker{Failures: failures, Probe: probe, ProbeMax: probeMax}
		// One send in flight per channel: the receiver's count is then exact
		// (with more, sends already in flight when the circuit opens also
		// arrive: at most NOTIFY_CHANNEL_CONCURRENCY-1 per work process).
		c.Notify.ChannelConcurrency = 1
		// Retries far apart, so that a delivery spends attempts only on sends.
		c.Notify.RetrySchedule = []time.Duration{2 * time.Second, 2 * time.Second, 2 * time.Second}
	})
	rx := newFlowReceiver(t)
	rx.answer.Store(http.StatusServiceUnavailable)
	ch := b.flowChannel(t, "flaky", rx.url(), "")
	b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+ch+`","template":"order {{.payload.n}}"}]}`)

	ids := b.ingestN(t, events)
	var h channelHealth
	require.Eventually(t, func() bool { h = b.health(t, ch); return h.State == "open" }, 20*time.Second, 10*time.Millisecond)
	opened := time.Now()
	require.GreaterOrEqual(t, h.ConsecutiveFailures, failures)
	require.NotNil(t, h.OpenedAt)
	require.NotNil(t, h.NextProbeAt)
	require.NotNil(t, h.LastError)
	require.Contains(t, *h.LastError, "503")
	atOpen := rx.requestCount()
	require.Equal(t, failures, atOpen, "one send in flight at a time: the circuit opened on the third failure")

	// Stay down for several probe intervals.
	require.Eventually(t, func() bool { return rx.requestCount() >= atOpen+3 }, 20*time.Second, 10*time.Millisecond,
		"probes go out while the circuit is open")
	time.Sleep(probeMax)
	down := time.Since(opened)
	whileOpen := rx.requestCount() - atOpen
	bound := notify.FlowOptions{BreakerProbe: probe, BreakerProbeMax: probeMax}.MostProbes(down+100*time.Millisecond) + 1
	t.Logf("receiver down: %d requests in all, %d of them probes over %s open (at most %d allowed)",
		rx.requestCount(), whileOpen, down.Round(time.Millisecond), bound)
	require.LessOrEqual(t, whileOpen, bound, "at most one probe per probe interval while open")
	h = b.health(t, ch)
	require.Contains(t, []string{"open", "halfOpen"}, h.State)
	require.Greater(t, h.ConsecutiveFailures, failures, "failed probes count")

	// Waiting spent nothing: every delivery is pending, none is dead, and
	// no delivery has more recorded attempts than sends that reached it.
	var pending, dead int
	require.NoError(t, b.sys.db.Get(&pending, `SELECT count(*) FROM deliveries WHERE status = 'pending'`))
	require.NoError(t, b.sys.db.Get(&dead, `SELECT count(*) FROM river_job WHERE kind = 'notify.deliver' AND state IN ('discarded', 'cancelled')`))
	require.Equal(t, events, pending)
	require.Zero(t, dead)
	// A probe may be at the receiver and not yet recorded: the attempts
	// (read first) never outnumber the requests (read after), and catch up.
	var extra atomic.Bool
	require.Eventually(t, func() bool {
		var n int
		if err := b.sys.db.Get(&n, `SELECT count(*) FROM delivery_attempts`); err != nil {
			return false
		}
		sent := rx.requestCount()
		extra.Store(extra.Load() || n > sent)
		return n == sent
	}, 5*time.Second, 5*time.Millisecond, "an attempt is recorded per request, none per wait")
	require.False(t, extra.Load(), "no attempt is recorded without a request")
	var spent int
	require.NoError(t, b.sys.db.Get(&spent, `SELECT coalesce(max(attempt), 0) FROM river_job WHERE kind = 'notify.deliver' AND state <> 'running'`))
	require.LessOrEqual(t, spent, 2, "a waiting job spends no attempt (the opener's retry is its one more)")

	// Recovery: the next probe succeeds and closes the circuit.
	recovered := time.Now()
	rx.answer.Store(0)
	require.Eventually(t, func() bool { h = b.health(t, ch); return h.State == "closed" }, 20*time.Second, 10*time.Millisecond)
	t.Logf("closed %s after the receiver recovered (probe interval then at most %s)", time.Since(recovered).Round(time.Millisecond), probeMax)
	require.Zero(t, h.ConsecutiveFailures)
	require.Nil(t, h.OpenedAt)
	require.Nil(t, h.NextProbeAt)

	require.Eventually(t, func() bool { _, total, _, _ := rx.snapshot(); return total >= events }, 20*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // room for a duplicate
	_, total, distinct, most := rx.snapshot()
	require.Equal(t, events, distinct, "every waiting delivery arrived")
	require.Equal(t, events, total, "each exactly once")
	require.Equal(t, 1, most)
	for _, id := range ids {
		require.Eventually(t, func() bool {
			ds := b.deliveries(t, id)
			return len(ds) == 1 && ds[ch].Status == "succeeded"
		}, 10*time.Second, 20*time.Millisecond)
	}

	// The tenant's own events, for its rules.
	require.Eventually(t, func() bool { return len(b.eventsOfType(t, "channel.circuit_closed")) == 1 }, 10*time.Second, 20*time.Millisecond)
	openedEvents := b.eventsOfType(t, "channel.circuit_opened")
	require.Len(t, openedEvents, 1)
	payload := openedEvents[0]["payload"].(map[string]any)
	require.Equal(t, ch, payload["channelId"])
	require.Equal(t, "flaky", payload["name"])
	require.Equal(t, "webhook", payload["kind"])
	require.Contains(t, payload["lastError"], "503")
	require.Equal(t, "signalops", openedEvents[0]["source"])

	// Metrics: transitions, waits, and the gauge of open circuits.
	b.sys.registerWorkGauges()
	body := serveReq(workMetricsHandler(b.sys), "GET", "/metrics", "").Body.String()
	require.Contains(t, body, `signalops_channel_circuit_transitions_total{state="open"}`)
	require.Contains(t, body, `signalops_channel_circuit_transitions_total{state="half_open"}`)
	require.Contains(t, body, `signalops_channel_circuit_transitions_total{state="closed"} 1`)
	require.Contains(t, body, `signalops_delivery_waits_total{kind="webhook",reason="circuit"}`)
	require.Contains(t, body, `signalops_channel_circuits{state="open"} 0`)
}

// TestSlowChannelDoesNotHoldUpOthers: one channel's receiver never answers
// (every request takes the whole NOTIFY_TIMEOUT), another channel of the
// same tenant is healthy; with NOTIFY_WORKERS 8 and a cap of 2 sends in
// flight per channel, the slow one holds 2 workers and the healthy one's
// deliveries all arrive while the slow one's backlog is still being tried.
func TestSlowChannelDoesNotHoldUpOthers(t *testing.T) {
	t.Parallel()

	const n = 20
	b := setupTenant(t, func(c *config.Config) {
		c.Notify.Workers = 8
		c.Notify.ChannelConcurrency = 2
		c.Notify.Timeout = time.Second
		c.Notify.Breaker.Failures = 1000 // fairness alone: the breaker would cut the slow one off
	})
	slow, fast := newFlowReceiver(t), newFlowReceiver(t)
	slow.answer.Store(-1)
	slowCh := b.flowChannel(t, "slow", slow.url(), "")
	fastCh := b.flowChannel(t, "fast", fast.url(), "")

	// Baseline: the healthy channel alone.
	b.rule(t, `{"match":{"type":"base.*"},"actions":[{"channelId":"`+fastCh+`","template":"x"}]}`)
	baseline := measureDeliveries(t, b, fast, "base.created", n)

	// Both channels: each event goes to the slow one and to the healthy one.
	b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+slowCh+`","template":"x"},{"channelId":"`+fastCh+`","template":"y"}]}`)
	mixed := measureDeliveries(t, b, fast, "order.created", n)
	slowRequests, _, _, slowMost := slow.snapshot()
	t.Logf("healthy channel, event → webhook: alone p50 %s max %s; next to a channel timing out on every request p50 %s max %s; "+
		"the slow receiver had %d requests meanwhile, at most %d at once",
		pct(baseline, 50), pct(baseline, 100), pct(mixed, 50), pct(mixed, 100), len(slowRequests), slowMost)
	require.LessOrEqual(t, slowMost, 2, "the slow channel never had more than its cap in flight")
	require.Less(t, len(slowRequests), n, "the healthy deliveries did not wait for the slow channel's backlog")
	var waits int
	require.NoError(t, b.sys.db.Get(&waits, `SELECT count(*) FROM deliveries WHERE channel_id = $1 AND status = 'pending'`, slowCh))
	require.Positive(t, waits)
}

// measureDeliveries ingests n events of typ and returns, for each, the time
// from its ingestion to its arrival at rx.
func measureDeliveries(t *testing.T, b *tenantBundle, rx *flowReceiver, typ string, n int) []time.Duration {
	t.Helper()
	_, before, _, _ := rx.snapshot()
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = time.Now()
		b.ingest(t, fmt.Sprintf(`{"type":"%s","payload":{"n":%d}}`, typ, i))
	}
	require.Eventually(t, func() bool { _, total, _, _ := rx.snapshot(); return total >= before+n }, 30*time.Second, 5*time.Millisecond)
	rx.mu.Lock()
	defer rx.mu.Unlock()
	out := make([]time.Duration, n)
	for i := range n {
		at, ok := rx.arrived[fmt.Sprintf("%s:%d", typ, i)]
		require.True(t, ok, "event %d of %s arrived", i, typ)
		out[i] = at.Sub(sent[i])
	}
	return out
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := min(len(s)-1, len(s)*p/100)
	return s[i].Round(time.Millisecond)
}

// TestRateCap: a channel with rateLimit.perSecond 2 gets its deliveries
// paced one slot (500 ms) apart at the receiver, each delivery spending
// one attempt however long it waited.
func TestRateCap(t *testing.T) {
	t.Parallel()

	const (
		n    = 8
		rate = 2.0
	)
	b := setupTenant(t, nil)
	rx := newFlowReceiver(t)
	ch := b.flowChannel(t, "capped", rx.url(), `"rateLimit":{"perSecond":2}`)
	rec := b.api(t, "GET", "/api/channels/"+ch, "")
	require.Contains(t, rec.Body.String(), `"rateLimit":{"perSecond":2}`)
	b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+ch+`","template":"x"}]}`)
	b.ingestN(t, n)

	require.Eventually(t, func() bool { _, total, _, _ := rx.snapshot(); return total == n }, 30*time.Second, 10*time.Millisecond)
	reqs, _, distinct, _ := rx.snapshot()
	require.Equal(t, n, distinct)
	require.Len(t, reqs, n)
	span := reqs[n-1].Sub(reqs[0])
	// Sends never start before their slots, slots are 1/rate apart, and a
	// slot is used at most slotGrace (2 s) late: n sends span at least
	// (n-1)/rate - 2 s. Without the cap they arrive within milliseconds.
	interval := time.Duration(float64(time.Second) / rate)
	t.Logf("%d deliveries at %v/s arrived over %s; gaps %v", n, rate, span.Round(time.Millisecond), gaps(reqs))
	require.GreaterOrEqual(t, span, time.Duration(n-1)*interval-2*time.Second)
	var spent int
	require.NoError(t, b.sys.db.Get(&spent, `SELECT max(attempt) FROM river_job WHERE kind = 'notify.deliver'`))
	require.Equal(t, 1, spent, "waiting for a slot spends no attempt")
}

func gaps(ts []time.Time) []time.Duration {
	out := make([]time.Duration, 0, len(ts))
	for i := 1; i < len(ts); i++ {
		out = append(out, ts[i].Sub(ts[i-1]).Round(10*time.Millisecond))
	}
	return out
}

// TestReceiverThrottles: a 429 with Retry-After pauses the whole channel
// (no send starts before the pause ends) and spends no attempt: with only
// two attempts allowed, a delivery answered 429 twice still arrives.
func TestReceiverThrottles(t *testing.T) {
	t.Parallel()

	const n = 4
	b := setupTenant(t, func(c *config.Config) {
		c.Notify.ChannelConcurrency = 1
		c.Notify.RetrySchedule = []time.Duration{100 * time.Millisecond} // two attempts
	})
	rx := newFlowReceiver(t)
	rx.retryAfter.Store(1)
	rx.answer.Store(http.StatusTooManyRequests)
	ch := b.flowChannel(t, "throttled", rx.url(), "")
	b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+ch+`","template":"x"}]}`)
	b.ingestN(t, n)

	require.Eventually(t, func() bool { return rx.requestCount() >= 1 }, 20*time.Second, 5*time.Millisecond)
	var h channelHealth
	require.Eventually(t, func() bool { h = b.health(t, ch); return h.PausedUntil != nil }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, "closed", h.State, "a 429 is no failure of the receiver")
	require.Zero(t, h.ConsecutiveFailures)
	require.Eventually(t, func() bool { return rx.requestCount() >= 2 }, 20*time.Second, 5*time.Millisecond)
	rx.answer.Store(0) // the third request is accepted
	require.Eventually(t, func() bool { _, total, _, _ := rx.snapshot(); return total == n }, 30*time.Second, 10*time.Millisecond)

	reqs, total, distinct, _ := rx.snapshot()
	require.Equal(t, n, total)
	require.Equal(t, n, distinct)
	// Every request after a 429 started after its Retry-After (1 s).
	require.GreaterOrEqual(t, reqs[1].Sub(reqs[0]), time.Second, "the channel waited out the first 429")
	require.GreaterOrEqual(t, reqs[2].Sub(reqs[1]), time.Second, "and the second")
	t.Logf("requests: %d for %d deliveries; gaps %v", len(reqs), n, gaps(reqs))
	var dead, spent int
	require.NoError(t, b.sys.db.Get(&dead, `SELECT count(*) FROM river_job WHERE kind = 'notify.deliver' AND state IN ('discarded', 'cancelled')`))
	require.NoError(t, b.sys.db.Get(&spent, `SELECT max(attempt) FROM river_job WHERE kind = 'notify.deliver'`))
	require.Zero(t, dead)
	require.Equal(t, 1, spent, "a 429 spends no attempt")
	var throttled int
	require.NoError(t, b.sys.db.Get(&throttled, `SELECT count(*) FROM delivery_attempts WHERE status_code = 429`))
	require.Equal(t, 2, throttled, "the 429s are recorded as attempts for the record, not spent")
}

// TestFallbackOnOpenCircuit: SPEC §10's third trigger. Once channel A's
// circuit is open, a new delivery to A goes to its fallback B at once,
// without a request to A.
func TestFallbackOnOpenCircuit(t *testing.T) {
	t.Parallel()

	b := setupTenant(t, func(c *config.Config) {
		c.Notify.Breaker = config.Breaker{Failures: 2, Probe: time.Hour, ProbeMax: time.Hour}
		c.Notify.RetrySchedule = []time.Duration{time.Hour}
	})
	down, up := newFlowReceiver(t), newFlowReceiver(t)
	down.answer.Store(http.StatusBadGateway)
	a := b.flowChannel(t, "primary", down.url(), "")
	fb := b.flowChannel(t, "backup", up.url(), "")
	// Open A's circuit with a rule that has no fallback.
	b.rule(t, `{"match":{"type":"warmup.*"},"actions":[{"channelId":"`+a+`","template":"x"}]}`)
	for i := range 2 {
		b.processed(t, b.ingest(t, fmt.Sprintf(`{"type":"warmup.x","payload":{"n":%d}}`, i)))
	}
	require.Eventually(t, func() bool { return b.health(t, a).State == "open" }, 20*time.Second, 10*time.Millisecond)
	before := down.requestCount()

	b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+a+`","template":"order {{.payload.n}}","fallback":["`+fb+`"]}]}`)
	id := b.ingest(t, `{"type":"order.created","payload":{"n":1}}`)
	require.Eventually(t, func() bool { _, total, _, _ := up.snapshot(); return total == 1 }, 20*time.Second, 10*time.Millisecond)
	var ds map[string]deliveryRow
	require.Eventually(t, func() bool { ds = b.deliveries(t, id); return ds[fb].Status == "succeeded" }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "failed", ds[a].Status)
	require.Empty(t, ds[a].Attempts, "no request went to the open channel")
	require.NotNil(t, ds[a].LastError)
	require.True(t, strings.HasPrefix(*ds[a].LastError, "channel circuit open"), *ds[a].LastError)
	require.Equal(t, ds[a].ID, *ds[fb].FallbackOf)
	require.Equal(t, before, down.requestCount())
}
