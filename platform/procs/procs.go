// Package procs sizes GOMAXPROCS to the process's own CPU use: one P while
// the process needs less than one core, every P once it needs more.
//
// Why: at a low rate each unit of work is a chain of goroutine hand-offs
// (a River notification, a fetch, a job, a group commit, an HTTP send).
// With a second idle P, readying a goroutine wakes a sleeping thread to
// spin for it (runtime.wakep), and the thread goes back to sleep when it
// finds nothing: two context switches, paid again at every hand-off, and
// on a virtual machine waking an idle vCPU is dear. With one P the readied
// goroutine simply runs next on the thread that readied it. Measured at 50
// events/s end to end (docs/performance.md, ADR 0012): CPU per event
// 10.1–11.1 ms with GOMAXPROCS=2, 7.9–8.0 ms with 1, PostgreSQL included
// (its backends stop being woken across CPUs). Under load one P would cap
// the process at one core, so the second comes back as soon as the first
// is mostly busy.
package procs

import (
	"context"
	"log/slog"
	"runtime"
	"syscall"
	"time"
)

// Options tunes Adapt; the zero value means the defaults.
type Options struct {
	Max      int           // Ps when busy: default runtime.GOMAXPROCS(0) at start
	Interval time.Duration // how often CPU use is read: default 200 ms
	Up       float64       // with one P, a share of a core at or above which every P comes back: default 0.6
	Down     float64       // with every P, a share of a core below which one P is enough: default 0.3
	Calm     int           // intervals in a row below Down before going to one P: default 10 (2 s)
}

func (o *Options) defaults() {
	if o.Max <= 0 {
		o.Max = runtime.GOMAXPROCS(0)
	}
	if o.Interval <= 0 {
		o.Interval = 200 * time.Millisecond
	}
	if o.Up <= 0 {
		o.Up = 0.6
	}
	if o.Down <= 0 {
		o.Down = 0.3
	}
	if o.Calm <= 0 {
		o.Calm = 10
	}
}

// Adapt sets GOMAXPROCS to 1 and keeps it sized to the process's CPU use
// (Controller.Observe) until ctx ends, then restores Max. With Max 1 there
// is nothing to adapt and it returns at once.
func Adapt(ctx context.Context, opts Options, logger *slog.Logger) {
	opts.defaults()
	if opts.Max <= 1 {
		return
	}
	c := NewController(opts)
	runtime.GOMAXPROCS(c.Procs())
	defer runtime.GOMAXPROCS(opts.Max)
	logger.InfoContext(ctx, "adaptive GOMAXPROCS", slog.Int("max", opts.Max), slog.Int("procs", c.Procs()))
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	last, lastAt := cpuTime(), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			cpu := cpuTime()
			share := float64(cpu-last) / float64(now.Sub(lastAt))
			last, lastAt = cpu, now
			if n, changed := c.Observe(share); changed {
				runtime.GOMAXPROCS(n)
				logger.DebugContext(ctx, "GOMAXPROCS changed", slog.Int("procs", n), slog.Float64("cpu_share", share))
			}
		}
	}
}

// Controller decides the number of Ps from successive readings of CPU use.
type Controller struct {
	opts  Options
	procs int
	calm  int // readings in a row below Down
}

// NewController starts at one P.
func NewController(opts Options) *Controller {
	opts.defaults()
	return &Controller{opts: opts, procs: 1}
}

// Procs is the number of Ps the controller wants now.
func (c *Controller) Procs() int { return c.procs }

// Observe takes the process's CPU use over the last interval, as a share
// of one core, and returns the number of Ps wanted and whether it changed.
// One P goes to Max at once when it is busy (share ≥ Up); Max goes back to
// one P only after Calm readings in a row below Down, so a burst between
// quiet moments does not make it flap.
func (c *Controller) Observe(share float64) (int, bool) {
	switch {
	case c.procs == 1 && share >= c.opts.Up:
		c.procs, c.calm = c.opts.Max, 0
		return c.procs, true
	case c.procs > 1 && share < c.opts.Down:
		c.calm++
		if c.calm >= c.opts.Calm {
			c.procs, c.calm = 1, 0
			return c.procs, true
		}
	case c.procs > 1:
		c.calm = 0
	}
	return c.procs, false
}

// cpuTime is the CPU time the process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
