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

	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// QueueNotify is the River queue deliveries run on.
const QueueNotify = "notify"

// DeliverArgs is the notify.deliver job: one delivery, one provider call.
type DeliverArgs struct {
	TenantID   uuid.UUID `json:"tenant_id"`
	DeliveryID uuid.UUID `json:"delivery_id"`
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
	svc     *Service
	metrics Metrics
	group   *pg.Group[*outcome]
	reads   *pg.Group[*deliveryRead]

	retryAfter sync.Map // job id → provider's retry-after, read by NextRetry
}

// outcome is one attempt to record: the delivery as it was read, what the
// provider answered, and the status it leaves.
type outcome struct {
	d       Delivery
	kind    string
	res     Result
	sendErr error
	status  string
	// fallback: the delivery failed for good and its chain goes on; the
	// next delivery is created with this outcome (startFallbackTx).
	fallback bool
}

func newDeliverWorker(svc *Service, mx Metrics, opts pg.GroupOptions) *DeliverWorker {
	w := &DeliverWorker{svc: svc, metrics: mx}
	w.group = pg.NewGroup(svc.db, opts, w.recordTx)
	reads := opts
	reads.Committers = max(opts.Committers, 4) // a read holds a connection for one round trip
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
	var wg sync.WaitGroup
	wg.Go(func() { w.reads.Run(ctx) })
	w.group.Run(ctx)
	wg.Wait()
}

// Timeout leaves the provider its own timeout plus time to record.
func (w *DeliverWorker) Timeout(*river.Job[DeliverArgs]) time.Duration {
	return w.svc.providers.timeout() + 10*time.Second
}

// NextRetry follows NOTIFY_RETRY_SCHEDULE, or the provider's retry-after
// when it asked for longer.
func (w *DeliverWorker) NextRetry(job *river.Job[DeliverArgs]) time.Time {
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

// Work sends one delivery.
func (w *DeliverWorker) Work(ctx context.Context, job *river.Job[DeliverArgs]) error {
	s := w.svc
	a := job.Args
	read := &deliveryRead{tenantID: a.TenantID, id: a.DeliveryID}
	if err := w.reads.Do(ctx, read); err != nil {
		return err
	}
	d, c := read.row.Delivery, read.row.Channel
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
			return w.fail(ctx, job, &d, "", Result{}, Permanent(fmt.Errorf("channel %s was deleted", d.ChannelID)))
		}
	}
	if d.Status == StatusSucceeded || d.ReplacedBy != nil {
		return nil // already delivered, or handed to its fallback: never twice
	}
	last := job.Attempt >= job.MaxAttempts
	cfg, sec, err := s.open(c)
	if err != nil {
		return w.fail(ctx, job, &d, c.Kind, Result{}, Permanent(err))
	}
	res, sendErr := s.providers.Send(ctx, cfg, sec, Message{DeliveryID: d.ID, EventType: d.EventType, Text: d.Message, Payload: d.Body})
	if sendErr == nil {
		return w.succeed(ctx, &d, c.Kind, res)
	}
	if IsPermanent(sendErr) || last {
		return w.fail(ctx, job, &d, c.Kind, res, sendErr)
	}
	if ra, ok := RetryAfter(sendErr); ok {
		w.retryAfter.Store(job.ID, ra)
	}
	if err := w.record(ctx, &d, c.Kind, res, sendErr, StatusPending); err != nil {
		return err
	}
	w.metrics.Delivery(c.Kind, "retrying")
	return sendErr // River retries on the schedule
}

func (w *DeliverWorker) succeed(ctx context.Context, d *Delivery, kind string, res Result) error {
	now := time.Now().UTC()
	d.DeliveredAt = &now
	if err := w.record(ctx, d, kind, res, nil, StatusSucceeded); err != nil {
		return err
	}
	w.metrics.Delivery(kind, StatusSucceeded)
	if d.EventID.Version() == 7 { // a v7 id embeds the event's receipt time (ms)
		w.metrics.EndToEnd(now.Sub(time.Unix(d.EventID.Time().UnixTime())))
	}
	return nil
}

// fail records a final failure. With a fallback left, the next channel's
// delivery is created in the same transaction and the job completes: the
// chain goes on, and this delivery is no dead letter. Otherwise permanent
// failures cancel the job and an exhausted transient one returns its error
// so River discards the job into the DLQ; either way the error names the
// errors of the chain before it.
func (w *DeliverWorker) fail(ctx context.Context, job *river.Job[DeliverArgs], d *Delivery, kind string, res Result, sendErr error) error {
	fallback := d.HasFallback()
	if err := w.recordOutcome(ctx, &outcome{d: *d, kind: kind, res: res, sendErr: sendErr, status: StatusFailed, fallback: fallback}); err != nil {
		return err
	}
	w.metrics.Delivery(kind, StatusFailed)
	w.svc.logger.WarnContext(ctx, "delivery failed", slog.String("delivery_id", d.ID.String()),
		slog.Int("attempt", job.Attempt), slog.Bool("permanent", IsPermanent(sendErr)), slog.Bool("falls_back", fallback),
		slog.Any("error", sendErr))
	if fallback {
		return nil
	}
	sendErr = withChain(d, sendErr)
	if IsPermanent(sendErr) {
		return river.JobCancel(sendErr)
	}
	return sendErr
}

// record commits one attempt's outcome (with others finishing at the same
// time). A fresh context: the attempt is recorded even if the job's ran out.
func (w *DeliverWorker) record(ctx context.Context, d *Delivery, kind string, res Result, sendErr error, status string) error {
	return w.recordOutcome(ctx, &outcome{d: *d, kind: kind, res: res, sendErr: sendErr, status: status})
}

func (w *DeliverWorker) recordOutcome(ctx context.Context, o *outcome) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return w.group.Do(rctx, o)
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
			metric := billing.MetricNotifications + o.kind
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
