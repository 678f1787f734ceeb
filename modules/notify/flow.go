package notify

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/signalops/signalops/platform/httpx"
)

// Flow control per channel (SPEC §8). Three mechanisms keep one channel
// from hurting the others, each waiting with river.JobSnooze, which spends
// no attempt (River v0.51.2 snoozes with attempt-1 and counts the snoozes
// in the job's metadata):
//
//   - In-flight cap (limiter.go): at most FlowOptions.ChannelConcurrency
//     sends per channel in one work process. A channel whose receiver takes
//     the whole NOTIFY_TIMEOUT holds that many workers, never all of them.
//   - Circuit breaker (this file, state in channel_flow): after
//     BreakerFailures consecutive transient failures the circuit opens;
//     deliveries wait (or go down their fallback chain) instead of
//     sending. One probe delivery, claimed by an UPDATE of the channel's
//     row, goes out at next_probe_at; success closes the circuit and the
//     waiting jobs are made available again in id order (release.go), a
//     failure doubles the interval up to BreakerProbeMax.
//   - Rate cap and pause (ratecap.go): a channel's config may cap its sends
//     per second; a receiver's 429 with Retry-After pauses the channel.
//
// Transitions are recorded in the transaction that records the attempt
// that caused them, together with the tenant's channel.circuit_opened or
// channel.circuit_closed event (Config.RecordEvent).

// FlowOptions tune flow control; cmd fills them from config.
type FlowOptions struct {
	// BreakerFailures consecutive transient failures (timeouts, 5xx,
	// refused connections) open a channel's circuit.
	// CHANNEL_BREAKER_FAILURES, default 10.
	BreakerFailures int
	// BreakerProbe is the wait from opening to the first probe; each failed
	// probe doubles it, up to BreakerProbeMax. CHANNEL_BREAKER_PROBE (30s)
	// and CHANNEL_BREAKER_PROBE_MAX (10m).
	BreakerProbe, BreakerProbeMax time.Duration
	// ChannelConcurrency caps one channel's sends in flight in one work
	// process. NOTIFY_CHANNEL_CONCURRENCY, default 20.
	ChannelConcurrency int
}

// Defaults of FlowOptions (SPEC §8 fixes the breaker's).
const (
	DefaultBreakerFailures    = 10
	DefaultBreakerProbe       = 30 * time.Second
	DefaultBreakerProbeMax    = 10 * time.Minute
	DefaultChannelConcurrency = 20
)

// MostProbes is the most probes a channel whose circuit opened at 0 sends
// within elapsed, one work process's schedule: the first after
// BreakerProbe, then at intervals doubling up to BreakerProbeMax. It bounds
// what a dead receiver sees (the breaker tests assert it).
func (o FlowOptions) MostProbes(elapsed time.Duration) int {
	o = o.withDefaults()
	n, at, interval := 0, time.Duration(0), o.BreakerProbe
	for {
		at += interval
		if at > elapsed {
			return n
		}
		n++
		interval = min(2*interval, o.BreakerProbeMax)
	}
}

func (o FlowOptions) withDefaults() FlowOptions {
	if o.BreakerFailures <= 0 {
		o.BreakerFailures = DefaultBreakerFailures
	}
	if o.BreakerProbe <= 0 {
		o.BreakerProbe = DefaultBreakerProbe
	}
	if o.BreakerProbeMax < o.BreakerProbe {
		o.BreakerProbeMax = max(DefaultBreakerProbeMax, o.BreakerProbe)
	}
	if o.ChannelConcurrency <= 0 {
		o.ChannelConcurrency = DefaultChannelConcurrency
	}
	return o
}

// Circuit states as stored in channel_flow.state.
const (
	CircuitClosed   = "closed"
	CircuitOpen     = "open"
	CircuitHalfOpen = "half_open"
)

// Event types notify records for the tenant when a circuit opens or
// closes (payload: channelId, name, kind, lastError).
const (
	EventCircuitOpened = "channel.circuit_opened"
	EventCircuitClosed = "channel.circuit_closed"
)

// Flow is a channel's flow-control state (a channel_flow row; a channel
// without one is closed, unpaused and has no rate slot reserved).
type Flow struct {
	ChannelID           uuid.UUID  `db:"channel_id"`
	TenantID            uuid.UUID  `db:"tenant_id"`
	State               string     `db:"state"`
	ConsecutiveFailures int        `db:"consecutive_failures"`
	LastError           *string    `db:"last_error"`
	OpenedAt            *time.Time `db:"opened_at"`
	NextProbeAt         *time.Time `db:"next_probe_at"`
	ProbeIntervalMS     int64      `db:"probe_interval_ms"`
	ProbeDeliveryID     *uuid.UUID `db:"probe_delivery_id"`
	ProbeStartedAt      *time.Time `db:"probe_started_at"`
	PausedUntil         *time.Time `db:"paused_until"`
	NextSlotAt          *time.Time `db:"next_slot_at"`
}

