package notify

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// releaseBatch is how many waiting jobs one listing reads.
const releaseBatch = 500

// ReleaseWaiting makes the notify.deliver jobs of a channel that wait
// (snoozed on its open circuit, or retrying) available now, lowest job id
// first, and returns how many it released. Each job is released by its own
// statement (River's JobRetry), which locks that one row and stamps it
// with its now(): the jobs become available in job id order, the order
// their deliveries were made, and a release never holds one job's lock
// while waiting for another's (River's completer updates many rows at
// once: holding several here could deadlock with it). A job already
// runnable is left in its place, a running one is not touched (River), and
// completed or dead jobs are never listed. Jobs from before channel_id was
// in DeliverArgs are not found: they come back when their snooze ends.
func (s *Service) ReleaseWaiting(ctx context.Context, tenantID, channelID uuid.UUID) (int, error) {
	released := 0
	var after *river.JobListCursor
	for {
		p := river.NewJobListParams().Kinds(DeliverArgs{}.Kind()).
			States(rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStateAvailable).
			Where("args->>'tenant_id' = @tenant AND args->>'channel_id' = @channel",
				river.NamedArgs{"tenant": tenantID.String(), "channel": channelID.String()}).
			OrderBy(river.JobListOrderByID, river.SortOrderAsc).First(releaseBatch)
		if after != nil {
			p = p.After(after)
		}
		res, err := s.jobs.JobList(ctx, p)
		if err != nil {
			return released, fmt.Errorf("list waiting deliveries: %w", err)
		}
		now := time.Now()
		for _, j := range res.Jobs {
			if j.State == rivertype.JobStateAvailable && !j.ScheduledAt.After(now) {
				continue
			}
			if _, err := s.jobs.JobRetry(ctx, j.ID); err != nil {
				return released, fmt.Errorf("release job %d: %w", j.ID, err)
			}
			released++
		}
		if len(res.Jobs) < releaseBatch || res.LastCursor == nil {
			return released, nil
		}
		after = res.LastCursor
	}
}

// release is one closed circuit whose waiting deliveries go again.
type release struct{ tenantID, channelID uuid.UUID }

// releaseAgain is when a closed circuit's waiting jobs are released a
// second time: a job that was running when the circuit closed, and
// snoozed on the open state it had read, is caught by it.
const releaseAgain = time.Second

// runReleases releases the waiting deliveries of circuits this process
// closed (queued by afterRecord) until ctx ends. A crash before a release
// loses nothing: the waiting jobs come back when their snooze ends.
func (w *DeliverWorker) runReleases(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-w.releases:
			w.releaseOnce(ctx, r)
			select {
			case <-ctx.Done():
				return
			case <-time.After(releaseAgain):
			}
			w.releaseOnce(ctx, r)
		}
	}
}

func (w *DeliverWorker) releaseOnce(ctx context.Context, r release) {
	n, err := w.svc.ReleaseWaiting(ctx, r.tenantID, r.channelID)
	logger := w.svc.logger.With(slog.String("tenant_id", r.tenantID.String()), slog.String("channel_id", r.channelID.String()))
	if err != nil {
		logger.WarnContext(ctx, "releasing waiting deliveries failed", slog.Int("released", n), slog.Any("error", err))
		return
	}
	if n > 0 {
		logger.InfoContext(ctx, "released waiting deliveries", slog.Int("released", n))
	}
}
