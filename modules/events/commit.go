package events

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/trace"

	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/tracing"
)

// Group commit. Every peer pays one commit (one WAL flush) per event. While
// RunCommitters runs, single-event requests go through a pg.Group: its
// committers take whatever requests are queued, insert them with one
// multi-row statement plus River's bulk insert, commit once, and only then
// answer each request: no added latency when idle (a lone request is
// committed at once), the same durability (nobody hears 202 before the
// commit), and under load one flush serves many events. A group that fails
// is run again one request at a time, so one poison request fails alone.

// ingestTxTimeout bounds one ingestion transaction unless RunCommitters is
// given another bound.
const ingestTxTimeout = 10 * time.Second

// ingestSpan names the span of an ingestion transaction (pg.Group).
const ingestSpan = "events.group_commit"

// pending is one single-event request handed to the group, and its outcome.
// ingestTx rewrites the outcome each time it applies the request (the
// group's transaction, then, if that failed, the request's own). It is
// allocated for every request, so it holds no more than that (a copy of
// the input and an IngestResult made it 904 bytes instead of 440).
type pending struct {
	e     Event
	q     billing.Quota
	trace trace.SpanContext // the request's: its event.process job continues it (the group runs in its own)

	replay *storedKey // the request repeats this stored key (and body): its answer is that event
	noted  bool       // this request recorded the soft-limit notice
	err    error      // the request's own refusal (idempotency key reused); its group still commits
}

// key is the request's idempotency key ("" when none).
func (p *pending) key() string {
	if p.e.IdempotencyKey == nil {
		return ""
	}
	return *p.e.IdempotencyKey
}

// result is the request's answer once ingestTx applied it without error.
func (p *pending) result() IngestResult {
	if p.replay != nil {
		return IngestResult{Event: p.replay.event(), Replayed: true}
	}
	return IngestResult{Event: p.e}
}

// RunCommitters serves Ingest with group commit (opts.Committers concurrent
// transactions of at most opts.MaxBatch events) until ctx ends; then Ingest
// falls back to one transaction per event. Call it once per process.
func (s *Service) RunCommitters(ctx context.Context, opts pg.GroupOptions) {
	if opts.TxTimeout <= 0 {
		opts.TxTimeout = ingestTxTimeout
	}
	opts.SpanName = ingestSpan
	g := pg.NewGroup(s.db, opts, s.ingestTx)
	s.committers.Store(g)
	g.Run(ctx)
}

// Grouping reports whether RunCommitters serves single-event ingestion
// now (group commit), rather than one transaction per request.
func (s *Service) Grouping() bool {
	g := s.committers.Load()
	return g != nil && g.Running()
}

// ingestGroup is where Ingest hands its request: the committers' group once
// RunCommitters started (after it returned, that group applies each request
// alone), before that one that applies each request alone.
func (s *Service) ingestGroup() *pg.Group[*pending] {
	if g := s.committers.Load(); g != nil {
		return g
	}
	return s.direct
}

// ingestTx stores a group of single-event requests in tx: the new events
// with their event.process jobs, each tenant's usage count and soft-limit
// notice. A request whose idempotency key is stored already gets the
// original event (replay) or its own refusal, without failing the group.
func (s *Service) ingestTx(ctx context.Context, tx *sqlx.Tx, group []*pending) error {
	for _, p := range group {
		p.replay, p.noted, p.err = nil, false, nil
	}
	live, err := s.capToHardLimitTx(ctx, tx, group)
	if err != nil {
		return err
	}
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
	params := make([]river.InsertManyParams, 0, len(live))
	perTenant := map[uuid.UUID][]int{}
	for i, p := range live {
		if inserted.has(p.e.ID) {
			opts := noInsertOpts
			if md := tracing.JobMetadata(ctx, p.trace); md != nil {
				opts = &river.InsertOpts{Metadata: md}
			}
			params = append(params, river.InsertManyParams{Args: ProcessArgs{TenantID: p.e.TenantID, EventID: p.e.ID}, InsertOpts: opts})
			perTenant[p.e.TenantID] = append(perTenant[p.e.TenantID], i)
			continue
		}
		pr, ok := prior[priorKey{p.e.TenantID, p.key()}]
		switch {
		case !ok:
			return fmt.Errorf("idempotency key %q neither inserted nor found", p.key())
		case !bytes.Equal(pr.RequestHash, p.e.RequestHash):
			p.err = errKeyReused
		default:
			p.replay = &pr
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
		live[idx[len(idx)-1]].noted = noted
	}
	return nil
}

// capToHardLimitTx refuses, with quota_exceeded, the requests of a tenant
// near its hard limit that the counters committed so far leave no room for
// (billing.HeadroomTx), and returns the others. Requests with idempotency
// keys count too: a replay needs no room, but finding out costs a lookup,
// and near the hard limit a refusal is the answer a retry would get anyway.
func (s *Service) capToHardLimitTx(ctx context.Context, tx *sqlx.Tx, group []*pending) ([]*pending, error) {
	if s.billing == nil {
		return group, nil
	}
	perTenant := map[uuid.UUID][]*pending{}
	for _, p := range group {
		perTenant[p.e.TenantID] = append(perTenant[p.e.TenantID], p)
	}
	refused := 0
	for tenantID, ps := range perTenant {
		q := ps[len(ps)-1].q
		room, near, err := s.billing.HeadroomTx(ctx, tx, tenantID, q, int64(len(ps)))
		if err != nil {
			return nil, err
		}
		if !near {
			continue
		}
		for i, p := range ps {
			if int64(i) >= room {
				p.err = apperr.RateLimited("quota_exceeded",
					fmt.Sprintf("The monthly event limit of %d is reached; it resets at %s.", *q.Hard, q.Reset.Format(time.RFC3339)),
					time.Until(q.Reset))
				refused++
			}
		}
	}
	if refused == 0 {
		return group, nil
	}
	live := make([]*pending, 0, len(group)-refused)
	for _, p := range group {
		if p.err == nil {
			live = append(live, p)
		}
	}
	return live, nil
}

// noInsertOpts is the options of a job inserted with none. Never written:
// River only reads the options, and given none it allocates an empty
// InsertOpts per job (192 bytes, 100 per batch).
var noInsertOpts = &river.InsertOpts{}

type priorKey struct {
	tenant uuid.UUID
	key    string
}

var errKeyReused = apperr.Invalid("idempotency_key_reused",
	"This idempotency key was already used with a different request body.")

// priorsOf loads the stored idempotency keys behind the requests that did
// not insert (stored earlier, or by an earlier request of this same group).
func (s *Service) priorsOf(ctx context.Context, tx *sqlx.Tx, live []*pending, inserted storedEvents) (map[priorKey]storedKey, error) {
	keys := map[uuid.UUID][]string{}
	for _, p := range live {
		if !inserted.has(p.e.ID) {
			keys[p.e.TenantID] = append(keys[p.e.TenantID], p.key())
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
