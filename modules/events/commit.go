package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// Group commit. Every peer pays one commit (one WAL flush) per event. The
// committers below take whatever single-event requests are queued, insert
// them with one multi-row statement plus River's bulk insert, commit once,
// and only then answer each request: no added latency when idle (a lone
// request is committed at once), the same durability (nobody hears 202
// before the commit), and under load one flush serves many events.

// GroupCommit tunes the committers.
type GroupCommit struct {
	Committers int           // concurrent transactions (each holds one connection while committing)
	MaxBatch   int           // events per transaction at most
	TxTimeout  time.Duration // bound on one group transaction
}

type pending struct {
	ctx  context.Context
	in   Input
	e    Event
	q    billing.Quota
	done chan committed // buffered: the committer never blocks on it
}

type committed struct {
	res   IngestResult
	noted bool
	err   error
}

// RunCommitters serves Ingest with group commit until ctx ends; then
// Ingest falls back to one transaction per event. Call it once per process.
func (s *Service) RunCommitters(ctx context.Context, gc GroupCommit) {
	gc.Committers = max(gc.Committers, 1)
	gc.MaxBatch = max(gc.MaxBatch, 1)
	if gc.TxTimeout <= 0 {
		gc.TxTimeout = 10 * time.Second
	}
	queue := make(chan *pending, gc.Committers*gc.MaxBatch)
	s.queue.Store(&queue)
	done := make(chan struct{})
	for range gc.Committers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case first := <-queue:
					batch := []*pending{first}
				drain:
					for len(batch) < gc.MaxBatch {
						select {
						case p := <-queue:
							batch = append(batch, p)
						default:
							break drain
						}
					}
					txCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), gc.TxTimeout)
					s.commitGroup(txCtx, batch)
					cancel()
				}
			}
		}()
	}
	<-ctx.Done()
	s.queue.Store(nil)
	for range gc.Committers {
		<-done
	}
	// Requests queued after the committers stopped get the direct path.
	for {
		select {
		case p := <-queue:
			res, noted, err := s.ingestOne(p.ctx, p.e, p.in, p.q)
			p.done <- committed{res, noted, err}
		default:
			return
		}
	}
}

// enqueue hands a request to the committers; false when none run.
func (s *Service) enqueue(ctx context.Context, p *pending) (committed, bool) {
	qp := s.queue.Load()
	if qp == nil {
		return committed{}, false
	}
	select {
	case *qp <- p:
	case <-ctx.Done():
		return committed{err: ctx.Err()}, true
	}
	select {
	case c := <-p.done:
		return c, true
	case <-ctx.Done():
		// The event may still commit; a retry with the same idempotency key
		// gets its answer.
		return committed{err: ctx.Err()}, true
	}
}

// commitGroup stores a batch of single-event requests in one transaction.
func (s *Service) commitGroup(ctx context.Context, batch []*pending) {
	live := batch[:0:0]
	for _, p := range batch {
		if p.ctx.Err() != nil {
			p.done <- committed{err: p.ctx.Err()} // gave up while queued: never stored
			continue
		}
		live = append(live, p)
	}
	if len(live) == 0 {
		return
	}
	var results []committed
	var err error
	// A deadlock or serialization failure aborts the whole group; nothing of
	// it committed, so it is simply run again.
	for attempt := 1; ; attempt++ {
		results, err = s.commitGroupTx(ctx, live)
		if err == nil || !pg.IsRetryable(err) || attempt == 3 {
			break
		}
	}
	for i, p := range live {
		if err != nil {
			results[i] = committed{err: err}
		}
		p.done <- results[i]
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		s.logger.WarnContext(ctx, "group commit failed", slog.Int("events", len(live)), slog.Any("error", err))
	}
}

func (s *Service) commitGroupTx(ctx context.Context, live []*pending) ([]committed, error) {
	results := make([]committed, len(live))
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		clear(results)
		rows := make([]Event, len(live))
		for i, p := range live {
			rows[i] = p.e
		}
		inserted, err := s.repo.InsertMany(ctx, tx, rows)
		if err != nil {
			return err
		}
		prior, err := s.priorsOf(ctx, tx, live, inserted)
		if err != nil {
			return err
		}
		params := make([]river.InsertManyParams, 0, len(inserted))
		perTenant := map[uuid.UUID][]int{}
		for i, p := range live {
			if inserted[p.e.ID] {
				results[i].res = IngestResult{Event: p.e}
				params = append(params, river.InsertManyParams{Args: ProcessArgs{TenantID: p.e.TenantID, EventID: p.e.ID}})
				perTenant[p.e.TenantID] = append(perTenant[p.e.TenantID], i)
				continue
			}
			pr, ok := prior[priorKey{p.e.TenantID, p.in.IdempotencyKey}]
			switch {
			case !ok:
				return fmt.Errorf("idempotency key %q neither inserted nor found", p.in.IdempotencyKey)
			case !bytes.Equal(pr.RequestHash, p.e.RequestHash):
				results[i].err = errKeyReused
			default:
				results[i].res = IngestResult{Event: pr.event(), Replayed: true}
			}
		}
		if len(params) > 0 {
			if _, err := s.jobs.InsertManyFastTx(ctx, tx.Tx, params); err != nil {
				return fmt.Errorf("enqueue event.process: %w", err)
			}
		}
		// Tenants in one global order: each transaction takes at most one
		// counter row per tenant, in that order, so two groups can never wait
		// on each other in a cycle.
		tenants := slices.SortedFunc(maps.Keys(perTenant), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		if s.billing == nil || len(tenants) == 0 {
			return nil
		}
		ns := make([]int64, len(tenants))
		for i, tenantID := range tenants {
			ns[i] = int64(len(perTenant[tenantID]))
		}
		// Every tenant's counter in one statement.
		if err := s.billing.CountManyTx(ctx, tx, tenants, billing.MetricEvents, ns); err != nil {
			return err
		}
		for _, tenantID := range tenants {
			idx := perTenant[tenantID]
			// The soft-limit notice is judged with the last request's view of
			// the quota.
			q := live[idx[len(idx)-1]].q
			q.Added = int64(len(idx))
			for _, i := range idx {
				q.CrossesSoft = q.CrossesSoft || live[i].q.CrossesSoft
			}
			noted, err := s.noticeTx(ctx, tx, tenantID, q, q.Added)
			if err != nil {
				return err
			}
			results[idx[len(idx)-1]].noted = noted
		}
		return nil
	})
	return results, err
}

type priorKey struct {
	tenant uuid.UUID
	key    string
}

var errKeyReused = apperr.Invalid("idempotency_key_reused",
	"This idempotency key was already used with a different request body.")

// priorsOf loads the stored idempotency keys behind the requests that did
// not insert (stored earlier, or by an earlier request of this same batch).
func (s *Service) priorsOf(ctx context.Context, tx *sqlx.Tx, live []*pending, inserted map[uuid.UUID]bool) (map[priorKey]storedKey, error) {
	keys := map[uuid.UUID][]string{}
	for _, p := range live {
		if !inserted[p.e.ID] {
			keys[p.e.TenantID] = append(keys[p.e.TenantID], p.in.IdempotencyKey)
		}
	}
	out := map[priorKey]storedKey{}
	for tenantID, ks := range keys {
		found, err := s.repo.GetKeys(ctx, tx, tenantID, ks)
		if err != nil {
			return nil, err
		}
		for _, k := range found {
			out[priorKey{tenantID, k.Key}] = k
		}
	}
	return out, nil
}
