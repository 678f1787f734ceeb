package events

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// Service is the events use cases. Each method is its own transaction
// boundary unless it takes one: a …Tx method runs in the caller's
// *sqlx.Tx, a method that takes a pg.Querier runs on what it is given.
type Service struct {
	db      *sqlx.DB
	jobs    *river.Client[*sql.Tx] // insert-only
	billing *billing.Service       // nil: no quotas (tests of this module alone)
	repo    repo
	schemas *schemaCache
	// Single-event ingestion goes through a pg.Group (commit.go): direct
	// applies each request alone; committers groups them while
	// RunCommitters runs.
	direct     *pg.Group[*pending]
	committers atomic.Pointer[pg.Group[*pending]]
	expire     []ExpireFunc // other modules' rows of expired events (AddExpiry)
	logger     *slog.Logger
	replica    *sqlx.DB // listing reads (UseReplica); nil: the primary
}

// NewService returns the events Service.
func NewService(db *sqlx.DB, jobs *river.Client[*sql.Tx], bill *billing.Service, logger *slog.Logger) *Service {
	s := &Service{db: db, jobs: jobs, billing: bill, logger: logger,
		schemas: newSchemaCache(db)}
	s.direct = pg.NewGroup(db, pg.GroupOptions{TxTimeout: ingestTxTimeout, SpanName: ingestSpan}, s.ingestTx)
	return s
}

// IngestResult is a stored event and whether it was stored by an earlier
// request with the same idempotency key. A replay's Event holds the
// original's ID, TenantID, IdempotencyKey and RequestHash only.
type IngestResult struct {
	Event    Event
	Replayed bool
	Quota    billing.Quota // what the X-Usage-* headers report
}

// Ingest stores one event and enqueues its event.process job in one
// transaction: both commit or neither does. With an idempotency key, a
// repeat of the same body returns the original event (Replayed) and a
// different body is refused; a repeat racing the first waits for it.
func (s *Service) Ingest(ctx context.Context, tenantID uuid.UUID, in Input) (IngestResult, error) {
	// The type's schema, here in the request goroutine (ingestschema.go).
	if res, done, err := s.checkSchema(ctx, tenantID, in); done {
		return res, err
	}
	q, err := s.admit(ctx, tenantID, 1)
	if apperr.IsKind(err, apperr.KindRateLimited) && in.IdempotencyKey != "" {
		// Over quota, but a retry of an event stored earlier still gets its
		// original answer.
		if prior, perr := s.repo.GetKey(ctx, s.db, tenantID, in.IdempotencyKey); perr == nil && bytes.Equal(prior.RequestHash, in.hash[:]) {
			return IngestResult{Event: prior.event(), Replayed: true, Quota: q}, nil
		}
	}
	if err != nil {
		return IngestResult{}, err
	}
	p := &pending{e: newEvent(tenantID, in, time.Now().UTC(), retentionOf(q)), q: q, trace: trace.SpanContextFromContext(ctx)}
	err = s.withPartitions(ctx, func() error { return s.ingestGroup().Do(ctx, p) })
	if err == nil {
		err = p.err
	}
	if err != nil {
		return IngestResult{}, err
	}
	res, noted := p.result(), p.noted
	if res.Replayed {
		q.Added, q.CrossesSoft = 0, false
		q.WarnSoft = q.Soft != nil && q.Used > *q.Soft
	}
	s.committed(tenantID, q, noted)
	res.Quota = q
	return res, nil
}

// SoftLimitEventType is the event SignalOps records, once per period, when a
// tenant passes its monthly soft limit; rules can match it like any other.
const SoftLimitEventType = "usage.soft_limit_reached"

func (s *Service) admit(ctx context.Context, tenantID uuid.UUID, n int64) (billing.Quota, error) {
	if s.billing == nil {
		return billing.Quota{}, nil
	}
	return s.billing.Admit(ctx, tenantID, n)
}

