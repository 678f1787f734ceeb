package notify

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/tracing"
)

// QueueNotify is the River queue deliveries run on.
const QueueNotify = "notify"

// DeliverArgs is the notify.deliver job: one delivery, one provider call.
// ChannelID lets flow control find a channel's jobs (ReleaseWaiting) and
// the DLQ filter them (args.channel_id); jobs made before it was added
// carry none.
type DeliverArgs struct {
	TenantID   uuid.UUID `json:"tenant_id"`
	DeliveryID uuid.UUID `json:"delivery_id"`
	ChannelID  uuid.UUID `json:"channel_id"`
}

// Kind is stored in job rows: never rename it.
func (DeliverArgs) Kind() string { return "notify.deliver" }

// InsertOpts puts the job on the notify queue; MaxAttempts comes from the
// retry schedule at insertion.
func (DeliverArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueNotify} }

// DeliverWorker works notify.deliver. The send happens outside any
// transaction; its outcome is recorded afterwards, in a transaction shared
// with the outcomes of other deliveries that finished at the same time
// (pg.Group): under load one commit records many. A crash between the
// provider's answer and that commit re-sends on retry: delivery is
// at-least-once, and the stable webhook-id (and email Message-ID) lets
// receivers drop the duplicate. A delivery recorded as succeeded is never
// sent again: that record, not the job's completion, is what a retried job
// checks.
type DeliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	svc      *Service
	metrics  Metrics
	group    *pg.Group[*outcome]
	reads    *pg.Group[*deliveryRead]
	flow     FlowOptions
	slots    *channelSlots
	releases chan release // closed circuits whose waiting jobs go again (runReleases)

	retryAfter sync.Map // job id → provider's retry-after, read by NextRetry
	probeAt    sync.Map // job id → when its circuit's next probe is due: the job that opened it probes
	// recorded: channel id → localFlow, the flow state this process last
	// recorded for the channel (a failure, a transition, a pause). A job
	// whose read of the channel is older goes by it instead: a job waiting
	// in process for a send slot read the channel before the send ahead of
	// it opened the circuit or was told to pause.
	recorded sync.Map
}

// localFlow is a channel's flow state as this process recorded it at at.
type localFlow struct {
	at   time.Time
	flow Flow
}

// fresher returns the channel's flow state this process recorded after
// readAt, if any.
func (w *DeliverWorker) fresher(channelID uuid.UUID, readAt time.Time) (Flow, bool) {
	v, ok := w.recorded.Load(channelID)
	if !ok {
		return Flow{}, false
	}
	lf := v.(localFlow)
	if readAt.After(lf.at) {
		return Flow{}, false // the read is newer: it knows as much
	}
	return lf.flow, true
}

// outcome is one attempt to record: the delivery as it was read, what the
// provider answered, and the status it leaves.
type outcome struct {
	d       Delivery
	channel Channel // as read: its name and kind go into circuit events
	res     Result
	sendErr error
	status  string
	// fallback: the delivery failed for good and its chain goes on; the
	// next delivery is created with this outcome (startFallbackTx).
	fallback bool

	// Flow control (flow.go): what the send tells the breaker, whether it
	// was the circuit's probe, the pause a 429 asked for, and the channel's
	// flow state as read with the delivery (a success on a settled channel
	// needs no write).
	verdict  verdict
	probe    bool
	pause    time.Duration
	flowRead Flow
	// Set by recordTx: the circuit transition this outcome made ("" for
	// none) and the channel's flow state after it.
	transition string
	flowAfter  Flow
}

func (o *outcome) kind() string { return o.channel.Kind }

func newDeliverWorker(svc *Service, mx Metrics, opts pg.GroupOptions) *DeliverWorker {
	w := &DeliverWorker{svc: svc, metrics: mx, flow: svc.flow, slots: newChannelSlots(svc.flow.ChannelConcurrency),
		releases: make(chan release, 256)}
	// Reads are untraced (a span per delivery's read would only add noise),
	// and hold a connection for one round trip only.
	reads := opts
	reads.Committers = max(opts.Committers, 4)
	opts.SpanName = "notify.group_commit"
	w.group = pg.NewGroup(svc.db, opts, w.recordTx)
	w.reads = pg.NewReadGroup(svc.db, reads, readDeliveries(svc.repo))
	return w
}

// deliveryRead is one delivery to read with its channel, and what was found.
type deliveryRead struct {
	tenantID, id uuid.UUID
	found        bool
	row          deliveryWithChannel
}

