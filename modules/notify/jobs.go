package notify

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

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
// transaction; its outcome and (on success) the job's completion commit
// together. A crash between the provider's answer and that commit re-sends
// on retry: delivery is at-least-once, and the stable webhook-id (and email
// Message-ID) lets receivers drop the duplicate. A delivery recorded as
// succeeded is never sent again.
type DeliverWorker struct {
	river.WorkerDefaults[DeliverArgs]
	svc     *Service
	metrics Metrics

	retryAfter sync.Map // job id → provider's retry-after, read by NextRetry
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
	d, err := s.repo.GetDelivery(ctx, s.db, a.TenantID, a.DeliveryID, false)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return river.JobCancel(err)
	}
	if err != nil {
		return err
	}
	if d.Status == StatusSucceeded {
		return nil // already delivered: never twice
	}
	last := job.Attempt >= job.MaxAttempts
	c, err := s.repo.GetChannel(ctx, s.db, a.TenantID, d.ChannelID)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return w.fail(ctx, job, &d, "", Result{}, Permanent(fmt.Errorf("channel %s was deleted", d.ChannelID)))
	}
	if err != nil {
		return err
	}
	cfg, sec, err := s.open(c)
	if err != nil {
		return w.fail(ctx, job, &d, c.Kind, Result{}, Permanent(err))
	}
	res, sendErr := s.providers.Send(ctx, cfg, sec, Message{DeliveryID: d.ID, EventType: d.EventType, Text: d.Message, Payload: d.Body})
	if sendErr == nil {
		return w.succeed(ctx, job, &d, c.Kind, res)
	}
	if IsPermanent(sendErr) || last {
		return w.fail(ctx, job, &d, c.Kind, res, sendErr)
	}
	if ra, ok := RetryAfter(sendErr); ok {
		w.retryAfter.Store(job.ID, ra)
	}
	if err := w.record(ctx, &d, res, sendErr, StatusPending); err != nil {
		return err
	}
	w.metrics.Delivery(c.Kind, "retrying")
	return sendErr // River retries on the schedule
}

func (w *DeliverWorker) succeed(ctx context.Context, job *river.Job[DeliverArgs], d *Delivery, kind string, res Result) error {
	now := time.Now().UTC()
	d.DeliveredAt = &now
	err := pg.InTx(ctx, w.svc.db, func(tx *sqlx.Tx) error {
		if err := w.recordTx(ctx, tx, d, res, nil, StatusSucceeded); err != nil {
			return err
		}
		if b := w.svc.billing; b != nil {
			if err := b.CountTx(ctx, tx, d.TenantID, billing.MetricNotifications+kind, 1); err != nil {
				return err
			}
		}
		if _, err := river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx.Tx, job); err != nil {
			return fmt.Errorf("complete job: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	w.metrics.Delivery(kind, StatusSucceeded)
	if d.EventID.Version() == 7 { // a v7 id embeds the event's receipt time (ms)
		w.metrics.EndToEnd(now.Sub(time.Unix(d.EventID.Time().UnixTime())))
	}
	return nil
}

// fail records a final failure. Permanent failures cancel the job; an
// exhausted transient one returns its error so River discards the job into
// the DLQ.
func (w *DeliverWorker) fail(ctx context.Context, job *river.Job[DeliverArgs], d *Delivery, kind string, res Result, sendErr error) error {
	if err := w.record(ctx, d, res, sendErr, StatusFailed); err != nil {
		return err
	}
	w.metrics.Delivery(kind, StatusFailed)
	w.svc.logger.WarnContext(ctx, "delivery failed", slog.String("delivery_id", d.ID.String()),
		slog.Int("attempt", job.Attempt), slog.Bool("permanent", IsPermanent(sendErr)), slog.Any("error", sendErr))
	if IsPermanent(sendErr) {
		return river.JobCancel(sendErr)
	}
	return sendErr
}

func (w *DeliverWorker) record(ctx context.Context, d *Delivery, res Result, sendErr error, status string) error {
	// A fresh context: the attempt is recorded even if the job's ran out.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return pg.InTx(rctx, w.svc.db, func(tx *sqlx.Tx) error { return w.recordTx(rctx, tx, d, res, sendErr, status) })
}

func (w *DeliverWorker) recordTx(ctx context.Context, tx *sqlx.Tx, d *Delivery, res Result, sendErr error, status string) error {
	d.Attempts++
	d.Status = status
	at := Attempt{DeliveryID: d.ID, TenantID: d.TenantID, Attempt: d.Attempts, Succeeded: sendErr == nil,
		LatencyMS: int(res.Latency.Milliseconds())}
	if res.StatusCode != 0 {
		at.StatusCode = &res.StatusCode
	}
	if res.Response != "" {
		at.Response = &res.Response
	}
	if res.ProviderMessageID != "" {
		at.ProviderMessageID = &res.ProviderMessageID
		d.ProviderMessageID = &res.ProviderMessageID
	}
	d.LastError = nil
	if sendErr != nil {
		msg := sendErr.Error()
		at.Error, d.LastError = &msg, &msg
	}
	return w.svc.repo.RecordAttempt(ctx, tx, d, &at)
}