// countTx counts n accepted events and, when they pass the soft limit,
// records the period's one soft-limit notice and its event.
func (s *Service) countTx(ctx context.Context, tx *sqlx.Tx, tenantID uuid.UUID, q billing.Quota, n int64) (bool, error) {
	if s.billing == nil || n == 0 {
		return false, nil
	}
	if err := s.billing.CountTx(ctx, tx, tenantID, billing.MetricEvents, n); err != nil {
		return false, err
	}
	return s.noticeTx(ctx, tx, tenantID, q, n)
}

// noticeTx records the period's soft-limit notice and its event when q
// crosses the soft limit (once: the notice's primary key decides).
func (s *Service) noticeTx(ctx context.Context, tx *sqlx.Tx, tenantID uuid.UUID, q billing.Quota, n int64) (bool, error) {
	if !q.CrossesSoft {
		return false, nil
	}
	recorded, err := s.billing.RecordSoftLimitTx(ctx, tx, tenantID, q)
	if err != nil || !recorded {
		return false, err
	}
	payload := map[string]any{"period": q.Period.Format("2006-01"), "count": q.Used + n,
		"softLimit": q.Soft, "hardLimit": q.Hard}
	if _, err := s.systemEventTx(ctx, tx, tenantID, SoftLimitEventType, payload, retentionOf(q)); err != nil {
		return false, err
	}
	return true, nil
}

// SystemSource is the source of the events SignalOps itself records for a
// tenant (RecordTx, the soft-limit notice).
const SystemSource = "signalops"

// RecordTx stores an event SignalOps itself raises for a tenant (source
// "signalops"; the notify module's channel.circuit_opened and
// channel.circuit_closed) and enqueues its event.process job, in the
// caller's transaction: it exists exactly when what it reports does, and
// it is processed like any other event, so the tenant's rules can act on
// it. It skips what guards producers (API key, rate limit, quota) and is
// not counted as usage; it keeps the tenant plan's retention.
func (s *Service) RecordTx(ctx context.Context, tx *sqlx.Tx, tenantID uuid.UUID, typ string, payload any) (Event, error) {
	retention := billing.RetentionEnterprise
	if s.billing != nil {
		var err error
		if retention, err = s.billing.RetentionDays(ctx, tenantID); err != nil {
			return Event{}, err
		}
	}
	return s.systemEventTx(ctx, tx, tenantID, typ, payload, retention)
}

func (s *Service) systemEventTx(ctx context.Context, tx *sqlx.Tx, tenantID uuid.UUID, typ string, payload any, retentionDays int) (Event, error) {
	body, err := json.Marshal(payload)
	if err != nil {
		return Event{}, fmt.Errorf("encode %s payload: %w", typ, err)
	}
	src := SystemSource
	now := time.Now().UTC()
	e := Event{ID: uuid.Must(uuid.NewV7()), TenantID: tenantID, Type: typ, Source: &src,
		Payload: body, OccurredAt: now, ReceivedAt: now, Status: StatusAccepted, RetentionDays: retentionDays}
	if _, err := s.repo.Insert(ctx, tx, &e); err != nil {
		return Event{}, err
	}
	if _, err := s.jobs.InsertTx(ctx, tx.Tx, ProcessArgs{TenantID: tenantID, EventID: e.ID}, nil); err != nil {
		return Event{}, fmt.Errorf("enqueue event.process: %w", err)
	}
	return e, nil
}

func (s *Service) committed(tenantID uuid.UUID, q billing.Quota, noted bool) {
	if s.billing != nil {
		s.billing.Committed(tenantID, q, noted)
	}
}

// retentionOf is the retention of events admitted with q: the tenant's
// plan's, or without billing (tests of this module alone) the longest, so
// nothing is dropped early.
func retentionOf(q billing.Quota) int {
	if q.RetentionDays > 0 {
		return q.RetentionDays
	}
	return billing.RetentionEnterprise
}

