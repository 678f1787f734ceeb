package events

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// QueueEvents is the River queue event.process jobs run on.
const QueueEvents = "events"

// QueueMaintenance is the River queue of housekeeping jobs
// (events.partitions): one worker per process is enough, and event
// processing backlogs never delay them.
const QueueMaintenance = "maintenance"

// ProcessArgs is the event.process job, enqueued in the transaction that
// stores the event. events publishes it; the rules module works it.
type ProcessArgs struct {
	TenantID uuid.UUID `json:"tenant_id"`
	EventID  uuid.UUID `json:"event_id"`
}

// Kind is stored in job rows: never rename it.
func (ProcessArgs) Kind() string { return "event.process" }

// InsertOpts puts the job on the events queue.
func (ProcessArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEvents, MaxAttempts: 10}
}

// PartitionsArgs is the events.partitions job: Service.Maintain. River's
// leader enqueues it when it starts and hourly (PeriodicJobs).
type PartitionsArgs struct{}

// Kind is stored in job rows: never rename it.
func (PartitionsArgs) Kind() string { return "events.partitions" }

// InsertOpts: one job per hour at most, whoever enqueues it; a failed run
// is retried twice, then the next hour's run takes over.
func (PartitionsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMaintenance, MaxAttempts: 3, UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// PeriodicJobs are the jobs events schedules: partition maintenance when a
// leader starts, then hourly.
func PeriodicJobs() []*river.PeriodicJob {
	return []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return PartitionsArgs{}, nil },
		&river.PeriodicJobOpts{ID: PartitionsArgs{}.Kind(), RunOnStart: true})}
}

// PartitionsWorker works events.partitions.
type PartitionsWorker struct {
	river.WorkerDefaults[PartitionsArgs]
	svc    *Service
	logger *slog.Logger
}

// Work runs one maintenance pass. When deletions are left over, the job
// comes back in a minute (a snooze costs no attempt).
func (w *PartitionsWorker) Work(ctx context.Context, _ *river.Job[PartitionsArgs]) error {
	rep, err := w.svc.Maintain(ctx, time.Now())
	if err != nil {
		return err
	}
	w.logger.InfoContext(ctx, "events maintenance done", slog.Bool("skipped", rep.Skipped),
		slog.Any("created", rep.Created), slog.Any("dropped", rep.Dropped),
		slog.Int64("deleted", rep.Deleted), slog.Bool("more", rep.More))
	if rep.More {
		return river.JobSnooze(time.Minute)
	}
	return nil
}

// FairTenant orders event.process jobs fairly across tenants (queue.Fair).
func (a ProcessArgs) FairTenant() uuid.UUID { return a.TenantID }
