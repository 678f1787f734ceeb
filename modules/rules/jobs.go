package rules

import (
	"context"
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// ProcessWorker works event.process: mark the event processed, evaluate the
// tenant's rules, record the matches and hand firings on — all in one
// transaction, so a crash at any point neither loses nor duplicates an
// effect: the job is simply worked again, and an event already marked
// processed is not processed twice. Concurrent jobs share transactions
// (pg.Group): under load one commit serves a whole group of events.
//
// The job itself is completed by River after Work returns (River batches
// those too). A crash before that completion runs the job again, which then
// finds its event processed and does nothing.
type ProcessWorker struct {
	river.WorkerDefaults[events.ProcessArgs]
	db     *sqlx.DB
	events *events.Service
	group  *pg.Group[*processItem]
	logger *slog.Logger
}

// processItem is one job in a group, and its own outcome.
type processItem struct {
	args  events.ProcessArgs
	trace trace.SpanContext // the job's: its event's evaluation and deliveries continue it
	gone  bool              // the event no longer exists (its tenant was deleted)
}

func newProcessWorker(db *sqlx.DB, ev *events.Service, rules *Service, opts pg.GroupOptions, logger *slog.Logger) *ProcessWorker {
	apply := func(ctx context.Context, tx *sqlx.Tx, items []*processItem) error {
		refs := make([]events.Ref, len(items))
		for i, it := range items {
			refs[i] = events.Ref{TenantID: it.args.TenantID, ID: it.args.EventID}
		}
		fresh, gone, err := ev.ProcessManyTx(ctx, tx, refs)
		if err != nil {
			return err
		}
		evs := make([]events.Event, 0, len(fresh))
		for _, it := range items {
			it.gone = gone[it.args.EventID]
			if e, ok := fresh[it.args.EventID]; ok {
				e.Trace = it.trace
				evs = append(evs, e)
				delete(fresh, it.args.EventID) // a job listed twice is processed once
			}
		}
		return rules.HandleTx(ctx, tx, evs)
	}
	opts.SpanName = "rules.group_commit"
	return &ProcessWorker{db: db, events: ev, group: pg.NewGroup(db, opts, apply), logger: logger}
}

// Run serves the group commits until ctx ends; see pg.Group.Run.
func (w *ProcessWorker) Run(ctx context.Context) { w.group.Run(ctx) }

// Work processes one event.
func (w *ProcessWorker) Work(ctx context.Context, job *river.Job[events.ProcessArgs]) error {
	it := &processItem{args: job.Args, trace: trace.SpanContextFromContext(ctx)}
	err := w.group.Do(ctx, it)
	switch {
	case err == nil && it.gone:
		// The event is gone (tenant deleted): nothing left to do, ever.
		return river.JobCancel(apperr.NotFound("event_not_found", "No such event."))
	case err != nil && job.Attempt >= job.MaxAttempts:
		// The last attempt failed: the job goes to the DLQ; say so on the event.
		a := job.Args
		if mErr := w.events.MarkProcessed(context.WithoutCancel(ctx), w.db, a.TenantID, a.EventID, events.StatusFailed); mErr != nil {
			w.logger.ErrorContext(ctx, "marking event failed", slog.Any("error", mErr))
		}
	}
	return err
}
