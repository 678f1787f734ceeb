package background

import (
	"context"
	"log/slog"
	"time"
)

// OnDemand keeps background work running only while it is used: Touch starts
// it (when stopped) and idle after the last Touch it is stopped. The work is
// start: it begins background work that ends with the context it is given and
// returns at once; each start after an idle stop gets a new context, so a
// service that cannot be restarted can be built anew inside start. Run drives
// it; start Run as a loop (Start) for as long as the work may be wanted.
type OnDemand struct {
	start  func(ctx context.Context) error
	idle   time.Duration
	logger *slog.Logger
	touch  chan struct{}
}

// NewOnDemand returns an OnDemand that runs start on use and ends its
// context idle after the last use.
func NewOnDemand(start func(ctx context.Context) error, idle time.Duration, logger *slog.Logger) *OnDemand {
	return &OnDemand{start: start, idle: idle, logger: logger, touch: make(chan struct{}, 1)}
}

// Touch marks the work as used now. It never blocks; a Touch before Run
// starts is seen when it does, one after Run returned is not.
func (d *OnDemand) Touch() {
	select {
	case d.touch <- struct{}{}:
	default: // a touch is already pending: Run will see it
	}
}

// Run starts the work on a Touch, ends it once idle has passed without one,
// and ends it when ctx ends, then returns.
func (d *OnDemand) Run(ctx context.Context) {
	idle := time.NewTimer(d.idle)
	idle.Stop()
	var stop context.CancelFunc // non-nil while the work runs
	defer func() {
		idle.Stop()
		if stop != nil {
			stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.touch:
			if stop == nil {
				runCtx, cancel := context.WithCancel(ctx)
				if err := d.start(runCtx); err != nil {
					cancel()
					d.logger.ErrorContext(ctx, "start on demand", slog.Any("error", err))
					continue
				}
				stop = cancel
			}
			idle.Reset(d.idle)
		case <-idle.C:
			stop()
			stop = nil
		}
	}
}
