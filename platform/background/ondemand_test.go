package background_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/background"
)

// fakeService records its starts and stops: the work runs from a start
// until its context ends.
type fakeService struct {
	mu             sync.Mutex
	starts, stops  int
	running        bool
	failNextStarts int
}

func (s *fakeService) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNextStarts > 0 {
		s.failNextStarts--
		return errors.New("cannot start")
	}
	s.starts++
	s.running = true
	go func() {
		<-ctx.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stops++
		s.running = false
	}()
	return nil
}

func (s *fakeService) state() (starts, stops int, running bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts, s.stops, s.running
}

func TestOnDemand(t *testing.T) {
	t.Parallel()
	const idle = 50 * time.Millisecond
	eventually := func(t *testing.T, svc *fakeService, starts, stops int, running bool) {
		t.Helper()
		require.Eventually(t, func() bool {
			a, o, r := svc.state()
			return a == starts && o == stops && r == running
		}, 5*time.Second, time.Millisecond, "want %d starts, %d stops, running %v", starts, stops, running)
	}

	t.Run("NotStartedUntilTouched", func(t *testing.T) {
		t.Parallel()
		svc := &fakeService{}
		d := background.NewOnDemand(svc.Start, idle, slog.Default())
		l := background.Start(t.Context(), "on-demand", d.Run)
		time.Sleep(3 * idle)
		l.Stop()
		starts, stops, _ := svc.state()
		require.Zero(t, starts, "started with no use")
		require.Zero(t, stops)
	})

	t.Run("StartsOnTouchStopsWhenIdleRestarts", func(t *testing.T) {
		t.Parallel()
		svc := &fakeService{}
		d := background.NewOnDemand(svc.Start, idle, slog.Default())
		l := background.Start(t.Context(), "on-demand", d.Run)
		defer l.Stop()

		d.Touch()
		eventually(t, svc, 1, 0, true)
		eventually(t, svc, 1, 1, false) // idle
		d.Touch()
		eventually(t, svc, 2, 1, true)
	})

	t.Run("TouchesKeepItRunning", func(t *testing.T) {
		t.Parallel()
		svc := &fakeService{}
		d := background.NewOnDemand(svc.Start, time.Hour, slog.Default())
		l := background.Start(t.Context(), "on-demand", d.Run)
		for range 100 {
			d.Touch()
		}
		eventually(t, svc, 1, 0, true)
		l.Stop() // the loop's end ends the work's context
		eventually(t, svc, 1, 1, false)
	})

	t.Run("FailedStartIsRetriedOnTheNextTouch", func(t *testing.T) {
		t.Parallel()
		svc := &fakeService{failNextStarts: 1}
		d := background.NewOnDemand(svc.Start, time.Hour, slog.New(slog.DiscardHandler))
		l := background.Start(t.Context(), "on-demand", d.Run)
		defer l.Stop()
		d.Touch()
		require.Eventually(t, func() bool {
			svc.mu.Lock()
			defer svc.mu.Unlock()
			return svc.failNextStarts == 0
		}, 5*time.Second, time.Millisecond)
		eventually(t, svc, 0, 0, false)
		d.Touch()
		eventually(t, svc, 1, 0, true)
	})
}