// readDeliveries reads a group of deliveries and their channels with one
// query: concurrent jobs share it as they share the commits of their
// outcomes (the read, one round trip per delivery before, was the largest
// part of a delivery's CPU once the rest was grouped).
func readDeliveries(r repo) func(context.Context, pg.Querier, []*deliveryRead) error {
	return func(ctx context.Context, q pg.Querier, items []*deliveryRead) error {
		tenants, ids := make(pg.UUIDs, len(items)), make(pg.UUIDs, len(items))
		for i, it := range items {
			tenants[i], ids[i] = it.tenantID, it.id
		}
		rows, err := r.GetDeliveriesAndChannels(ctx, q, tenants, ids)
		if err != nil {
			return err
		}
		for _, it := range items {
			it.row, it.found = rows[it.id]
		}
		return nil
	}
}

// Run serves the group reads and commits until ctx ends; see pg.Group.Run.
func (w *DeliverWorker) Run(ctx context.Context) {
	background.Run(ctx, w.reads.Run, w.runReleases, w.group.Run)
}

// Timeout leaves the provider its own timeout plus time to record.
func (w *DeliverWorker) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return w.svc.providers.timeout() + 10*time.Second
}

// NextRetry follows NOTIFY_RETRY_SCHEDULE, or the provider's retry-after
// when it asked for longer. The attempt that opened its channel's circuit
// comes back exactly when the first probe is due, to be that probe.
func (w *DeliverWorker) NextRetry(job *river.Job[DeliverArgs]) time.Time {
	if v, ok := w.probeAt.LoadAndDelete(job.ID); ok {
		w.retryAfter.Delete(job.ID)
		return v.(time.Time)
	}
	s := w.svc.schedule
	delay := time.Second
	if len(s) > 0 {
		delay = s[min(max(job.Attempt-1, 0), len(s)-1)]
	}
	if v, ok := w.retryAfter.LoadAndDelete(job.ID); ok {
		delay = max(delay, v.(time.Duration))
	}
	return time.Now().Add(delay)
}

