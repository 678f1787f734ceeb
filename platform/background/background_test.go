package background_test

import (
	"context"
	"errors"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/background"
)

type ctxKey struct{}

func TestStart(t *testing.T) {
	t.Parallel()

	t.Run("RunsUntilStopAndStopWaits", func(t *testing.T) {
		t.Parallel()
		parent, cancelParent := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, "v"))
		started := make(chan context.Context)
		var returned atomic.Bool
		l := background.Start(parent, "test-loop", func(ctx context.Context) {
			started <- ctx
			<-ctx.Done()
			returned.Store(true)
		})
		ctx := <-started
		require.Equal(t, "v", ctx.Value(ctxKey{}), "the loop keeps ctx's values")
		label, ok := pprof.Label(ctx, "loop")
		require.True(t, ok)
		require.Equal(t, "test-loop", label)

		cancelParent()
		require.NoError(t, ctx.Err(), "canceling the caller's ctx does not stop the loop; Stop does")
		require.False(t, returned.Load())

		l.Stop()
		require.True(t, returned.Load(), "Stop returns only after fn returned")
		require.Error(t, ctx.Err())
		l.Stop() // a second Stop returns at once
	})
}

func TestRun(t *testing.T) {
	t.Parallel()

	ctx := context.WithValue(t.Context(), ctxKey{}, "v")
	const n = 3
	var arrived sync.WaitGroup
	arrived.Add(n)
	var finished atomic.Int32
	fns := make([]func(context.Context), n)
	for i := range fns {
		fns[i] = func(ctx context.Context) {
			require.Equal(t, "v", ctx.Value(ctxKey{}))
			arrived.Done()
			arrived.Wait() // returns only if all n run at the same time
			finished.Add(1)
		}
	}
	background.Run(ctx, fns...)
	require.EqualValues(t, n, finished.Load(), "Run returns after every fn returned")
}

func TestSupervise(t *testing.T) {
	t.Parallel()

	t.Run("FirstFailureStopsTheOthers", func(t *testing.T) {
		t.Parallel()
		boom := errors.New("boom")
		waiter := func(ctx context.Context) error { <-ctx.Done(); return nil }
		err := background.Supervise(t.Context(), waiter, func(context.Context) error { return boom }, waiter)
		require.ErrorIs(t, err, boom)
	})

	t.Run("ErrorsJoined", func(t *testing.T) {
		t.Parallel()
		a, b := errors.New("a"), errors.New("b")
		err := background.Supervise(t.Context(),
			func(context.Context) error { return a },
			func(ctx context.Context) error { <-ctx.Done(); return b })
		require.ErrorIs(t, err, a)
		require.ErrorIs(t, err, b)
	})

	t.Run("NoFailureNoError", func(t *testing.T) {
		t.Parallel()
		require.NoError(t, background.Supervise(t.Context(),
			func(context.Context) error { return nil }, func(context.Context) error { return nil }))
	})
}
