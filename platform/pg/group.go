package pg

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/signalops/signalops/platform/tracing"
)

// Group runs concurrent units of work together. Each caller of Do hands
// over one item and waits; a committer takes whatever items are queued (at
// most MaxBatch) and runs them all at once, so under load one round trip
// serves many items, and an idle Group adds no latency (a lone item runs at
// once). A Group is made for one of two kinds of work, never both:
//
//   - NewGroup: writes. The items are applied in one transaction that
//     commits once (group commit: one WAL flush serves many items).
//   - NewReadGroup: reads. The items are read with one query on the pool,
//     outside any transaction.
//
// A group that fails is not the fault of every item in it: the committer
// runs each of its items again alone, in a transaction (or read) of its
// own, and each caller gets its own item's outcome. One poison item, a
// deadlock between two groups, or a lost connection therefore costs a
// retry, never another item's work.
//
// The work must leave no trace outside its transaction (per-item outcomes
// it records in the items themselves are rewritten when an item runs again
// alone).
//
// With GroupOptions.SpanName, each group is an OpenTelemetry span: the
// child of its item's span when it holds one item (it runs in the item's
// context), else a span of its own linked to every item's span, and each
// item's span linked back to it. OpenTelemetry's conventions for batches: a
// batch is no one item's child. The work runs in the group's context, so
// anything that must continue one item's trace (a job enqueued for it)
// takes that item's span context from the item (tracing.JobMetadata).
type Group[T any] struct {
	opts  GroupOptions
	run   func(ctx context.Context, items []T) error // one transaction (NewGroup) or one read (NewReadGroup)
	queue atomic.Pointer[chan *groupItem[T]]
}

// GroupOptions tunes a Group.
type GroupOptions struct {
	Committers int           // concurrent groups, each holding one connection while it runs
	MaxBatch   int           // items per group at most
	TxTimeout  time.Duration // bound on one group's transaction or read
	SpanName   string        // traces each group as a span of this name; "" traces none
}

type groupItem[T any] struct {
	ctx  context.Context
	item T
	done chan error // buffered: a committer never blocks on it
}

// NewGroup returns a Group that writes: it applies the items of a group
// with apply, in one transaction, and commits once. Until Run is called
// (and after it returns) Do applies each item alone.
func NewGroup[T any](db *sqlx.DB, opts GroupOptions, apply func(ctx context.Context, tx *sqlx.Tx, items []T) error) *Group[T] {
	return newGroup(opts, func(ctx context.Context, items []T) error {
		return InTx(ctx, db, func(tx *sqlx.Tx) error { return apply(ctx, tx, items) })
	})
}

// NewReadGroup returns a Group that reads: read runs on the pool, outside
// any transaction (one statement, no BEGIN and COMMIT round trips), so read
// must be a single query or tolerate its statements seeing different
// snapshots. Until Run is called (and after it returns) Do reads each item
// alone.
func NewReadGroup[T any](db *sqlx.DB, opts GroupOptions, read func(ctx context.Context, q Querier, items []T) error) *Group[T] {
	return newGroup(opts, func(ctx context.Context, items []T) error { return read(ctx, db, items) })
}

func newGroup[T any](opts GroupOptions, run func(ctx context.Context, items []T) error) *Group[T] {
	opts.Committers = max(opts.Committers, 1)
	opts.MaxBatch = max(opts.MaxBatch, 1)
	if opts.TxTimeout <= 0 {
		opts.TxTimeout = 30 * time.Second
	}
	return &Group[T]{opts: opts, run: run}
}