// Work sends one delivery, unless flow control makes it wait (a snooze,
// which spends no attempt) or hand over to its fallback: the channel is
// paused by a 429, its circuit is open, its rate cap's next slot is
// ahead, or this process already has NOTIFY_CHANNEL_CONCURRENCY of its
// sends in flight.
func (w *DeliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	s := w.svc
	a := job.Args
	readAt := time.Now()
	read := &deliveryRead{tenantID: a.TenantID, id: a.DeliveryID}
	if err := w.reads.Do(ctx, read); err != nil {
		return err
	}
	d, c, fl := read.row.Delivery, read.row.Channel, read.row.Flow
	if !read.found { // the delivery, or its channel, is gone
		var err error
		d, err = s.repo.GetDelivery(ctx, s.db, a.TenantID, a.DeliveryID, false)
		if apperr.IsKind(err, apperr.KindNotFound) {
			return river.JobCancel(err)
		}
		if err != nil {
			return err
		}
		if d.Status != StatusSucceeded && d.ReplacedBy == nil {
			return w.fail(ctx, job, &outcome{d: d, sendErr: Permanent(fmt.Errorf("channel %s was deleted", d.ChannelID))})
		}
	}
	if d.Status == StatusSucceeded || d.ReplacedBy != nil {
		return nil // already delivered, or handed to its fallback: never twice
	}
	d.Trace = trace.SpanContextFromContext(ctx) // a fallback's job continues this job's trace
	last := job.Attempt >= job.MaxAttempts
	cfg, sec, err := s.open(c)
	if err != nil {
		return w.fail(ctx, job, &outcome{d: d, channel: c, sendErr: Permanent(err)})
	}

	if lf, ok := w.fresher(d.ChannelID, readAt); ok {
		fl = lf
	}
	now := time.Now()
	if paused, ok := fl.paused(now); ok {
		return w.wait(c.Kind, waitPaused, paused)
	}
	probe := false
	if fl.State != CircuitClosed {
		if fl.probeDue(d.ID, now, w.probeMaxRun()) {
			claimed, ok, err := s.repo.ClaimProbe(ctx, s.db, d.TenantID, d.ChannelID, d.ID, w.probeMaxRun())
			if err != nil {
				return err
			}
			if ok {
				probe, fl = true, claimed
				w.metrics.Circuit(CircuitHalfOpen)
			}
		}
		if !probe {
			return w.blocked(ctx, &d, c, fl)
		}
	}
	// A probe is one request per interval: neither the rate cap nor the
	// in-flight cap holds it back.
	var took time.Duration
	release := func(time.Duration) {}
	if !probe {
		if cfg.RateLimit != nil {
			wait, err := w.rateWait(ctx, &d, *cfg.RateLimit)
			if err != nil {
				return err
			}
			if wait > 0 {
				return w.wait(c.Kind, waitRate, wait)
			}
		}
		rel, wait, ok := w.slots.acquire(ctx, c.ID)
		if !ok {
			return w.wait(c.Kind, waitBusy, wait)
		}
		// A failed send holds its slot until its outcome is recorded, so
		// the channel's next send here starts knowing what this one did to
		// the circuit (or the pause a 429 asked for); a success frees it at
		// once (one channel's throughput is then not bound to commits).
		released := false
		release = func(took time.Duration) {
			if !released {
				released = true
				rel(took)
			}
		}
		defer func() { release(took) }()
		if lf, ok := w.fresher(d.ChannelID, readAt); ok {
			if paused, ok := lf.paused(time.Now()); ok {
				return w.wait(c.Kind, waitPaused, paused)
			}
			if lf.State != CircuitClosed {
				return w.blocked(ctx, &d, c, lf)
			}
		}
	}
	start := time.Now()
	// The provider call is a span of its own (an SMTP session has no
	// other); an HTTP provider's request is its child (tracing.Transport).
	sendCtx, span := tracing.Tracer().Start(ctx, "notify.send", trace.WithAttributes(
		attribute.String("signalops.channel.kind", c.Kind), attribute.String("signalops.delivery.id", d.ID.String())))
	res, sendErr := s.providers.Send(sendCtx, cfg, sec, Message{DeliveryID: d.ID, EventType: d.EventType, Text: d.Message, Payload: d.Body})
	took = time.Since(start)
	if sendErr != nil {
		span.SetStatus(codes.Error, sendErr.Error())
	}
	span.End()
	if sendErr == nil {
		release(took)
	}

	o := &outcome{d: d, channel: c, res: res, sendErr: sendErr, verdict: verdictOf(sendErr), probe: probe, flowRead: fl}
	switch {
	case o.verdict == verdictAnswered && !probe:
		o.verdict = verdictNone // a refusal or 429 says nothing to a circuit that is not probing
	case sendErr != nil && ctx.Err() != nil:
		// The job's own context ended (shutdown, or the job's deadline):
		// not the receiver's failure. (A slow receiver hits NOTIFY_TIMEOUT,
		// which ends well before the job's deadline.)
		o.verdict = verdictNone
	}
	switch {
	case sendErr == nil:
		return w.succeed(ctx, o)
	case IsPermanent(sendErr):
		return w.fail(ctx, job, o)
	}
	if pause, ok := Throttled(sendErr); ok {
		// The receiver asked the channel to wait: every delivery of the
		// channel waits (channel_flow.paused_until), this one too, and none
		// spends an attempt.
		o.pause, o.status = pause, StatusPending
		if err := w.recordOutcome(ctx, o); err != nil {
			return err
		}
		w.afterRecord(ctx, o)
		w.metrics.Delivery(c.Kind, "retrying")
		return w.wait(c.Kind, waitPaused, pause+jitterUp(pauseSpread))
	}
	if probe {
		// A failed probe spends no attempt either: its delivery waits like
		// the others, and probes again when the next probe is due.
		o.status = StatusPending
		if err := w.recordOutcome(ctx, o); err != nil {
			return err
		}
		w.afterRecord(ctx, o)
		w.metrics.Delivery(c.Kind, "retrying")
		f := o.flowAfter
		if f.State == CircuitOpen && f.NextProbeAt != nil {
			return w.wait(c.Kind, waitCircuit, max(time.Until(*f.NextProbeAt), 10*time.Millisecond))
		}
		return w.wait(c.Kind, waitCircuit, w.flow.BreakerProbe)
	}
	if last {
		return w.fail(ctx, job, o)
	}
	if ra, ok := RetryAfter(sendErr); ok {
		w.retryAfter.Store(job.ID, ra)
	}
	o.status = StatusPending
	if err := w.recordOutcome(ctx, o); err != nil {
		return err
	}
	w.afterRecord(ctx, o)
	if o.transition == transitionOpened && o.flowAfter.NextProbeAt != nil {
		w.probeAt.Store(job.ID, *o.flowAfter.NextProbeAt)
	}
	w.metrics.Delivery(c.Kind, "retrying")
	return sendErr // River retries on the schedule
}