func (f *Flow) probeInterval() time.Duration {
	return time.Duration(f.ProbeIntervalMS) * time.Millisecond
}

// Health is a channel's circuit as GET /api/channels/{id} shows it.
type Health struct {
	State               string     `json:"state"` // closed, open, halfOpen
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	OpenedAt            *time.Time `json:"openedAt"`
	NextProbeAt         *time.Time `json:"nextProbeAt"`
	// LastError is the last transient failure's error (kept after the
	// circuit closes, until the next one).
	LastError *string `json:"lastError"`
	// PausedUntil is set while a receiver's 429 Retry-After holds the
	// channel's deliveries back.
	PausedUntil *time.Time `json:"pausedUntil"`
}

// Health returns the API view of f at now.
func (f Flow) Health(now time.Time) Health {
	h := Health{State: f.State, ConsecutiveFailures: f.ConsecutiveFailures, LastError: f.LastError,
		OpenedAt: httpx.UTC(f.OpenedAt), NextProbeAt: httpx.UTC(f.NextProbeAt)}
	switch f.State {
	case CircuitHalfOpen:
		h.State = "halfOpen"
	case "":
		h.State = CircuitClosed
	}
	if f.PausedUntil != nil && f.PausedUntil.After(now) {
		h.PausedUntil = httpx.UTC(f.PausedUntil)
	}
	return h
}

// verdict is what one send tells the breaker.
type verdict int

const (
	// verdictNone: nothing (no send, or a non-probe that the receiver
	// answered with a refusal or a 429).
	verdictNone verdict = iota
	// verdictSuccess: the receiver took the message.
	verdictSuccess
	// verdictAnswered: the receiver answered, refusing (a permanent
	// failure) or asking to wait (429); it is reachable, so a probe that
	// gets this closes the circuit.
	verdictAnswered
	// verdictFailure: a transient failure (timeout, 5xx, refused
	// connection, 503 with or without Retry-After).
	verdictFailure
)

// verdictOf classifies a send's outcome for the breaker.
func verdictOf(sendErr error) verdict {
	switch {
	case sendErr == nil:
		return verdictSuccess
	case IsPermanent(sendErr):
		return verdictAnswered
	case statusOf(sendErr) == 429:
		return verdictAnswered
	}
	return verdictFailure
}

// Transitions of a circuit, as metrics and logs name them.
const (
	transitionOpened      = "opened"
	transitionClosed      = "closed"
	transitionProbeFailed = "probe_failed"
)

// apply folds one send's verdict into f at now and returns the transition
// it made, or "". probe says the send was claimed as f's probe (by
// deliveryID). A success closes an open circuit whether or not it was the
// probe (a send that was in flight when the circuit opened proves the
// receiver back as well); a refusal or 429 closes it only as the probe's
// answer; a transient failure counts, and opens a closed circuit at
// o.BreakerFailures or sends a failed probe's circuit back to open with
// twice the interval.
func (f *Flow) apply(v verdict, probe bool, deliveryID uuid.UUID, errText string, now time.Time, o FlowOptions) string {
	probing := probe && f.State == CircuitHalfOpen && f.ProbeDeliveryID != nil && *f.ProbeDeliveryID == deliveryID
	switch v {
	case verdictSuccess, verdictAnswered:
		if v == verdictAnswered && !probing {
			return ""
		}
		f.ConsecutiveFailures = 0
		if f.State == CircuitClosed {
			return ""
		}
		f.State, f.OpenedAt, f.NextProbeAt, f.ProbeIntervalMS = CircuitClosed, nil, nil, 0
		f.ProbeDeliveryID, f.ProbeStartedAt = nil, nil
		return transitionClosed
	case verdictFailure:
		f.ConsecutiveFailures++
		f.LastError = &errText
		switch {
		case probing:
			f.reopen(now, min(2*f.probeInterval(), o.BreakerProbeMax))
			return transitionProbeFailed
		case f.State == CircuitClosed && f.ConsecutiveFailures >= o.BreakerFailures:
			f.OpenedAt = &now
			f.reopen(now, o.BreakerProbe)
			return transitionOpened
		}
	}
	return ""
}

// reopen puts the circuit in state open with its next probe interval away.
func (f *Flow) reopen(now time.Time, interval time.Duration) {
	interval = max(interval, time.Millisecond)
	next := now.Add(interval)
	f.State, f.NextProbeAt, f.ProbeIntervalMS = CircuitOpen, &next, interval.Milliseconds()
	f.ProbeDeliveryID, f.ProbeStartedAt = nil, nil
}

// pauseSpread is the most a delivery waiting out a pause adds at random,
// so a channel's backlog does not come back all at once.
const pauseSpread = time.Second

