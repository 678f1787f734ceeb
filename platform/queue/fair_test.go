package queue_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/queue"
	"github.com/signalops/signalops/platform/testdb"
)

const fairQueue = "fair_test"

type tenantArgs struct {
	Tenant uuid.UUID `json:"tenant"`
}

func (tenantArgs) Kind() string                 { return "fair_test" }
func (tenantArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: fairQueue} }
func (a tenantArgs) FairTenant() uuid.UUID      { return a.Tenant }
func weightOf(ws map[uuid.UUID]int) func(context.Context, uuid.UUID) int {
	return func(_ context.Context, t uuid.UUID) int { return ws[t] }
}

// fairRun inserts the batches in order through a client with the Fair
// that mk makes over the test database's queue head, then works them with
// one worker and returns the tenants in the order their jobs ran.
func fairRun(t *testing.T, mk func(queue.HeadFunc) *queue.Fair, batches [][]uuid.UUID) []uuid.UUID {
	t.Helper()
	ctx := t.Context()
	db := testdb.New(t)
	fair := mk(queue.Head(db.DB))
	cfg := queue.Config{FetchCooldown: time.Millisecond, FetchPollInterval: 50 * time.Millisecond,
		JobTimeout: time.Minute, RescueAfter: 2 * time.Minute}
	cfg.Middleware = []rivertype.Middleware{fair}
	inserter, err := queue.NewInsertOnly(db.DB, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	total := 0
	for _, b := range batches {
		params := make([]river.InsertManyParams, len(b))
		for i, tenant := range b {
			params[i] = river.InsertManyParams{Args: tenantArgs{Tenant: tenant}}
		}
		_, err := inserter.InsertManyFast(ctx, params)
		require.NoError(t, err)
		total += len(b)
	}
	var scheduled int
	require.NoError(t, db.GetContext(ctx, &scheduled, `SELECT count(*) FROM river_job WHERE state <> 'available'`))
	require.Zero(t, scheduled, "every job must stay available: a scheduled job waits for River's leader (ADR 0008)")

	var (
		mu    sync.Mutex
		order []uuid.UUID
		done  = make(chan struct{})
	)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(_ context.Context, job *river.Job[tenantArgs]) error {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, job.Args.Tenant)
		if len(order) == total {
			close(done)
		}
		return nil
	}))
	cfg.Queues = map[string]int{fairQueue: 1}
	cfg.Middleware = nil
	worker, err := queue.NewWorking(db.DB, nil, workers, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.NoError(t, worker.Start(context.WithoutCancel(ctx)))
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		require.NoError(t, worker.Stop(stopCtx))
	})
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("only %d of %d jobs ran", len(order), total)
	}
	mu.Lock()
	defer mu.Unlock()
	return append([]uuid.UUID(nil), order...)
}

func repeat(tenant uuid.UUID, n int) []uuid.UUID {
	out := make([]uuid.UUID, n)
	for i := range out {
		out[i] = tenant
	}
	return out
}

// lastAt is the position (1-based) at which tenant's last job ran.
func lastAt(order []uuid.UUID, tenant uuid.UUID) int {
	last := 0
	for i, t := range order {
		if t == tenant {
			last = i + 1
		}
	}
	return last
}

// A quiet tenant's jobs, enqueued after a flooding tenant's backlog, run
// before almost all of it; without Fair they run after all of it.
func TestFairQuietTenantSkipsTheBacklog(t *testing.T) {
	flood, quiet := uuid.New(), uuid.New()
	batches := [][]uuid.UUID{}
	for range 20 {
		batches = append(batches, repeat(flood, 100)) // 2,000 queued, as a producer's batches
	}
	batches = append(batches, repeat(quiet, 5), repeat(quiet, 5))

	t.Run("fair", func(t *testing.T) {
		order := fairRun(t, func(h queue.HeadFunc) *queue.Fair { return queue.NewFair(10*time.Minute, nil, h) }, batches)
		at := lastAt(order, quiet)
		t.Logf("the quiet tenant's 10th job ran %d of %d", at, len(order))
		assert.LessOrEqual(t, at, 100, "the quiet tenant waited behind the backlog")
	})
	t.Run("off", func(t *testing.T) {
		order := fairRun(t, func(h queue.HeadFunc) *queue.Fair { return queue.NewFair(0, nil, h) }, batches)
		assert.Equal(t, len(order), lastAt(order, quiet), "without fair ordering jobs run first in, first out")
	})
}

// Two backlogged tenants share by weight: weight 3 gets three jobs for
// every one of weight 1, whichever enqueued first.
func TestFairWeights(t *testing.T) {
	light, heavy := uuid.New(), uuid.New()
	fair := func(h queue.HeadFunc) *queue.Fair {
		return queue.NewFair(10*time.Minute, weightOf(map[uuid.UUID]int{light: 1, heavy: 3}), h)
	}
	var batches [][]uuid.UUID
	for range 6 { // as two producers' interleaved batches; light's come first
		batches = append(batches, repeat(light, 100), repeat(heavy, 100))
	}
	order := fairRun(t, fair, batches)
	heavyFirst := 0
	for _, tenant := range order[:400] {
		if tenant == heavy {
			heavyFirst++
		}
	}
	t.Logf("weight 3 ran %d of the first 400 jobs", heavyFirst)
	assert.InDelta(t, 300, heavyFirst, 30, "weight 3 of 4 should get ~3/4 of the workers")
}

// A flooding tenant of weight 16 that inserts slower than 1,600 jobs a
// second (its share by the wall clock) still queues behind the head of the
// queue, not at the wall clock: a quiet tenant of weight 1 gets its first
// job in at once and its share (1 in 17) after. Placed against the wall
// clock alone (no head), it waits behind almost the whole backlog.
func TestFairHeavyFlooderBehindTheHead(t *testing.T) {
	flood, quiet := uuid.New(), uuid.New()
	weights := weightOf(map[uuid.UUID]int{flood: 16, quiet: 1})
	var batches [][]uuid.UUID
	for range 20 {
		batches = append(batches, repeat(flood, 100))
	}
	batches = append(batches, repeat(quiet, 10))
	paced := func(ctx context.Context, id uuid.UUID) int {
		if id == flood {
			time.Sleep(100 * time.Millisecond) // 1,000 jobs/s: within weight 16's 1,600 by the wall clock
		}
		return weights(ctx, id)
	}
	firstAt := func(order []uuid.UUID) int { return len(order) - lastAt(reversed(order), quiet) + 1 }

	order := fairRun(t, func(h queue.HeadFunc) *queue.Fair { return queue.NewFair(10*time.Minute, paced, h) }, batches)
	t.Logf("behind the head: the quiet tenant's jobs ran from %d to %d of %d", firstAt(order), lastAt(order, quiet), len(order))
	assert.LessOrEqual(t, firstAt(order), 40)
	assert.LessOrEqual(t, lastAt(order, quiet), 250)

	order = fairRun(t, func(queue.HeadFunc) *queue.Fair { return queue.NewFair(10*time.Minute, paced, nil) }, batches)
	t.Logf("by the wall clock: from %d to %d", firstAt(order), lastAt(order, quiet))
	assert.Greater(t, firstAt(order), 1000, "the wall clock alone lets the flood's jobs keep their place")
}

func reversed(in []uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, len(in))
	for i, v := range in {
		out[len(in)-1-i] = v
	}
	return out
}
