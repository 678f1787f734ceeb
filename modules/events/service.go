package events

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// Service is the events use cases. Each method is its own transaction
// boundary unless it takes a Querier.
type Service struct {
	db     *sqlx.DB
	jobs   *river.Client[*sql.Tx] // insert-only
	repo   repo
	logger *slog.Logger
}

// NewService returns the events Service.
func NewService(db *sqlx.DB, jobs *river.Client[*sql.Tx], logger *slog.Logger) *Service {
	return &Service{db: db, jobs: jobs, logger: logger}
}

// IngestResult is a stored event and whether it was stored by an earlier
// request with the same idempotency key.
type IngestResult struct {
	Event    Event
	Replayed bool
}

// Ingest stores one event and enqueues its event.process job in one
// transaction: both commit or neither does. With an idempotency key, a
// repeat of the same body returns the original event (Replayed) and a
// different body is refused; a repeat racing the first waits for it.
func (s *Service) Ingest(ctx context.Context, tenantID uuid.UUID, in Input) (IngestResult, error) {
	e := newEvent(tenantID, in, time.Now().UTC())
	var res IngestResult
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		inserted, err := s.repo.Insert(ctx, tx, &e)
		if err != nil {
			return err
		}
		if !inserted {
			prior, err := s.repo.GetByIdempotencyKey(ctx, tx, tenantID, in.IdempotencyKey)
			if err != nil {
				return err
			}
			if !bytes.Equal(prior.RequestHash, e.RequestHash) {
				return apperr.Invalid("idempotency_key_reused",
					"This idempotency key was already used with a different request body.")
			}
			res = IngestResult{Event: prior, Replayed: true}
			return nil
		}
		if _, err := s.jobs.InsertTx(ctx, tx.Tx, ProcessArgs{TenantID: tenantID, EventID: e.ID}, nil); err != nil {
			return fmt.Errorf("enqueue event.process: %w", err)
		}
		res = IngestResult{Event: e}
		return nil
	})
	if err != nil {
		return IngestResult{}, err
	}
	return res, nil
}

// newEvent makes the row for one validated input received at now.
func newEvent(tenantID uuid.UUID, in Input, now time.Time) Event {
	e := Event{
		ID:         uuid.Must(uuid.NewV7()),
		TenantID:   tenantID,
		Type:       in.Type,
		Source:     in.Source,
		Payload:    in.Payload,
		OccurredAt: now,
		ReceivedAt: now,
		Status:     StatusAccepted,
	}
	if in.OccurredAt != nil {
		e.OccurredAt = *in.OccurredAt
	}
	if in.IdempotencyKey != "" {
		key := in.IdempotencyKey
		e.IdempotencyKey = &key
		e.RequestHash = in.hash[:]
	}
	return e
}

// Get returns one of the tenant's events.
func (s *Service) Get(ctx context.Context, tenantID, id uuid.UUID) (Event, error) {
	return s.repo.Get(ctx, s.db, tenantID, id)
}

// GetTx is Get inside the caller's transaction (the event.process worker).
func (s *Service) GetTx(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) (Event, error) {
	return s.repo.Get(ctx, q, tenantID, id)
}

// List returns the tenant's events newest first: up to f.Limit+1 rows, the
// extra one telling the caller that a next page exists.
func (s *Service) List(ctx context.Context, tenantID uuid.UUID, f ListFilter) ([]Event, error) {
	f.Limit++
	return s.repo.List(ctx, s.db, tenantID, f)
}

// Scan returns up to limit events received in [since, until) after the
// given id, oldest first (rules' backtests page through it).
func (s *Service) Scan(ctx context.Context, tenantID uuid.UUID, since, until time.Time, after uuid.UUID, limit int) ([]Event, error) {
	return s.repo.Scan(ctx, s.db, tenantID, since, until, after, limit)
}

// MarkProcessedTx sets the event's final status inside the caller's
// transaction, the one that also completes its job.
func (s *Service) MarkProcessedTx(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, status string) error {
	return s.repo.MarkProcessed(ctx, q, tenantID, id, status)
}
