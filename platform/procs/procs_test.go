package procs_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/procs"
)

// TestController: one P until the process is mostly busy, then every P at
// once; back to one only after Calm quiet readings in a row, so a busy
// reading between quiet ones starts the count again.
func TestController(t *testing.T) {
	c := procs.NewController(procs.Options{Max: 4, Up: 0.6, Down: 0.3, Calm: 3})
	steps := []struct {
		share   float64
		procs   int
		changed bool
	}{
		{0.05, 1, false},
		{0.59, 1, false}, // below Up: one P is enough
		{0.60, 4, true},  // mostly busy: every P
		{1.70, 4, false},
		{0.20, 4, false}, // quiet 1
		{0.25, 4, false}, // quiet 2
		{0.40, 4, false}, // busy again: the count starts over
		{0.10, 4, false}, // quiet 1
		{0.10, 4, false}, // quiet 2
		{0.10, 1, true},  // quiet 3: one P
		{0.30, 1, false},
	}
	require.Equal(t, 1, c.Procs(), "it starts at one P")
	for i, s := range steps {
		n, changed := c.Observe(s.share)
		require.Equal(t, s.procs, n, "step %d (share %.2f)", i, s.share)
		require.Equal(t, s.changed, changed, "step %d", i)
		require.Equal(t, n, c.Procs())
	}
}

// TestAdaptRestoresMax: Adapt runs the process on one P and gives the Ps
// back when it returns; with Max 1 it leaves GOMAXPROCS alone.
func TestAdaptRestoresMax(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	prev := runtime.GOMAXPROCS(3)
	t.Cleanup(func() { runtime.GOMAXPROCS(prev) })

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { procs.Adapt(ctx, procs.Options{}, logger); close(done) }()
	require.Eventually(t, func() bool { return runtime.GOMAXPROCS(0) == 1 }, 5*time.Second, time.Millisecond, "quiet: one P")
	cancel()
	<-done
	require.Equal(t, 3, runtime.GOMAXPROCS(0), "restored")

	procs.Adapt(t.Context(), procs.Options{Max: 1}, logger) // returns at once
	require.Equal(t, 3, runtime.GOMAXPROCS(0))
}
