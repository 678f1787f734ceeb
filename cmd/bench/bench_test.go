package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/notify"
)

func TestBenchPercentile(t *testing.T) {
	require.Zero(t, percentile(nil, 50))

	one := []time.Duration{7}
	for _, p := range []float64{0.1, 50, 99, 100} {
		require.Equal(t, time.Duration(7), percentile(one, p))
	}

	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i))
	}
	slices.Sort(hundred)
	for p, want := range map[float64]time.Duration{50: 50, 95: 95, 99: 99, 99.9: 100, 100: 100, 1: 1, 0.5: 1} {
		require.Equal(t, want, percentile(hundred, p), "p%v", p)
	}

	// Nearest rank on 10 samples: p95 and p99 are both the 10th.
	ten := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	require.Equal(t, time.Duration(5), percentile(ten, 50))
	require.Equal(t, time.Duration(10), percentile(ten, 95))
	require.Equal(t, time.Duration(10), percentile(ten, 99))
	require.Equal(t, time.Duration(9), percentile(ten, 90))
}

func TestBenchMergeTallies(t *testing.T) {
	a := &tally{}
	b := &tally{}
	a.record(benchOutcome{status: 202, events: 1}, 3*time.Millisecond)
	a.record(benchOutcome{status: 429}, time.Millisecond)
	b.record(benchOutcome{status: 200, events: 7}, time.Millisecond)
	b.record(benchOutcome{status: 429}, time.Millisecond)
	b.record(benchOutcome{err: context.DeadlineExceeded}, time.Second)
	b.record(benchOutcome{err: errors.New("connection refused")}, time.Second)
	r := mergeTallies([]*tally{a, b, {}})
	require.EqualValues(t, 6, r.requests)
	require.EqualValues(t, 2, r.ok)
	require.EqualValues(t, 8, r.events)
	require.Equal(t, map[string]int64{"429": 2, "timeout": 1, "transport": 1}, r.errors)
	require.Equal(t, []time.Duration{time.Millisecond, 3 * time.Millisecond}, r.latencies, "only successes, sorted")
}

func TestBenchDueAt(t *testing.T) {
	start := time.Now()
	require.Equal(t, start, dueAt(start, 0, 300))
	require.Equal(t, time.Second, dueAt(start, 300, 300).Sub(start))
	require.Equal(t, 4*time.Millisecond, dueAt(start, 1, 250).Sub(start))
	// Computed from the index, so no drift over a long run.
	require.Equal(t, time.Hour, dueAt(start, 3600*1000, 1000).Sub(start))
}

func TestBenchOpenLoopSendsEverySlot(t *testing.T) {
	var calls atomic.Int64
	var late atomic.Int64
	send := func(_ context.Context, seq int64, due time.Time) benchOutcome {
		calls.Add(1)
		if due.After(time.Now().Add(time.Millisecond)) {
			late.Add(1) // sent before it was due: must never happen
		}
		return benchOutcome{status: 202, events: 1}
	}
	// 200/s for 250 ms, 100 ms warmup: slots 0–69 are sent, 20–69 counted.
	r := runLoad(context.Background(), loadConfig{concurrency: 100, rate: 200, duration: 250 * time.Millisecond, warmup: 100 * time.Millisecond}, send)
	require.EqualValues(t, 70, calls.Load())
	require.Zero(t, late.Load())
	require.EqualValues(t, 50, r.requests)
	require.EqualValues(t, 50, r.ok)
	require.EqualValues(t, 50, r.events)
	require.Zero(t, r.dropped)
	require.Len(t, r.latencies, 50)
	require.Equal(t, 250*time.Millisecond, r.window)
	require.False(t, r.interrupted)
}

func TestBenchOpenLoopDropsWhenSaturated(t *testing.T) {
	// One slot in flight for longer than the whole run: every later slot
	// falls due while the only worker is busy, so it is dropped, and the
	// one sent reports latency from its due time.
	send := func(context.Context, int64, time.Time) benchOutcome {
		time.Sleep(400 * time.Millisecond)
		return benchOutcome{status: 202, events: 1}
	}
	r := runLoad(context.Background(), loadConfig{concurrency: 1, rate: 1000, duration: 50 * time.Millisecond}, send)
	require.EqualValues(t, 1, r.requests)
	require.EqualValues(t, 49, r.dropped)
	require.GreaterOrEqual(t, r.latencies[0], 400*time.Millisecond)
}

func TestBenchClosedLoopAndCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	seen := make(chan int64, 1000)
	send := func(_ context.Context, seq int64, _ time.Time) benchOutcome {
		if calls.Add(1) == 20 {
			cancel()
		}
		seen <- seq
		return benchOutcome{status: 503}
	}
	r := runLoad(ctx, loadConfig{concurrency: 2, duration: time.Hour}, send)
	require.True(t, r.interrupted)
	require.Less(t, r.window, time.Hour)
	require.Equal(t, calls.Load(), r.requests)
	require.Zero(t, r.ok)
	require.Equal(t, map[string]int64{"503": r.requests}, r.errors)
	close(seen)
	var seqs []int64
	for s := range seen {
		seqs = append(seqs, s)
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		require.EqualValues(t, i, s, "sequence numbers are unique and dense")
	}
}

func TestBenchEventBody(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600))
	b := appendBenchEvent(nil, "bench.event", 42, at)
	require.JSONEq(t, `{"type":"bench.event","payload":{"i":42,"sentAt":"2026-05-01T11:00:00.123456789Z"}}`, string(b))
}

func TestBenchBatchBody(t *testing.T) {
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	require.JSONEq(t, `{"events":[
		{"type":"bench.event","payload":{"i":7,"sentAt":"2026-05-01T12:00:00Z"}},
		{"type":"bench.event","payload":{"i":8,"sentAt":"2026-05-01T12:00:00Z"}}]}`, string(benchBatch("bench.event", 7, 2, at)))
}

func TestBenchBatchAccepted(t *testing.T) {
	n, last := batchAccepted([]byte(`{"results":[{"index":0,"status":"accepted","id":"01a2-b"},{"index":1,"status":"rejected"},{"index":2,"status":"accepted","id":"01a2-c"},{"index":3,"status":"replayed","id":"01a2-d"}],"accepted":2}`), 4)
	require.Equal(t, 2, n)
	require.Equal(t, "01a2-c", last, "the newest accepted id")
	n, last = batchAccepted([]byte(`{}`), 5)
	require.Equal(t, 5, n)
	require.Empty(t, last)
	n, _ = batchAccepted([]byte(`not json`), 5)
	require.Equal(t, 5, n)
	n, _ = batchAccepted([]byte(`{"results":[]}`), 5)
	require.Equal(t, 0, n)
}

func TestBenchReportJSON(t *testing.T) {
	r := loadResult{
		requests: 1000, ok: 990, events: 990, dropped: 3,
		errors:    map[string]int64{"429": 7, "timeout": 3},
		latencies: []time.Duration{1500 * time.Microsecond, 2 * time.Millisecond, 9 * time.Millisecond},
		window:    2 * time.Second,
	}
	o := &benchOptions{concurrency: 32, rate: 500}
	rep := newBenchReport("ingest", o, 1, r)

	var buf bytes.Buffer
	a := &streams{stdout: &buf}
	require.NoError(t, a.printBench(rep, true))
	out := buf.String()
	require.Equal(t, 1, strings.Count(out, "\n"))
	require.True(t, strings.HasSuffix(out, "}\n"))

	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &m))
	for _, k := range []string{"mode", "concurrency", "rate", "duration_s", "requests", "events", "ok", "errors", "dropped",
		"throughput_rps", "events_per_s", "p50_ms", "p95_ms", "p99_ms", "max_ms"} {
		require.Contains(t, m, k)
	}
	require.NotContains(t, m, "delivered")
	require.NotContains(t, m, "batch_size")
	require.Equal(t, "ingest", m["mode"])
	require.EqualValues(t, 500, m["throughput_rps"])
	require.EqualValues(t, 495, m["events_per_s"])
	require.EqualValues(t, 2, m["duration_s"])
	require.EqualValues(t, 2, m["p50_ms"])
	require.EqualValues(t, 9, m["max_ms"])
	require.Equal(t, map[string]any{"429": 7.0, "timeout": 3.0}, m["errors"])

	// e2e adds its fields; an empty errors map is {} not null.
	rep = newBenchReport("e2e", o, 1, loadResult{window: time.Second})
	rep.e2eReport = &e2eReport{Delivered: 10, Missing: 1}
	b, err := json.Marshal(rep)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &m))
	for _, k := range []string{"delivered", "missing", "duplicates", "invalid_signatures", "ingest_p99_ms"} {
		require.Contains(t, m, k)
	}
	require.Equal(t, map[string]any{}, m["errors"])
}

