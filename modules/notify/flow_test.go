package notify

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestCircuitTransitions walks the breaker's state machine (SPEC §8) the
// way the delivery worker feeds it, one send at a time.
func TestCircuitTransitions(t *testing.T) {
	t.Parallel()

	o := FlowOptions{BreakerFailures: 3, BreakerProbe: time.Second, BreakerProbeMax: 3 * time.Second}.withDefaults()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	probe := uuid.Must(uuid.NewV7())
	other := uuid.Must(uuid.NewV7())

	type step struct {
		v          verdict
		probe      bool
		delivery   uuid.UUID
		at         time.Duration // after t0
		claim      bool          // claim the probe for delivery before the send (what ClaimProbe does)
		transition string
		state      string
		failures   int
		nextProbe  time.Duration // after t0; 0: none
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"SuccessesKeepItClosed", []step{
			{v: verdictSuccess, state: CircuitClosed},
			{v: verdictFailure, state: CircuitClosed, failures: 1},
			{v: verdictSuccess, state: CircuitClosed, failures: 0},
		}},
		{"OpensAtTheThreshold", []step{
			{v: verdictFailure, failures: 1, state: CircuitClosed},
			{v: verdictFailure, failures: 2, state: CircuitClosed},
			{v: verdictFailure, at: 5 * time.Second, failures: 3, state: CircuitOpen, transition: transitionOpened, nextProbe: 6 * time.Second},
			// A send that was in flight fails too: counted, still open, same probe time.
			{v: verdictFailure, at: 6 * time.Second, failures: 4, state: CircuitOpen, nextProbe: 6 * time.Second},
		}},
		{"ARefusalNeitherCountsNorResets", []step{
			{v: verdictFailure, failures: 1, state: CircuitClosed},
			{v: verdictAnswered, failures: 1, state: CircuitClosed},
			{v: verdictFailure, failures: 2, state: CircuitClosed},
		}},
		{"FailedProbesDoubleTheIntervalUpToTheMax", []step{
			{v: verdictFailure, state: CircuitClosed, failures: 1},
			{v: verdictFailure, state: CircuitClosed, failures: 2},
			{v: verdictFailure, state: CircuitOpen, failures: 3, transition: transitionOpened, nextProbe: time.Second},
			{v: verdictFailure, probe: true, delivery: probe, claim: true, at: time.Second, state: CircuitOpen, failures: 4,
				transition: transitionProbeFailed, nextProbe: 3 * time.Second},
			{v: verdictFailure, probe: true, delivery: probe, claim: true, at: 3 * time.Second, state: CircuitOpen, failures: 5,
				transition: transitionProbeFailed, nextProbe: 6 * time.Second},
			{v: verdictFailure, probe: true, delivery: probe, claim: true, at: 6 * time.Second, state: CircuitOpen, failures: 6,
				transition: transitionProbeFailed, nextProbe: 9 * time.Second}, // 4 s capped at 3 s
			{v: verdictSuccess, probe: true, delivery: probe, claim: true, at: 9 * time.Second, state: CircuitClosed,
				transition: transitionClosed},
		}},
		{"AProbeAnsweredWithARefusalCloses", []step{
			{v: verdictFailure, failures: 1}, {v: verdictFailure, failures: 2},
			{v: verdictFailure, state: CircuitOpen, failures: 3, transition: transitionOpened, nextProbe: time.Second},
			{v: verdictAnswered, probe: true, delivery: probe, claim: true, at: time.Second, state: CircuitClosed, transition: transitionClosed},
		}},
		{"AnotherDeliverysOutcomeIsNotTheProbes", []step{
			{v: verdictFailure, failures: 1}, {v: verdictFailure, failures: 2},
			{v: verdictFailure, state: CircuitOpen, failures: 3, transition: transitionOpened, nextProbe: time.Second},
			{v: verdictFailure, probe: true, delivery: other, claim: false, at: time.Second, state: CircuitOpen, failures: 4, nextProbe: time.Second},
			{v: verdictAnswered, probe: true, delivery: other, at: time.Second, state: CircuitOpen, failures: 4, nextProbe: time.Second},
		}},
		{"ASuccessInFlightClosesAnOpenCircuit", []step{
			{v: verdictFailure, failures: 1}, {v: verdictFailure, failures: 2},
			{v: verdictFailure, state: CircuitOpen, failures: 3, transition: transitionOpened, nextProbe: time.Second},
			{v: verdictSuccess, state: CircuitClosed, transition: transitionClosed},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := Flow{State: CircuitClosed}
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				if s.claim {
					require.True(t, f.probeDue(s.delivery, now, time.Minute), "step %d: the probe is due", i)
					f.State, f.ProbeDeliveryID, f.ProbeStartedAt = CircuitHalfOpen, &s.delivery, &now
				}
				got := f.apply(s.v, s.probe, s.delivery, "boom", now, o)
				require.Equal(t, s.transition, got, "step %d", i)
				if s.state != "" {
					require.Equal(t, s.state, f.State, "step %d", i)
				}
				require.Equal(t, s.failures, f.ConsecutiveFailures, "step %d", i)
				if s.nextProbe > 0 {
					require.NotNil(t, f.NextProbeAt, "step %d", i)
					require.Equal(t, t0.Add(s.nextProbe), *f.NextProbeAt, "step %d", i)
				} else if s.state == CircuitClosed {
					require.Nil(t, f.NextProbeAt, "step %d", i)
				}
			}
		})
	}
}

