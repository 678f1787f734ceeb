package rules

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// ProcessWorker works event.process. Every effect of processing and the
// job's completion commit in one transaction, so a crash at any point
// neither loses nor duplicates an effect: the job is simply worked again.
type ProcessWorker struct {
	river.WorkerDefaults[events.ProcessArgs]
	db     *sqlx.DB
	events *events.Service
}

// Work processes one event.
func (w *ProcessWorker) Work(ctx context.Context, job *river.Job[events.ProcessArgs]) error {
	return pg.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		a := job.Args
		err := w.events.MarkProcessedTx(ctx, tx, a.TenantID, a.EventID, events.StatusProcessed)
		if apperr.IsKind(err, apperr.KindNotFound) {
			// The event is gone (tenant deleted): nothing left to do, ever.
			return river.JobCancel(err)
		}
		if err != nil {
			return err
		}
		if _, err := river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx.Tx, job); err != nil {
			return fmt.Errorf("complete job: %w", err)
		}
		return nil
	})
}