// paused reports whether the channel is paused at now (a receiver's 429)
// and how long a delivery waits then.
func (f *Flow) paused(now time.Time) (time.Duration, bool) {
	if f.PausedUntil == nil || !f.PausedUntil.After(now) {
		return 0, false
	}
	return f.PausedUntil.Sub(now) + jitterUp(pauseSpread), true
}

// probeDue reports whether a delivery may try to claim the probe: the
// circuit is open and its probe time has come, or the delivery holds the
// claim already (its job came back after a crash), or the one who claimed
// it has been gone longer than a probe can last (maxRun).
func (f *Flow) probeDue(deliveryID uuid.UUID, now time.Time, maxRun time.Duration) bool {
	switch f.State {
	case CircuitOpen:
		return f.NextProbeAt == nil || !f.NextProbeAt.After(now)
	case CircuitHalfOpen:
		mine := f.ProbeDeliveryID != nil && *f.ProbeDeliveryID == deliveryID
		return mine || f.ProbeStartedAt == nil || now.Sub(*f.ProbeStartedAt) > maxRun
	}
	return false
}

// circuitWait is how long a delivery waits on a circuit it cannot probe:
// until the next probe (or, half open, until the probe in flight must have
// ended), plus a random part of up to one interval (at most 30 s), so a
// large backlog does not wake all at once. A probe that closes the circuit
// releases the waiting jobs at once (release.go); the wait only bounds how
// late a delivery that missed the release (its job was running) comes back.
func (f *Flow) circuitWait(now time.Time, maxRun time.Duration, o FlowOptions) time.Duration {
	interval := f.probeInterval()
	if interval <= 0 {
		interval = o.BreakerProbe
	}
	var base time.Duration
	switch {
	case f.State == CircuitHalfOpen && f.ProbeStartedAt != nil:
		base = f.ProbeStartedAt.Add(maxRun).Sub(now)
	case f.NextProbeAt != nil:
		base = f.NextProbeAt.Sub(now)
	}
	spread := min(interval, 30*time.Second)
	return max(base, 0) + time.Duration(rand.Int64N(int64(spread)+1)) + 10*time.Millisecond //nolint:gosec // G404: jitter needs no unpredictability
}

// RateLimit caps a channel's sends: config.rateLimit {"perSecond": n},
// 0 < n ≤ 10000 (fractions allowed: 0.5 is one every two seconds). It
// applies across every work process (ratecap.go).
type RateLimit struct {
	PerSecond float64 `json:"perSecond"`
}

// MaxRatePerSecond bounds rateLimit.perSecond.
const MaxRatePerSecond = 10000

// minRatePerSecond bounds it from below: one send a day.
const minRatePerSecond = 1.0 / 86400

// interval is the time between two sends of the capped channel.
func (r RateLimit) interval() time.Duration {
	return time.Duration(float64(time.Second) / r.PerSecond)
}

// rateLimit reads config.rateLimit (absent or null: no cap).
func (v *validator) rateLimit(obj map[string]json.RawMessage) *RateLimit {
	robj := v.object(obj["rateLimit"], "config.rateLimit", false)
	if robj == nil {
		return nil
	}
	v.allow(robj, "config.rateLimit", "perSecond")
	raw, ok := robj["perSecond"]
	if !ok || isNull(raw) {
		v.add("config.rateLimit.perSecond", "is required")
		return nil
	}
	var n float64
	if err := json.Unmarshal(raw, &n); err != nil {
		v.add("config.rateLimit.perSecond", "must be a number")
		return nil
	}
	if n < minRatePerSecond || n > MaxRatePerSecond {
		v.add("config.rateLimit.perSecond", fmt.Sprintf("must be greater than 0 (at least one a day) and at most %d", MaxRatePerSecond))
		return nil
	}
	return &RateLimit{PerSecond: n}
}

// withRateLimit adds "rateLimit" to a kind's marshalled config object.
func withRateLimit(obj []byte, r *RateLimit) ([]byte, error) {
	if r == nil {
		return obj, nil
	}
	rl, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(obj) < 2 || obj[len(obj)-1] != '}' {
		return nil, fmt.Errorf("marshal channel config: not an object")
	}
	out := append([]byte(nil), obj[:len(obj)-1]...)
	if len(obj) > 2 {
		out = append(out, ',')
	}
	out = append(out, `"rateLimit":`...)
	out = append(out, rl...)
	return append(out, '}'), nil
}

// jitter returns d changed by up to ±frac of itself, at random.
func jitter(d time.Duration, frac float64) time.Duration {
	if d <= 0 || frac <= 0 {
		return d
	}
	span := int64(float64(d) * frac)
	if span <= 0 {
		return d
	}
	return d - time.Duration(span) + time.Duration(rand.Int64N(2*span+1)) //nolint:gosec // G404: jitter needs no unpredictability
}

// jitterUp is a random duration in [0, d].
func jitterUp(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1)) //nolint:gosec // G404: jitter needs no unpredictability
}
