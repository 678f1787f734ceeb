package pg

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"
)

// Group commits concurrent units of work together. Each caller of Do hands
// over one item and waits; a committer takes whatever items are queued (at
// most MaxBatch), applies them all in one transaction and commits once, so
// under load one WAL flush serves many items, and an idle Group adds no
// latency (a lone item is committed at once).
//
// A group that fails is not the fault of every item in it: the committer
// runs each of its items again alone, in its own transaction, and each
// caller gets its own item's outcome. One poison item, a deadlock between
// two groups, or a lost connection therefore costs a retry, never another
// item's work.
//
// apply must leave no trace outside tx (per-item outcomes it records in the
// items themselves are rewritten when an item is applied again alone).
type Group[T any] struct {
	db    *sqlx.DB
	opts  GroupOptions
	apply func(ctx context.Context, tx *sqlx.Tx, items []T) error
	read  func(ctx context.Context, q Querier, items []T) error // NewReadGroup: no transaction
	queue atomic.Pointer[chan *groupItem[T]]
}

// GroupOptions tunes a Group.
type GroupOptions struct {
	Committers int           // concurrent transactions, each holding one connection while it runs
	MaxBatch   int           // items per transaction at most
	TxTimeout  time.Duration // bound on one transaction
}

type groupItem[T any] struct {
	ctx  context.Context
	item T
	done chan error // buffered: a committer never blocks on it
}

// NewGroup returns a Group that applies items with apply. Until Run is
// called (and after it returns) Do applies each item alone.
func NewGroup[T any](db *sqlx.DB, opts GroupOptions, apply func(ctx context.Context, tx *sqlx.Tx, items []T) error) *Group[T] {
	opts.Committers = max(opts.Committers, 1)
	opts.MaxBatch = max(opts.MaxBatch, 1)
	if opts.TxTimeout <= 0 {
		opts.TxTimeout = 30 * time.Second
	}
	return &Group[T]{db: db, opts: opts, apply: apply}
}

// NewReadGroup returns a Group whose items are read together: read runs on
// the pool, outside any transaction (one statement, no BEGIN and COMMIT
// round trips), so read must be a single query or tolerate its statements
// seeing different snapshots.
func NewReadGroup[T any](db *sqlx.DB, opts GroupOptions, read func(ctx context.Context, q Querier, items []T) error) *Group[T] {
	g := NewGroup[T](db, opts, nil)
	g.read = read
	return g
}

// run applies items in one transaction, or reads them.
func (g *Group[T]) run(ctx context.Context, items []T) error {
	if g.read != nil {
		return g.read(ctx, g.db, items)
	}
	return InTx(ctx, g.db, func(tx *sqlx.Tx) error { return g.apply(ctx, tx, items) })
}

// Do applies item, with others when a committer runs, and returns once its
// transaction has committed or failed. When ctx ends first Do returns
// ctx.Err(), and the item may still commit: apply must be idempotent for
// the caller's retry.
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

// Run serves Do with group commits until ctx ends, then applies whatever is
// still queued alone and returns. Call it once; stop it only after every
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
	err := g.run(txCtx, items)
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

// alone applies one item in its own transaction, bounded by the caller's
// context and TxTimeout.
func (g *Group[T]) alone(ctx context.Context, item T) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	txCtx, cancel := context.WithTimeout(ctx, g.opts.TxTimeout)
	defer cancel()
	return g.run(txCtx, []T{item})
}
