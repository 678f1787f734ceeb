package events

import (
	"context"
	"database/sql"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/httpx"
)

// Module is the events module as cmd wires it.
type Module struct {
	Service *Service
	related []RelatedFunc
	count   CountFunc
}

// CountFunc counts n ingested events with a result: ItemAccepted,
// ItemReplayed or ItemRejected. cmd passes the process's metrics; events
// itself knows nothing of Prometheus.
type CountFunc func(result string, n int)

// SetMetrics makes ingestion report to fn; call it before Routes.
func (m *Module) SetMetrics(fn CountFunc) { m.count = fn }

// MatchRef names a rule version that matched an event, whether it fired
// and, when it did not, why (SPEC §9).
type MatchRef struct {
	RuleID      uuid.UUID `json:"ruleId"`
	RuleVersion int       `json:"ruleVersion"`
	Fired       bool      `json:"fired"`
	Reason      *string   `json:"reason"`
}

// DeliveryRef is a notification an event caused: by which rule, to which
// channel, how it went, and in a fallback chain the delivery it replaced.
type DeliveryRef struct {
	ID         uuid.UUID  `json:"id"`
	RuleID     *uuid.UUID `json:"ruleId"`
	ChannelID  uuid.UUID  `json:"channelId"`
	Status     string     `json:"status"`
	Attempts   int        `json:"attempts"`
	FallbackOf *uuid.UUID `json:"fallbackOf"`
}

// Related is what other modules recorded about an event.
type Related struct {
	Matches    []MatchRef
	Deliveries []DeliveryRef
}

// RelatedFunc adds another module's records about an event to r. Modules
// that events must not import (rules, notify) provide these; cmd wires them.
type RelatedFunc func(ctx context.Context, tenantID, eventID uuid.UUID, r *Related) error

// AddRelated registers providers of related records for GET /api/events/{id}.
func (m *Module) AddRelated(fns ...RelatedFunc) { m.related = append(m.related, fns...) }

// AddWorkers registers the jobs events works: events.partitions.
func (m *Module) AddWorkers(w *river.Workers) {
	river.AddWorker(w, &PartitionsWorker{svc: m.Service, logger: m.Service.logger})
}

// New builds the events module; jobs is the process's insert-only River client.
func New(db *sqlx.DB, jobs *river.Client[*sql.Tx], bill *billing.Service, logger *slog.Logger) *Module {
	return &Module{Service: NewService(db, jobs, bill, logger.With("module", "events"))}
}

// Routes mounts ingestion on ingest (API keys) and the reads on read (API
// keys with events:read, or users).
func (m *Module) Routes(ingest, read *httpx.Group) {
	h := handler{svc: m.Service, related: m.related, count: m.count}
	ingest.POST("/events", h.create, auth.RequireScope(auth.ScopeEventsWrite), httpx.BodyLimit(MaxBodyBytes))
	ingest.POST("/events/batch", h.createBatch, auth.RequireScope(auth.ScopeEventsWrite), httpx.BodyLimit(MaxBatchBytes))
	read.GET("/events", h.list, auth.RequireScope(auth.ScopeEventsRead))
	read.GET(StreamPath, h.stream, auth.RequireScope(auth.ScopeEventsRead))
	read.GET("/events/:id", h.get, auth.RequireScope(auth.ScopeEventsRead))
}
