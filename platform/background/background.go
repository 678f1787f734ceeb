// Package background starts and stops a process's long-lived goroutines:
// the group committers, the API-key usage flusher, the workers' group
// reads. Each is a func(ctx) that runs until its context ends and then
// returns; this package is the one place that starts such a function, ends
// its context and waits for it to return, instead of a channel and a
// cancel written out at each call.
package background

import (
	"context"
	"errors"
	"runtime/pprof"
	"sync"
)

// Loop is a function running in the background; Stop ends it.
type Loop struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// Start runs fn in a goroutine of its own and returns at once. fn's
// context keeps ctx's values but not its cancellation: the loop runs until
// Stop, so the caller decides the order in which loops stop (serve's group
// committers outlive the HTTP drain; work's outlive the River client).
// name labels the goroutine in profiles (/debug/pprof/goroutine), as
// loop=name.
func Start(ctx context.Context, name string, fn func(context.Context)) *Loop {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &Loop{cancel: cancel, done: make(chan struct{})}
	go pprof.Do(ctx, pprof.Labels("loop", name), func(ctx context.Context) {
		defer close(l.done)
		fn(ctx)
	})
	return l
}

// Stop ends the loop's context and waits for fn to return. It may be
// called more than once.
func (l *Loop) Stop() {
	l.cancel()
	<-l.done
}

// Run runs every fn in a goroutine of its own with ctx and returns once
// all of them have returned.
func Run(ctx context.Context, fns ...func(context.Context)) {
	var wg sync.WaitGroup
	for _, fn := range fns {
		wg.Go(func() { fn(ctx) })
	}
	wg.Wait()
}

// Supervise runs every fn as Run does, for functions that can fail: the
// first to return an error ends the context of the others. It returns
// once all have returned, with their errors joined (nil when none failed).
func Supervise(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() {
			if errs[i] = fn(ctx); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
