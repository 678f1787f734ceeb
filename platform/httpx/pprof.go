package httpx

import (
	"context"
	"net/http"
	"net/http/pprof"
	"strconv"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
)

// PprofPath is where Pprof serves the Go runtime's profiles.
const PprofPath = "/debug/pprof"

// PprofMaxSeconds bounds the seconds parameter of a CPU profile, a trace or
// a delta profile. Such a request holds the process's one CPU profiler (or
// tracer) for its whole duration, so a typo like seconds=3000 would lock
// every other operator out for most of an hour.
const PprofMaxSeconds = 120

// Pprof serves net/http/pprof's handlers for operators, behind whatever
// middleware Mount is given. It registers them route by route: importing
// net/http/pprof also registers them, without any auth, on
// http.DefaultServeMux, which no SignalOps server may serve (Server refuses
// a nil handler for that reason).
//
// A CPU profile, a trace and a delta profile (?seconds=N on a named
// profile) take N seconds, so the router's RequestTimeout does not apply
// under PprofPath (see timeout); net/http/pprof itself stretches the
// server's WriteTimeout by N. Stop ends the running ones early, answering
// with what they have collected, so a profile in progress does not hold up
// a graceful shutdown.
type Pprof struct {
	stopping chan struct{}
	once     sync.Once
}

// NewPprof returns a Pprof whose profiles run until Stop.
func NewPprof() *Pprof {
	return &Pprof{stopping: make(chan struct{})}
}

// Mount registers the profiles under PprofPath on e, each behind mw: the
// index page, cmdline, profile (CPU), symbol, trace and the named runtime
// profiles.
func (p *Pprof) Mount(e *echo.Echo, mw ...echo.MiddlewareFunc) {
	g := NewGroup(e, PprofPath, mw...)
	g.GET("/", p.handler(pprof.Index))
	g.GET("/cmdline", p.handler(pprof.Cmdline))
	g.GET("/profile", p.handler(pprof.Profile))
	g.GET("/symbol", p.handler(pprof.Symbol))
	g.POST("/symbol", p.handler(pprof.Symbol)) // go tool pprof posts the addresses
	g.GET("/trace", p.handler(pprof.Trace))
	for _, name := range []string{"allocs", "block", "goroutine", "heap", "mutex", "threadcreate"} {
		g.GET("/"+name, p.handler(pprof.Handler(name).ServeHTTP))
	}
}

// Stop ends running and future profiles at once (call it when the server
// starts shutting down, e.g. from http.Server.RegisterOnShutdown). It may be
// called more than once.
func (p *Pprof) Stop() {
	p.once.Do(func() { close(p.stopping) })
}

func (p *Pprof) handler(h http.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if s := req.URL.Query().Get("seconds"); s != "" {
			// !(n <= max) also refuses NaN and +Inf.
			if n, err := strconv.ParseFloat(s, 64); err == nil && !(n <= PprofMaxSeconds) {
				return apperr.BadRequest("invalid_seconds",
					"seconds may be at most "+strconv.Itoa(PprofMaxSeconds)+".")
			}
		}
		// net/http/pprof stops collecting when the request's context ends.
		ctx, cancel := context.WithCancel(req.Context())
		defer cancel()
		go func() {
			select {
			case <-p.stopping:
				cancel()
			case <-ctx.Done():
			}
		}()
		h(c.Response(), req.WithContext(ctx))
		return nil
	}
}
