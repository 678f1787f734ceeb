package rules

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// ProcessWorker works event.process: evaluate the tenant's rules, record the
// matches, hand firings on, mark the event processed and complete the job —
// all in one transaction, so a crash at any point neither loses nor
// duplicates an effect: the job is simply worked again.
type ProcessWorker struct {
	river.WorkerDefaults[events.ProcessArgs]
	db     *sqlx.DB
	events *events.Service
	rules  *Service
	logger *slog.Logger
}

// Work processes one event.
func (w *ProcessWorker) Work(ctx context.Context, job *river.Job[events.ProcessArgs]) error {
	a := job.Args
	err := pg.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		e, fresh, err := w.events.ProcessTx(ctx, tx, a.TenantID, a.EventID)
		if err != nil {
			return err
		}
		if !fresh {
			// Processed before (a retry after an ambiguous commit): only the
			// job is left to complete.
			return completeTx(ctx, tx, job)
		}
		fired, err := w.rules.EvaluateTx(ctx, tx, e)
		if err != nil {
			return err
		}
		if err := w.rules.DeliverTx(ctx, tx, e, fired); err != nil {
			return err
		}
		return completeTx(ctx, tx, job)
	})
	switch {
	case apperr.IsKind(err, apperr.KindNotFound):
		// The event is gone (tenant deleted): nothing left to do, ever.
		return river.JobCancel(err)
	case err != nil && job.Attempt >= job.MaxAttempts:
		// The last attempt failed: the job goes to the DLQ; say so on the event.
		if mErr := w.events.MarkProcessedTx(context.WithoutCancel(ctx), w.db, a.TenantID, a.EventID, events.StatusFailed); mErr != nil {
			w.logger.ErrorContext(ctx, "marking event failed", slog.Any("error", mErr))
		}
	}
	return err
}

func completeTx(ctx context.Context, tx *sqlx.Tx, job *river.Job[events.ProcessArgs]) error {
	if _, err := river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx.Tx, job); err != nil {
		return fmt.Errorf("complete job: %w", err)
	}
	return nil
}