// newEvent makes the row for one validated input received at now. The id
// is made after now was read, so its millisecond is never before
// received_at's: List and Scan rely on it.
func newEvent(tenantID uuid.UUID, in Input, now time.Time, retentionDays int) Event {
	e := Event{
		ID:            uuid.Must(uuid.NewV7()),
		TenantID:      tenantID,
		Type:          in.Type,
		Source:        in.Source,
		Payload:       in.Payload,
		OccurredAt:    now,
		ReceivedAt:    now,
		Status:        StatusAccepted,
		RetentionDays: retentionDays,
	}
	if in.OccurredAt != nil {
		e.OccurredAt = *in.OccurredAt
	}
	if in.IdempotencyKey != "" {
		key := in.IdempotencyKey
		e.IdempotencyKey = &key
		e.RequestHash = append([]byte(nil), in.hash[:]...) // in.hash[:] would move every in to the heap
	}
	return e
}

// Get returns one of the tenant's events.
func (s *Service) Get(ctx context.Context, tenantID, id uuid.UUID) (Event, error) {
	return s.repo.Get(ctx, s.db, tenantID, id)
}

// List returns the tenant's events newest first: up to f.Limit+1 rows, the
// extra one telling the caller that a next page exists.
func (s *Service) List(ctx context.Context, tenantID uuid.UUID, f ListFilter) ([]Event, error) {
	f.Limit++
	return s.repo.List(ctx, s.reads(), tenantID, f)
}

// UseReplica sends the listing reads (GET /api/events) to replica, a streaming replica
// of the primary (DATABASE_READ_URL): they may trail the primary by the
// replication lag. Everything else, including reads that must see the
// caller's own writes (GET /api/events/{id} right after its 202), stays on the primary. Call it before serving.
func (s *Service) UseReplica(replica *sqlx.DB) { s.replica = replica }

// reads is where listing reads go: the replica when there is one.
func (s *Service) reads() pg.Querier {
	if s.replica != nil {
		return s.replica
	}
	return s.db
}

// Scan returns up to limit events received in [since, until) after the
// given id, oldest first (rules' backtests page through it).
func (s *Service) Scan(ctx context.Context, tenantID uuid.UUID, since, until time.Time, after uuid.UUID, limit int) ([]Event, error) {
	return s.repo.Scan(ctx, s.db, tenantID, since, until, after, limit)
}

// MarkProcessed sets the event's final status with q, the pool or a
// transaction (the event.process worker marks an event failed on its job's
// last attempt, outside any transaction).
func (s *Service) MarkProcessed(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, status string) error {
	return s.repo.MarkProcessed(ctx, q, tenantID, id, status)
}

// Ref names one event of a tenant.
type Ref struct {
	TenantID uuid.UUID
	ID       uuid.UUID
}

// ProcessManyTx marks a group of events processed in one statement, in the
// caller's transaction (the one that also records their effects), and
// returns those it marked now (fresh), by id. gone lists the refs that are
// not stored at all; the rest were processed before.
func (s *Service) ProcessManyTx(ctx context.Context, tx *sqlx.Tx, refs []Ref) (fresh map[uuid.UUID]Event, gone map[uuid.UUID]bool, err error) {
	// One lock order for every group: two groups holding the same event (a
	// rescued job beside its original) wait rather than deadlock.
	refs = slices.Clone(refs)
	slices.SortFunc(refs, func(a, b Ref) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	marked, err := s.repo.MarkProcessedMany(ctx, tx, refs)
	if err != nil {
		return nil, nil, err
	}
	fresh = make(map[uuid.UUID]Event, len(marked))
	for _, e := range marked {
		fresh[e.ID] = e
	}
	var rest []Ref
	for _, r := range refs {
		if _, ok := fresh[r.ID]; !ok {
			rest = append(rest, r)
		}
	}
	if len(rest) == 0 {
		return fresh, nil, nil
	}
	found, err := s.repo.Existing(ctx, tx, rest)
	if err != nil {
		return nil, nil, err
	}
	gone = map[uuid.UUID]bool{}
	for _, r := range rest {
		if !found[r.ID] {
			gone[r.ID] = true
		}
	}
	return fresh, gone, nil
}
