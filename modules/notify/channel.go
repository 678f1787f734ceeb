package notify

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"
)

// Channel is a stored notification target. Its secrets stay sealed here;
// Service.open unseals them only to send.
type Channel struct {
	ID            uuid.UUID       `db:"id"`
	TenantID      uuid.UUID       `db:"tenant_id"`
	Name          string          `db:"name"`
	Kind          string          `db:"kind"`
	Config        json.RawMessage `db:"config"`
	SealedSecrets string          `db:"secrets"`
	CreatedAt     time.Time       `db:"created_at"`
	UpdatedAt     time.Time       `db:"updated_at"`
}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Delivery is one message to one channel for one fired rule action.
type Delivery struct {
	ID                uuid.UUID       `db:"id"`
	TenantID          uuid.UUID       `db:"tenant_id"`
	EventID           uuid.UUID       `db:"event_id"`
	RuleID            *uuid.UUID      `db:"rule_id"`
	RuleVersion       *int            `db:"rule_version"`
	ChannelID         uuid.UUID       `db:"channel_id"`
	EventType         string          `db:"event_type"`
	Message           string          `db:"message"`
	Body              json.RawMessage `db:"body"`
	Status            string          `db:"status"`
	Attempts          int             `db:"attempts"`
	LastError         *string         `db:"last_error"`
	ProviderMessageID *string         `db:"provider_message_id"`
	JobID             *int64          `db:"job_id"`
	CreatedAt         time.Time       `db:"created_at"`
	UpdatedAt         time.Time       `db:"updated_at"`
	DeliveredAt       *time.Time      `db:"delivered_at"`
	// RetentionDays is its event's: the delivery is deleted with the event.
	RetentionDays int `db:"retention_days"`
	// Fallback is the channels still to try after this one fails for
	// good; FallbackOf the delivery this one replaced, ReplacedBy the one
	// that replaced it; ChainErrors the final errors of the chain before
	// it (fallback.go).
	Fallback    Chain       `db:"fallback"`
	FallbackOf  *uuid.UUID  `db:"fallback_of"`
	ReplacedBy  *uuid.UUID  `db:"replaced_by"`
	ChainErrors ChainErrors `db:"chain_errors"`
	// SlotAt is the rate-cap slot the delivery reserved while it waits
	// (ratecap.go); cleared when an attempt is recorded.
	SlotAt *time.Time `db:"slot_at"`
	// Trace is the trace the delivery's job continues (not stored in the
	// row: the job's metadata carries it); a fallback's job continues it too.
	Trace trace.SpanContext `db:"-"`
}

// Attempt is one try of a delivery.
type Attempt struct {
	ID                uuid.UUID `db:"id"`
	DeliveryID        uuid.UUID `db:"delivery_id"`
	TenantID          uuid.UUID `db:"tenant_id"`
	Attempt           int       `db:"attempt"`
	Succeeded         bool      `db:"succeeded"`
	StatusCode        *int      `db:"status_code"`
	LatencyMS         int       `db:"latency_ms"`
	Error             *string   `db:"error"`
	Response          *string   `db:"response"`
	ProviderMessageID *string   `db:"provider_message_id"`
	CreatedAt         time.Time `db:"created_at"`
}

// EventSnapshot is the event as a webhook receiver sees it.
type EventSnapshot struct {
	ID         uuid.UUID       `json:"id"`
	Type       string          `json:"type"`
	Source     *string         `json:"source"`
	OccurredAt time.Time       `json:"occurredAt"`
	Payload    json.RawMessage `json:"payload"`
}

// NewDelivery is what rules hands over for one fired action.
type NewDelivery struct {
	// ID is the delivery's id; zero: a new one. A digest names its delivery
	// before it exists (in its matches' reasons), so it passes the id.
	ID          uuid.UUID
	TenantID    uuid.UUID
	RuleID      uuid.UUID
	RuleVersion int
	ChannelID   uuid.UUID
	// Fallback is the channels to try, in order, when ChannelID fails for
	// good (at most MaxChain-1).
	Fallback []uuid.UUID
	Message  string
	// Failed, when set, is why the message could not be made (its
	// template exceeded its budget): the delivery is recorded as failed
	// with this error and never sent.
	Failed string
	// Event is the event that caused the delivery; for a digest, its first.
	Event EventSnapshot
	// Digest, when set, makes the delivery a digest of these events.
	Digest *Digest
	// RetentionDays is the event's retention (events.Event.RetentionDays):
	// the delivery is deleted when the event is (DeleteExpired).
	RetentionDays int
	// Trace is the trace the delivery continues (the event's processing);
	// its notify.deliver job carries it. Zero: the inserting context's.
	Trace trace.SpanContext
}

// Digest is the events one digest delivery stands for, oldest first. A
// webhook receives them as data.events and data.count.
type Digest struct {
	Events []EventSnapshot
}

// webhookBody is the JSON a webhook delivery POSTs (SPEC §3).
type webhookBody struct {
	Type      string      `json:"type"`
	Timestamp time.Time   `json:"timestamp"`
	Data      webhookData `json:"data"`
}

// webhookData is a delivery's data. A digest has no single event: it
// carries count and events (oldest first) instead, and eventId names the
// first of them.
type webhookData struct {
	EventID     uuid.UUID       `json:"eventId"`
	DeliveryID  uuid.UUID       `json:"deliveryId"`
	RuleID      *uuid.UUID      `json:"ruleId"`
	RuleVersion *int            `json:"ruleVersion"`
	Message     string          `json:"message"`
	Event       *EventSnapshot  `json:"event,omitempty"`
	Count       *int            `json:"count,omitempty"`
	Events      []EventSnapshot `json:"events,omitempty"`
}
