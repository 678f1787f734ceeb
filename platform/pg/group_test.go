package pg_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

// groupItem is a row to insert; poison makes its insert fail.
type groupItem struct {
	n      int
	poison bool
}

// newGroupTable makes a table whose check constraint refuses negative n,
// and a Group that inserts items into it, recording each transaction's id.
func newGroupTable(t *testing.T, opts pg.GroupOptions) (*sqlx.DB, *pg.Group[*groupItem]) {
	t.Helper()
	db := testdb.New(t)
	_, err := db.Exec(`CREATE TABLE group_items (n int PRIMARY KEY CHECK (n >= 0), tx bigint NOT NULL DEFAULT txid_current())`)
	require.NoError(t, err)
	g := pg.NewGroup(db, opts, func(ctx context.Context, tx *sqlx.Tx, items []*groupItem) error {
		for _, it := range items {
			n := it.n
			if it.poison {
				n = -1
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO group_items (n) VALUES ($1)`, n); err != nil {
				return err
			}
		}
		return nil
	})
	return db, g
}

func runGroup[T any](t *testing.T, g *pg.Group[T]) {
	t.Helper()
	t.Cleanup(background.Start(t.Context(), "group", g.Run).Stop)
}

// TestGroupCommitsConcurrentItemsTogether: items handed over concurrently
// share transactions, and every caller returns only after its item
// committed.
func TestGroupCommitsConcurrentItemsTogether(t *testing.T) {
	t.Parallel()
	db, g := newGroupTable(t, pg.GroupOptions{Committers: 1, MaxBatch: 64})
	runGroup(t, g)

	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			require.NoError(t, g.Do(t.Context(), &groupItem{n: i}))
			var seen int
			require.NoError(t, db.Get(&seen, `SELECT count(*) FROM group_items WHERE n = $1`, i))
			require.Equal(t, 1, seen, "Do returned before item %d committed", i)
		})
	}
	wg.Wait()
	var rows, txs int
	require.NoError(t, db.Get(&rows, `SELECT count(*) FROM group_items`))
	require.NoError(t, db.Get(&txs, `SELECT count(DISTINCT tx) FROM group_items`))
	require.Equal(t, n, rows)
	require.Less(t, txs, n, "no two items shared a transaction")
	t.Logf("%d items in %d transactions", rows, txs)
}

// TestGroupIsolatesAPoisonItem: one failing item fails alone; the others of
// its group commit and their callers hear success.
func TestGroupIsolatesAPoisonItem(t *testing.T) {
	t.Parallel()
	db, g := newGroupTable(t, pg.GroupOptions{Committers: 1, MaxBatch: 64})
	runGroup(t, g)

	const n = 100
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = g.Do(t.Context(), &groupItem{n: i, poison: i == 37}) })
	}
	wg.Wait()
	for i, err := range errs {
		if i == 37 {
			require.Error(t, err, "the poison item's own error reaches its caller")
			continue
		}
		require.NoError(t, err, "item %d", i)
	}
	var rows int
	require.NoError(t, db.Get(&rows, `SELECT count(*) FROM group_items`))
	require.Equal(t, n-1, rows)
}

// TestGroupQueuesWhileCommittersAreBusy: items handed over while the only
// committer is busy wait in the queue (Queued counts them) and are then
// committed together, in one transaction.
func TestGroupQueuesWhileCommittersAreBusy(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	_, err := db.Exec(`CREATE TABLE group_items (n int PRIMARY KEY, tx bigint NOT NULL DEFAULT txid_current())`)
	require.NoError(t, err)
	started, release := make(chan struct{}), make(chan struct{})
	g := pg.NewGroup(db, pg.GroupOptions{Committers: 1, MaxBatch: 64}, func(ctx context.Context, tx *sqlx.Tx, items []*groupItem) error {
		for _, it := range items {
			if it.n == 0 { // the first item holds the committer until released
				close(started)
				<-release
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO group_items (n) VALUES ($1)`, it.n); err != nil {
				return err
			}
		}
		return nil
	})
	require.Zero(t, g.Queued(), "nothing queues before Run")
	require.False(t, g.Running())
	runGroup(t, g)
	require.Eventually(t, g.Running, 10*time.Second, time.Millisecond)

	var wg sync.WaitGroup
	wg.Go(func() { require.NoError(t, g.Do(t.Context(), &groupItem{n: 0})) })
	<-started
	const n = 5
	for i := 1; i <= n; i++ {
		wg.Go(func() { require.NoError(t, g.Do(t.Context(), &groupItem{n: i})) })
	}
	require.Eventually(t, func() bool { return g.Queued() == n }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	require.Zero(t, g.Queued())
	var rows, txs int
	require.NoError(t, db.Get(&rows, `SELECT count(*) FROM group_items`))
	require.NoError(t, db.Get(&txs, `SELECT count(DISTINCT tx) FROM group_items WHERE n > 0`))
	require.Equal(t, n+1, rows)
	require.Equal(t, 1, txs, "the queued items share one transaction")
}

// TestGroupWithoutRunAppliesAlone: before Run (and after it returned) Do
// still works, one transaction per item; a caller that gave up gets its
// context's error and its item is not applied.
func TestGroupWithoutRunAppliesAlone(t *testing.T) {
	t.Parallel()
	db, g := newGroupTable(t, pg.GroupOptions{})
	require.NoError(t, g.Do(t.Context(), &groupItem{n: 1}))
	require.NoError(t, g.Do(t.Context(), &groupItem{n: 2}))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.True(t, errors.Is(g.Do(ctx, &groupItem{n: 3}), context.Canceled))

	var txs, rows int
	require.NoError(t, db.Get(&rows, `SELECT count(*) FROM group_items`))
	require.NoError(t, db.Get(&txs, `SELECT count(DISTINCT tx) FROM group_items`))
	require.Equal(t, 2, rows)
	require.Equal(t, 2, txs)
}

// TestReadGroup: concurrent reads are answered together, each caller with
// its own row, outside any transaction.
func TestReadGroup(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	_, err := db.Exec(`CREATE TABLE read_items AS SELECT n, n * 10 AS v FROM generate_series(1, 300) AS n`)
	require.NoError(t, err)
	type read struct {
		n, v  int
		found bool
	}
	var queries atomic.Int64
	g := pg.NewReadGroup(db, pg.GroupOptions{Committers: 2, MaxBatch: 64}, func(ctx context.Context, q pg.Querier, items []*read) error {
		queries.Add(1)
		ns := make([]int64, len(items))
		for i, it := range items {
			ns[i] = int64(it.n)
		}
		var rows []struct{ N, V int }
		if err := sqlx.SelectContext(ctx, q, &rows, `SELECT n, v FROM read_items WHERE n = ANY($1)`, pq.Array(ns)); err != nil {
			return err
		}
		byN := map[int]int{}
		for _, r := range rows {
			byN[r.N] = r.V
		}
		for _, it := range items {
			it.v, it.found = byN[it.n]
		}
		return nil
	})
	runGroup(t, g)

	const n = 400 // 1-300 exist, 301-400 do not
	reads := make([]*read, n)
	var wg sync.WaitGroup
	for i := range n {
		reads[i] = &read{n: i + 1}
		wg.Go(func() { require.NoError(t, g.Do(t.Context(), reads[i])) })
	}
	wg.Wait()
	for _, r := range reads {
		require.Equal(t, r.n <= 300, r.found, "row %d", r.n)
		if r.found {
			require.Equal(t, r.n*10, r.v)
		}
	}
	require.Less(t, queries.Load(), int64(n), "no two reads shared a query")
	t.Logf("%d reads in %d queries", n, queries.Load())
}

// TestGroupSpans: a group of one is its item's child; a group of several
// is a span of its own, linked to each item's span, each linked back. Not
// parallel: it sets OpenTelemetry's process-wide tracer provider (the
// parallel tests of the package start after it).
func TestGroupSpans(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	t.Cleanup(func() { otel.SetTracerProvider(prev); _ = tp.Shutdown(context.Background()) })

	release := make(chan struct{})
	var calls atomic.Int32
	g := pg.NewReadGroup(nil, pg.GroupOptions{Committers: 1, MaxBatch: 10, SpanName: "test.group"},
		func(context.Context, pg.Querier, []int) error {
			if calls.Add(1) == 1 {
				<-release // the first group holds the committer while the others queue
			}
			return nil
		})
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { g.Run(ctx); close(done) }()
	t.Cleanup(func() { stop(); <-done })
	// Before Run serves the Group, Do runs an item alone, without the
	// committer: the first item would then not hold it.
	require.Eventually(t, g.Running, 5*time.Second, time.Millisecond)

	do := func(n int) (trace.SpanContext, chan error) {
		ictx, span := tp.Tracer("test").Start(t.Context(), "item")
		errc := make(chan error, 1)
		go func() {
			err := g.Do(ictx, n)
			span.End() // before the test reads errc and then the ended spans
			errc <- err
		}()
		return span.SpanContext(), errc
	}
	first, firstErr := do(0)
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	var batched []trace.SpanContext
	var errs []chan error
	for n := 1; n <= 3; n++ {
		sc, errc := do(n)
		batched, errs = append(batched, sc), append(errs, errc)
	}
	require.Eventually(t, func() bool { return g.Queued() == 3 }, 5*time.Second, time.Millisecond)
	close(release)
	require.NoError(t, <-firstErr)
	for _, errc := range errs {
		require.NoError(t, <-errc)
	}

	var alone, group *tracetest.SpanStub
	items := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans.GetSpans() {
		switch s.Name {
		case "test.group":
			if s.Parent.IsValid() {
				alone = &s
			} else {
				group = &s
			}
		case "item":
			items[s.SpanContext.SpanID()] = s
		}
	}
	require.NotNil(t, alone, "the group of one")
	require.Equal(t, first.SpanID(), alone.Parent.SpanID(), "a group of one is its item's child")
	require.Equal(t, first.TraceID(), alone.SpanContext.TraceID())
	require.NotNil(t, group, "the group of three: a root")
	require.Len(t, group.Links, 3)
	linked := map[trace.SpanID]bool{}
	for _, l := range group.Links {
		linked[l.SpanContext.SpanID()] = true
	}
	for _, sc := range batched {
		require.True(t, linked[sc.SpanID()], "linked to each item")
		require.NotEqual(t, sc.TraceID(), group.SpanContext.TraceID(), "in none of their traces")
		item := items[sc.SpanID()]
		require.Len(t, item.Links, 1, "each item links back")
		require.Equal(t, group.SpanContext.SpanID(), item.Links[0].SpanContext.SpanID())
	}
}