func TestBenchSummary(t *testing.T) {
	rep := newBenchReport("batch", &benchOptions{concurrency: 8}, 64, loadResult{
		requests: 10, ok: 8, events: 800, errors: map[string]int64{"503": 1, "429": 1},
		latencies: []time.Duration{time.Millisecond}, window: time.Second,
	})
	rep.BatchSize = 100
	s := formatBenchSummary(rep)
	require.Contains(t, s, "bench batch: closed loop, concurrency 8, 64 keys, 100 events per batch")
	require.Contains(t, s, "requests    10 (ok 8, errors 2, dropped 0)")
	require.Contains(t, s, "throughput  10.0 req/s, 800.0 events/s")
	require.Contains(t, s, "p50 1.00 ms")
	require.Contains(t, s, "errors      429: 1, 503: 1")

	var buf bytes.Buffer
	err := (&streams{stdout: &buf}).printBench(newBenchReport("ingest", &benchOptions{}, 1, loadResult{requests: 3, errors: map[string]int64{"401": 3}}), false)
	require.ErrorContains(t, err, "no request succeeded (errors: 401: 3)")
}

func TestBenchWebhookSignature(t *testing.T) {
	secret, key, err := newSigningSecret()
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(secret, "whsec_"))
	require.Len(t, key, 24)

	now := time.Now()
	body := []byte(`{"type":"bench.e2e","data":{"message":"x"}}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	// Signed by the server's own signer, with a rotated-out secret first.
	old, _, err := newSigningSecret()
	require.NoError(t, err)
	sig, err := notify.SignWebhook("msg_1", now.Unix(), body, old, secret)
	require.NoError(t, err)
	require.True(t, VerifyWebhookSignature(key, "msg_1", ts, body, sig, now, 5*time.Minute))

	require.False(t, VerifyWebhookSignature(key, "msg_2", ts, body, sig, now, 5*time.Minute), "other id")
	require.False(t, VerifyWebhookSignature(key, "msg_1", ts, append(body, ' '), sig, now, 5*time.Minute), "other body")
	require.False(t, VerifyWebhookSignature(key, "msg_1", ts, body, sig, now.Add(10*time.Minute), 5*time.Minute), "stale")
	require.False(t, VerifyWebhookSignature(key, "msg_1", ts, body, "", now, 5*time.Minute), "unsigned")
	require.False(t, VerifyWebhookSignature(key, "msg_1", "soon", body, sig, now, 5*time.Minute), "bad timestamp")
}

func TestBenchHookReceiver(t *testing.T) {
	secret, key, err := newSigningSecret()
	require.NoError(t, err)
	recv := newHookReceiver(key)
	recv.setRule("rule-1")
	srv := httptest.NewServer(recv)
	defer srv.Close()

	sentAt := time.Now().Add(-40 * time.Millisecond).UTC()
	deliver := func(id, rule string, i int64, sign bool) int {
		body, err := json.Marshal(map[string]any{"type": "bench.e2e", "data": map[string]any{
			"ruleId": rule, "message": sentAt.Format(time.RFC3339Nano),
			"event": map[string]any{"payload": map[string]any{"i": i, "sentAt": sentAt.Format(time.RFC3339Nano)}},
		}})
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodPost, srv.URL+"/hook", bytes.NewReader(body))
		require.NoError(t, err)
		ts := time.Now().Unix()
		sig := "v1,AAAA"
		if sign {
			sig, err = notify.SignWebhook(id, ts, body, secret)
			require.NoError(t, err)
		}
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sig)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	id := func() string { return notify.WebhookID(uuid.New()) }

	require.Equal(t, 204, deliver(id(), "rule-1", -1, true))
	select {
	case <-recv.probe:
	default:
		t.Fatal("probe not seen")
	}
	first := id()
	require.Equal(t, 204, deliver(first, "rule-1", 0, true))
	require.Equal(t, 204, deliver(first, "rule-1", 0, true)) // retry of one delivery
	require.Equal(t, 204, deliver(id(), "rule-1", 0, true))  // a second delivery of one event
	require.Equal(t, 204, deliver(id(), "rule-1", 1, true))
	require.Equal(t, 204, deliver(id(), "rule-2", 2, true))
	require.Equal(t, 401, deliver(id(), "rule-1", 3, false))

	require.Equal(t, 2, recv.delivered(map[int64]struct{}{0: {}, 1: {}, 3: {}}))
	recv.mu.Lock()
	defer recv.mu.Unlock()
	require.EqualValues(t, 1, recv.dupIDs)
	require.EqualValues(t, 1, recv.dupEvents)
	require.EqualValues(t, 1, recv.invalid)
	require.EqualValues(t, 1, recv.foreign)
	require.GreaterOrEqual(t, recv.latency[0], 40*time.Millisecond)
}

func TestBenchCgroups(t *testing.T) {
	v1 := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(v1, "cpuacct.usage"), []byte("1500000000\n"), 0o600))
	v2 := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(v2, "cpu.stat"), []byte("usage_usec 250000\nuser_usec 200000\nsystem_usec 50000\n"), 0o600))

	m, err := parseCgroups([]string{"pg=" + v1, " serve = " + v2})
	require.NoError(t, err)
	before, err := cpuMeter(m).read()
	require.NoError(t, err)
	require.Equal(t, cpuReading{1500 * time.Millisecond, 250 * time.Millisecond}, before)

	require.NoError(t, os.WriteFile(filepath.Join(v1, "cpuacct.usage"), []byte("2500000000\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(v2, "cpu.stat"), []byte("usage_usec 750000\n"), 0o600))
	after, err := cpuMeter(m).read()
	require.NoError(t, err)
	c := cpuMeter(m).cost(before, after, 2000)
	require.Equal(t, map[string]float64{"pg": 1, "serve": 0.5, "total": 1.5}, c.Seconds)
	require.Equal(t, map[string]float64{"pg": 500, "serve": 250, "total": 750}, c.PerUnit)
	require.Equal(t, "  cpu         pg 1.00s (500 µs/event); serve 0.50s (250 µs/event); total 1.50s (750 µs/event)\n", c.format("event"))
	require.Nil(t, cpuMeter(m).cost(before, after, 0).PerUnit, "no units: seconds only")
	require.Nil(t, cpuMeter(nil).cost(nil, nil, 10), "no --cgroup: no cost")
	require.Empty(t, (*cpuCost)(nil).format("event"))

	b, err := json.Marshal(benchReport{cpuCost: c})
	require.NoError(t, err)
	require.Contains(t, string(b), `"cpu_s":{"pg":1,"serve":0.5,"total":1.5},"cpu_us_per_event":{"pg":500,"serve":250,"total":750}`)

	for _, tt := range []struct{ name, spec, want string }{
		{"NoName", "=" + v1, "want name=directory"},
		{"NoDir", "pg", "want name=directory"},
		{"Total", "total=" + v1, "reserved"},
		{"Missing", "pg=" + filepath.Join(v1, "nope"), "neither cpuacct.usage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCgroups([]string{tt.spec})
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err = parseCgroups([]string{"pg=" + v1, "pg=" + v2})
	require.ErrorContains(t, err, `"pg" given twice`)
}

func TestBenchMetricSum(t *testing.T) {
	body := []byte(`# HELP signalops_queue_depth River jobs waiting to run.
# TYPE signalops_queue_depth gauge
signalops_queue_depth{kind="event.process"} 12345
signalops_queue_depth{kind="notify.deliver"} 7
signalops_queue_depth_other{kind="event.process"} 99
signalops_jobs_total{kind="event.process",outcome="completed"} 1000
signalops_jobs_total{kind="event.process",outcome="failed"} 3
signalops_jobs_total{outcome="completed",kind="event.process",x="a\"b,c"} 2.5e+01
go_goroutines 42
`)
	v, ok := metricSum(body, "signalops_queue_depth", map[string]string{"kind": "event.process"})
	require.True(t, ok)
	require.InDelta(t, 12345, v, 0)
	v, ok = metricSum(body, "signalops_jobs_total", map[string]string{"kind": "event.process", "outcome": "completed"})
	require.True(t, ok)
	require.InDelta(t, 1025, v, 0, "every matching series, labels in any order")
	v, ok = metricSum(body, "go_goroutines", nil)
	require.True(t, ok)
	require.InDelta(t, 42, v, 0)
	_, ok = metricSum(body, "signalops_queue_depth", map[string]string{"kind": "rules.digest"})
	require.False(t, ok, "no matching series is not a zero")
	require.Equal(t, map[string]string{"a": "x", "b": `q"uo,te`, "c": ""}, parseLabels(`a="x",b="q\"uo,te",c=""`))
}

func TestBenchBacklogSummary(t *testing.T) {
	start := time.Now()
	s := &backlogSampler{}
	for i, d := range []int64{9000, 10500, 12000, 14000, 13000, 11000, 4000} {
		s.samples = append(s.samples, backlogSample{at: start.Add(time.Duration(i-1) * time.Second), depth: d})
	}
	var r noisyReport
	s.summarize(&r, start, start.Add(3500*time.Millisecond), start.Add(4200*time.Millisecond))
	require.EqualValues(t, 10500, r.BacklogAtStart, "the sample at the window's start")
	require.EqualValues(t, 10500, r.BacklogMin)
	require.EqualValues(t, 14000, r.BacklogMax)
	require.EqualValues(t, 13000, r.BacklogAtEnd, "the last sample while B sent")
	require.EqualValues(t, 11000, r.BacklogAtLastDelivery)
	require.InDelta(t, 12375, r.BacklogMean, 0.01)
	require.Equal(t, [][2]float64{{0, 10500}, {1, 12000}, {2, 14000}, {3, 13000}, {4, 11000}, {5, 4000}}, r.BacklogSamples)
	require.False(t, r.BacklogUnobserved)

	// A window shorter than the sample period: the sample before it.
	r = noisyReport{}
	s.summarize(&r, start.Add(1100*time.Millisecond), start.Add(1200*time.Millisecond), start.Add(1300*time.Millisecond))
	require.EqualValues(t, 12000, r.BacklogAtStart)
	require.EqualValues(t, 12000, r.BacklogMin)
	require.EqualValues(t, 12000, r.BacklogAtEnd)

	r = noisyReport{}
	(&backlogSampler{}).summarize(&r, start, start.Add(time.Second), start.Add(time.Second))
	require.True(t, r.BacklogUnobserved)
	require.Equal(t, [][2]float64{}, r.BacklogSamples)
}

func TestBenchOnMeasure(t *testing.T) {
	// The meter's first reading is taken once, when the window opens (after
	// the warmup), and before runLoad returns.
	var calls atomic.Int64
	var at atomic.Int64
	start := time.Now()
	send := func(context.Context, int64, time.Time) benchOutcome { return benchOutcome{status: 202, events: 1} }
	lc := loadConfig{concurrency: 4, rate: 100, duration: 100 * time.Millisecond, warmup: 100 * time.Millisecond,
		onMeasure: func() { calls.Add(1); at.Store(int64(time.Since(start))) }}
	runLoad(context.Background(), lc, send)
	require.EqualValues(t, 1, calls.Load())
	require.GreaterOrEqual(t, time.Duration(at.Load()), 100*time.Millisecond)

	lc.warmup = 0
	calls.Store(0)
	runLoad(context.Background(), lc, send)
	require.EqualValues(t, 1, calls.Load(), "without warmup: at once")
}

func TestBenchFlagProblems(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cpuacct.usage"), []byte("1\n"), 0o600))
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"NoisyWithoutTenants", []string{"noisy"}, "give --admin-token"},
		{"NoisyFireWithoutToken", []string{"noisy", "--key", "k", "--token", "t", "--flood-key", "a", "--flood-fire"}, "--flood-fire needs A's --flood-token"},
		{"NoisyClosedLoop", []string{"noisy", "--admin-token", "x", "--rate", "0"}, "--rate must be positive"},
		{"NoisyBatch", []string{"noisy", "--admin-token", "x", "--flood-batch", "501"}, "--flood-batch must be 1 to 500"},
		{"NoisyCgroup", []string{"noisy", "--admin-token", "x", "--cgroup", "pg=" + dir}, "noisy measures latency, not CPU"},
		{"DrainDeliverWithoutRules", []string{"drain", "--key", "k", "--token", "t", "--rules", "0", "--deliver"}, "--deliver needs a rule that fires"},
		{"DrainBadCgroup", []string{"drain", "--key", "k", "--token", "t", "--cgroup", "pg"}, "want name=directory"},
		{"IngestMissingCgroup", []string{"ingest", "--key", "k", "--cgroup", "pg=" + filepath.Join(dir, "nope")}, "neither cpuacct.usage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCommand()
			c.SetOut(&bytes.Buffer{})
			c.SetErr(&bytes.Buffer{})
			c.SetArgs(append(tt.args, "--url", "http://127.0.0.1:1"))
			require.ErrorContains(t, c.ExecuteContext(context.Background()), tt.want)
		})
	}
}