// Reasons a delivery waits (DeliveryWait metric).
const (
	waitBusy    = "busy"    // the channel's in-flight cap in this process
	waitRate    = "rate"    // the channel's rate cap
	waitCircuit = "circuit" // the channel's circuit is open
	waitPaused  = "paused"  // the receiver's 429 Retry-After
)

// blocked is a delivery that may not send because its channel's circuit is
// open (fl): it goes down its fallback chain, or waits.
func (w *DeliverWorker) blocked(ctx context.Context, d *Delivery, c Channel, fl Flow) error {
	if d.HasFallback() {
		return w.handOver(ctx, d, c, fl)
	}
	return w.wait(c.Kind, waitCircuit, fl.circuitWait(time.Now(), w.probeMaxRun(), w.flow))
}

// wait snoozes the job: it comes back after d without spending an attempt.
func (w *DeliverWorker) wait(kind, reason string, d time.Duration) error {
	w.metrics.DeliveryWait(kind, reason)
	return river.JobSnooze(max(d, 10*time.Millisecond))
}

// probeMaxRun is the longest a probe can take: its send, then its record.
func (w *DeliverWorker) probeMaxRun() time.Duration {
	return w.svc.providers.timeout() + 15*time.Second
}

// handOver passes a delivery waiting on an open circuit to the next channel
// of its fallback chain (SPEC §10), in one transaction: it is recorded as
// failed because the circuit is open, and the next delivery is created.
func (w *DeliverWorker) handOver(ctx context.Context, d *Delivery, c Channel, fl Flow) error {
	cause := "channel circuit open"
	if fl.LastError != nil {
		cause += ": " + *fl.LastError
	}
	d.LastError = &cause
	err := pg.InTx(ctx, w.svc.db, func(tx *sqlx.Tx) error {
		_, err := w.svc.startFallbackTx(ctx, tx, []Delivery{*d})
		return err
	})
	if err != nil {
		return err
	}
	w.metrics.Delivery(c.Kind, StatusFailed)
	w.svc.logger.InfoContext(ctx, "delivery handed to its fallback: circuit open", slog.String("delivery_id", d.ID.String()),
		slog.String("channel_id", c.ID.String()))
	return nil
}

func (w *DeliverWorker) succeed(ctx context.Context, o *outcome) error {
	now := time.Now().UTC()
	o.d.DeliveredAt = &now
	o.status = StatusSucceeded
	if err := w.recordOutcome(ctx, o); err != nil {
		return err
	}
	w.afterRecord(ctx, o)
	w.metrics.Delivery(o.kind(), StatusSucceeded)
	if o.d.EventID.Version() == 7 { // a v7 id embeds the event's receipt time (ms)
		w.metrics.EndToEnd(now.Sub(time.Unix(o.d.EventID.Time().UnixTime())))
	}
	return nil
}

// fail records a final failure. With a fallback left, the next channel's
// delivery is created in the same transaction and the job completes: the
// chain goes on, and this delivery is no dead letter. Otherwise permanent
// failures cancel the job and an exhausted transient one returns its error
// so River discards the job into the DLQ; either way the error names the
// errors of the chain before it.
func (w *DeliverWorker) fail(ctx context.Context, job *river.Job[DeliverArgs], o *outcome) error {
	d, sendErr := &o.d, o.sendErr
	o.status, o.fallback = StatusFailed, d.HasFallback()
	if err := w.recordOutcome(ctx, o); err != nil {
		return err
	}
	w.afterRecord(ctx, o)
	w.metrics.Delivery(o.kind(), StatusFailed)
	w.svc.logger.WarnContext(ctx, "delivery failed", slog.String("delivery_id", d.ID.String()),
		slog.Int("attempt", job.Attempt), slog.Bool("permanent", IsPermanent(sendErr)), slog.Bool("falls_back", o.fallback),
		slog.Any("error", sendErr))
	if o.fallback {
		return nil
	}
	sendErr = withChain(d, sendErr)
	if IsPermanent(sendErr) {
		return river.JobCancel(sendErr)
	}
	return sendErr
}

// recordOutcome commits one attempt's outcome (with others finishing at
// the same time). A fresh context: the attempt is recorded even if the
// job's ran out.
func (w *DeliverWorker) recordOutcome(ctx context.Context, o *outcome) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return w.group.Do(rctx, o)
}