func TestProbeDue(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	before, after := now.Add(-time.Second), now.Add(time.Second)
	me, them := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	long := now.Add(-2 * time.Minute)
	for _, tt := range []struct {
		name string
		f    Flow
		want bool
	}{
		{"Closed", Flow{State: CircuitClosed}, false},
		{"OpenNotYet", Flow{State: CircuitOpen, NextProbeAt: &after}, false},
		{"OpenDue", Flow{State: CircuitOpen, NextProbeAt: &before}, true},
		{"HalfOpenMine", Flow{State: CircuitHalfOpen, ProbeDeliveryID: &me, ProbeStartedAt: &before}, true},
		{"HalfOpenTheirs", Flow{State: CircuitHalfOpen, ProbeDeliveryID: &them, ProbeStartedAt: &before}, false},
		{"HalfOpenTheirsGone", Flow{State: CircuitHalfOpen, ProbeDeliveryID: &them, ProbeStartedAt: &long}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.f.probeDue(me, now, time.Minute))
		})
	}
}

func TestHealthView(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	next, past := now.Add(time.Minute), now.Add(-time.Minute)
	msg := "endpoint responded 503"
	h := Flow{State: CircuitHalfOpen, ConsecutiveFailures: 12, OpenedAt: &now, NextProbeAt: &next, LastError: &msg, PausedUntil: &past}.Health(now)
	require.Equal(t, "halfOpen", h.State)
	require.Equal(t, 12, h.ConsecutiveFailures)
	require.Equal(t, time.UTC, h.OpenedAt.Location())
	require.Equal(t, next.UTC(), *h.NextProbeAt)
	require.Nil(t, h.PausedUntil, "a pause that ended is not shown")
	require.Equal(t, "closed", Flow{}.Health(now).State)
}

func TestVerdictOf(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		err  error
		want verdict
	}{
		{"Success", nil, verdictSuccess},
		{"Refused", statusError(410, 0, errTest), verdictAnswered},
		{"Throttled", statusError(429, 5*time.Second, errTest), verdictAnswered},
		{"ThrottledWithoutRetryAfter", statusError(429, 0, errTest), verdictAnswered},
		{"ServerError", statusError(502, 0, errTest), verdictFailure},
		{"Unavailable", statusError(503, time.Second, errTest), verdictFailure},
		{"Timeout", Transient(context.DeadlineExceeded, 0), verdictFailure},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, verdictOf(tt.err))
		})
	}
	ra, ok := Throttled(statusError(429, 5*time.Second, errTest))
	require.True(t, ok)
	require.Equal(t, 5*time.Second, ra)
	_, ok = Throttled(statusError(503, 5*time.Second, errTest))
	require.False(t, ok, "only a 429 pauses the channel; a 503's Retry-After delays its delivery")
}

// TestChannelSlots: a channel never has more than its cap of sends in
// flight in one process; over the cap a delivery is told to wait, and a
// slot freed is taken again.
func TestChannelSlots(t *testing.T) {
	t.Parallel()

	const limit = 3
	s := newChannelSlots(limit)
	slow, fast := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	ctx := t.Context()

	var releases []func(time.Duration)
	for range limit {
		rel, _, ok := s.acquire(ctx, slow)
		require.True(t, ok)
		releases = append(releases, rel)
	}
	_, wait, ok := s.acquire(ctx, slow)
	require.False(t, ok, "the fourth send of a full channel waits")
	require.GreaterOrEqual(t, wait, minBusyWait)
	require.LessOrEqual(t, wait, maxBusyWait)

	// Another channel is not held up by the full one.
	rel, _, ok := s.acquire(ctx, fast)
	require.True(t, ok)
	rel(time.Millisecond)

	// A slot freed is taken again.
	releases[0](10 * time.Second)
	rel, _, ok = s.acquire(ctx, slow)
	require.True(t, ok)
	releases[0] = rel

	// A slow channel's backlog is told to come back at spread-out turns.
	var waits []time.Duration
	for range 4 {
		_, w, ok := s.acquire(ctx, slow)
		require.False(t, ok)
		waits = append(waits, w)
	}
	require.Greater(t, waits[3], waits[0], "later deliveries get later turns: %v", waits)

	// Under concurrency the cap holds.
	for _, r := range releases {
		r(time.Millisecond)
	}
	var mu sync.Mutex
	inFlight, most := 0, 0
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			rel, _, ok := s.acquire(ctx, fast)
			if !ok {
				return
			}
			mu.Lock()
			inFlight++
			most = max(most, inFlight)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			inFlight--
			mu.Unlock()
			rel(time.Millisecond)
		})
	}
	wg.Wait()
	require.LessOrEqual(t, most, limit)
}

func TestRateLimitMarshal(t *testing.T) {
	t.Parallel()

	b, err := withRateLimit([]byte(`{"url":"x"}`), &RateLimit{PerSecond: 2.5})
	require.NoError(t, err)
	require.JSONEq(t, `{"url":"x","rateLimit":{"perSecond":2.5}}`, string(b))
	b, err = withRateLimit([]byte(`{}`), &RateLimit{PerSecond: 1})
	require.NoError(t, err)
	require.JSONEq(t, `{"rateLimit":{"perSecond":1}}`, string(b))
	require.Equal(t, 400*time.Millisecond, RateLimit{PerSecond: 2.5}.interval())
}

var errTest = errors.New("test failure")

func TestMostProbes(t *testing.T) {
	o := FlowOptions{BreakerProbe: time.Second, BreakerProbeMax: 4 * time.Second}
	for elapsed, want := range map[time.Duration]int{ // probes at 1, 3 (1+2), 7 (3+4), 11, 15 s
		0: 0, 999 * time.Millisecond: 0, time.Second: 1, 2900 * time.Millisecond: 1, 3 * time.Second: 2,
		7 * time.Second: 3, 10 * time.Second: 3, 11 * time.Second: 4, 15 * time.Second: 5,
	} {
		require.Equal(t, want, o.MostProbes(elapsed), "within %s", elapsed)
	}
}