// Do runs item, with others when a committer runs, and returns once its
// transaction has committed or failed (NewGroup), or its read has returned
// (NewReadGroup). When ctx ends first Do returns ctx.Err(), and a write may
// still commit: apply must be idempotent for the caller's retry.
func (g *Group[T]) Do(ctx context.Context, item T) error {
	qp := g.queue.Load()
	if qp == nil {
		return g.alone(ctx, item)
	}
	gi := &groupItem[T]{ctx: ctx, item: item, done: make(chan error, 1)}
	select {
	case *qp <- gi:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-gi.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Running reports whether Run serves the Group: whether Do hands items to
// the committers rather than running each alone.
func (g *Group[T]) Running() bool { return g.queue.Load() != nil }

// Queued reports how many items wait for a committer: 0 while Run is not
// running, up to Committers × MaxBatch when every committer is busy.
func (g *Group[T]) Queued() int {
	if qp := g.queue.Load(); qp != nil {
		return len(*qp)
	}
	return 0
}

// Run serves Do with groups until ctx ends, then runs whatever is still
// queued alone and returns. Call it once; stop it only after every
// caller of Do has returned or given up (for a River worker: after the
// client stopped).
func (g *Group[T]) Run(ctx context.Context) {
	queue := make(chan *groupItem[T], g.opts.Committers*g.opts.MaxBatch)
	g.queue.Store(&queue)
	done := make(chan struct{})
	for range g.opts.Committers {
		go func() {
			defer func() { done <- struct{}{} }()
			for {
				select {
				case <-ctx.Done():
					return
				case first := <-queue:
					g.commit(ctx, g.drain(queue, first))
				}
			}
		}()
	}
	<-ctx.Done()
	g.queue.Store(nil)
	for range g.opts.Committers {
		<-done
	}
	for {
		select {
		case gi := <-queue:
			gi.done <- g.alone(gi.ctx, gi.item)
		default:
			return
		}
	}
}

// drain takes first and whatever else is queued, without waiting.
func (g *Group[T]) drain(queue chan *groupItem[T], first *groupItem[T]) []*groupItem[T] {
	batch := []*groupItem[T]{first}
	for len(batch) < g.opts.MaxBatch {
		select {
		case gi := <-queue:
			batch = append(batch, gi)
		default:
			return batch
		}
	}
	return batch
}

func (g *Group[T]) commit(ctx context.Context, batch []*groupItem[T]) {
	live := batch[:0:0]
	for _, gi := range batch {
		if err := gi.ctx.Err(); err != nil {
			gi.done <- err // gave up while queued: never applied
			continue
		}
		live = append(live, gi)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		live[0].done <- g.alone(live[0].ctx, live[0].item)
		return
	}
	items := make([]T, len(live))
	for i, gi := range live {
		items[i] = gi.item
	}
	txCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.opts.TxTimeout)
	txCtx, span := g.startBatchSpan(txCtx, live)
	err := g.run(txCtx, items)
	endSpan(span, err)
	cancel()
	if err == nil {
		for _, gi := range live {
			gi.done <- nil
		}
		return
	}
	// Nothing of the group committed: each item alone decides its own fate.
	for _, gi := range live {
		gi.done <- g.alone(gi.ctx, gi.item)
	}
}

// alone runs one item in a transaction (or read) of its own, bounded by the
// caller's context and TxTimeout.
func (g *Group[T]) alone(ctx context.Context, item T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	txCtx, cancel := context.WithTimeout(ctx, g.opts.TxTimeout)
	defer cancel()
	if g.opts.SpanName == "" || !tracing.Enabled() {
		return g.run(txCtx, []T{item})
	}
	txCtx, span := tracing.Tracer().Start(txCtx, g.opts.SpanName, trace.WithAttributes(attribute.Int(attrGroupSize, 1)))
	err := g.run(txCtx, []T{item})
	endSpan(span, err)
	return err
}

// attrGroupSize is the span attribute that counts a group's items.
const attrGroupSize = "signalops.group.size"

// startBatchSpan starts the span of a group of several items: a root
// linked to each item's span, each of which is linked back. Without
// SpanName, or while tracing is off (its spans would be no-ops, built for
// nothing on every group), it returns ctx and no span.
func (g *Group[T]) startBatchSpan(ctx context.Context, live []*groupItem[T]) (context.Context, trace.Span) {
	if g.opts.SpanName == "" || !tracing.Enabled() {
		return ctx, nil
	}
	links := make([]trace.Link, 0, len(live))
	for _, gi := range live {
		if sc := trace.SpanContextFromContext(gi.ctx); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	ctx, span := tracing.Tracer().Start(ctx, g.opts.SpanName, trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int(attrGroupSize, len(live))))
	if span.SpanContext().IsValid() {
		for _, gi := range live {
			trace.SpanFromContext(gi.ctx).AddLink(trace.Link{SpanContext: span.SpanContext()})
		}
	}
	return ctx, span
}

// endSpan ends a group's span (if any) with the group's outcome.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}
