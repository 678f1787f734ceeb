package events

import (
	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// QueueEvents is the River queue event.process jobs run on.
const QueueEvents = "events"

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