// afterRecord reports a circuit transition the committed outcome made and,
// when it closed the circuit, queues the release of the waiting jobs.
func (w *DeliverWorker) afterRecord(ctx context.Context, o *outcome) {
	if o.flowAfter.ChannelID != uuid.Nil {
		w.recorded.Store(o.d.ChannelID, localFlow{at: time.Now(), flow: o.flowAfter})
	}
	if o.transition == "" {
		return
	}
	logger := w.svc.logger.With(slog.String("tenant_id", o.d.TenantID.String()), slog.String("channel_id", o.d.ChannelID.String()))
	switch o.transition {
	case transitionOpened, transitionProbeFailed:
		w.metrics.Circuit(CircuitOpen)
		next := ""
		if o.flowAfter.NextProbeAt != nil {
			next = o.flowAfter.NextProbeAt.UTC().Format(time.RFC3339Nano)
		}
		logger.WarnContext(ctx, "channel circuit open", slog.String("transition", o.transition),
			slog.Int("consecutive_failures", o.flowAfter.ConsecutiveFailures), slog.String("next_probe_at", next),
			slog.Any("error", o.sendErr))
	case transitionClosed:
		w.metrics.Circuit(CircuitClosed)
		logger.InfoContext(ctx, "channel circuit closed")
		select {
		case w.releases <- release{tenantID: o.d.TenantID, channelID: o.d.ChannelID}:
		default: // a flood of closes: the waiting jobs come back when their snooze ends
			logger.WarnContext(ctx, "release queue full; waiting deliveries resume when their snooze ends")
		}
	}
}

// recordTx stores a group of outcomes: each attempt and its delivery's new
// state, then the notifications sent, counted per tenant and channel kind.
func (w *DeliverWorker) recordTx(ctx context.Context, tx *sqlx.Tx, outs []*outcome) error {
	sent := map[string]map[uuid.UUID]int64{} // metric → tenant → count
	ds, as := make([]Delivery, len(outs)), make([]Attempt, len(outs))
	for i, o := range outs {
		d := o.d // a copy: a group that fails is recorded again, item by item
		d.Attempts++
		d.Status = o.status
		at := Attempt{DeliveryID: d.ID, TenantID: d.TenantID, Attempt: d.Attempts, Succeeded: o.sendErr == nil,
			LatencyMS: int(o.res.Latency.Milliseconds())}
		if o.res.StatusCode != 0 {
			at.StatusCode = &o.res.StatusCode
		}
		if o.res.Response != "" {
			at.Response = &o.res.Response
		}
		if o.res.ProviderMessageID != "" {
			at.ProviderMessageID = &o.res.ProviderMessageID
			d.ProviderMessageID = &o.res.ProviderMessageID
		}
		d.LastError = nil
		if o.sendErr != nil {
			msg := o.sendErr.Error()
			at.Error, d.LastError = &msg, &msg
		}
		ds[i], as[i] = d, at
		if o.status == StatusSucceeded {
			metric := billing.MetricNotifications + o.kind()
			if sent[metric] == nil {
				sent[metric] = map[uuid.UUID]int64{}
			}
			sent[metric][d.TenantID]++
		}
	}
	if err := w.svc.repo.RecordAttempts(ctx, tx, ds, as); err != nil {
		return err
	}
	var spent []Delivery
	for i, o := range outs {
		if o.fallback {
			spent = append(spent, ds[i])
		}
	}
	if len(spent) > 0 {
		if _, err := w.svc.startFallbackTx(ctx, tx, spent); err != nil {
			return err
		}
	}
	if err := w.flowTx(ctx, tx, outs); err != nil {
		return err
	}
	b := w.svc.billing
	if b == nil {
		return nil
	}
	// Counted last, so the counter rows stay locked for the shortest time;
	// metrics and tenants in one global order, so groups never deadlock.
	for _, metric := range slices.Sorted(maps.Keys(sent)) {
		perTenant := sent[metric]
		tenants := slices.SortedFunc(maps.Keys(perTenant), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		ns := make([]int64, len(tenants))
		for i, t := range tenants {
			ns[i] = perTenant[t]
		}
		if err := b.CountManyTx(ctx, tx, tenants, metric, ns); err != nil {
			return err
		}
	}
	return nil
}

// FairTenant orders notify.deliver jobs fairly across tenants (queue.Fair);
// inside a tenant, channels are kept apart by the in-flight cap (flow.go).
func (a DeliverArgs) FairTenant() uuid.UUID { return a.TenantID }
