// Package httpx builds the Echo router every process serves: request ids,
// access logs, panic recovery, body limits, request timeouts and the single
// problem+json error handler.
package httpx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/logx"
)

// Options tunes the router.
type Options struct {
	// BodyLimit caps every request body; routes may set a lower one with BodyLimit.
	BodyLimit int64
	// RequestTimeout bounds the context of every request, except on the
	// routes in Unbounded.
	RequestTimeout time.Duration
	// Unbounded lists route patterns (as registered, e.g.
	// "/api/events/stream") that are long-lived streams: they bound
	// themselves, and RequestTimeout does not apply to them.
	Unbounded []string
	// Metrics, when set, is told of every answered request. route is the
	// matched pattern (c.Path(), never the raw URL, so label sets stay
	// bounded), or RouteUnmatched.
	Metrics func(route, method string, status int, elapsed time.Duration)
	// Tracing, when set, wraps every other middleware and the error
	// handler, so the access log and error logs carry the request's
	// trace_id (tracing.EchoMiddleware).
	Tracing echo.MiddlewareFunc
}

// RouteUnmatched is the route Options.Metrics sees for requests no route matched.
const RouteUnmatched = "unmatched"

// NewRouter returns the Echo instance with SignalOps' middleware and error handler.
func NewRouter(logger *slog.Logger, opts Options) *echo.Echo {
	if opts.BodyLimit <= 0 {
		opts.BodyLimit = 4 << 20
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = 10 * time.Second
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = errorHandler(logger)
	e.IPExtractor = echo.ExtractIPDirect()
	if opts.Tracing != nil {
		e.Use(opts.Tracing)
	}
	e.Use(requestID)
	if opts.Metrics != nil {
		e.Use(observe(opts.Metrics))
	}
	unbounded := map[string]bool{}
	for _, r := range opts.Unbounded {
		unbounded[r] = true
	}
	e.Use(accessLog(logger), recoverer(logger), BodyLimit(opts.BodyLimit), timeout(opts.RequestTimeout, unbounded))
	return e
}

// observe reports each request to fn once the error handler (run by
// accessLog, inside it) has written the status.
func observe(fn func(route, method string, status int, elapsed time.Duration)) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			err := next(c)
			if err != nil {
				c.Error(err)
			}
			route := c.Path()
			if route == "" || c.Response().Status == http.StatusNotFound && !routed(c) {
				route = RouteUnmatched
			}
			fn(route, c.Request().Method, c.Response().Status, time.Since(start))
			return nil
		}
	}
}

// routed reports whether c.Path() is a registered route rather than a
// router node a 404 stopped at.
func routed(c echo.Context) bool {
	for _, r := range c.Echo().Routes() {
		if r.Path == c.Path() {
			return true
		}
	}
	return false
}

// HeaderRequestID is echoed on every response.
const HeaderRequestID = "X-Request-Id"

// requestID keeps a sane incoming X-Request-Id or makes one, and puts it in
// the response and the request context.
func requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(HeaderRequestID)
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		c.Response().Header().Set(HeaderRequestID, id)
		req := c.Request()
		c.SetRequest(req.WithContext(logx.WithRequestID(req.Context(), id)))
		return next(c)
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// accessLog writes one structured line per request, after the error handler
// has decided the status.
func accessLog(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			req, res := c.Request(), c.Response()
			level := slog.LevelInfo
			if res.Status >= 500 {
				level = slog.LevelWarn
			}
			logger.LogAttrs(req.Context(), level, "http request",
				slog.String("method", req.Method),
				slog.String("route", c.Path()),
				slog.String("path", req.URL.Path),
				slog.Int("status", res.Status),
				slog.Int64("bytes", res.Size),
				slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			)
			return nil
		}
	}
}

// recoverer turns a panic into a 500 problem and logs the stack.
func recoverer(logger *slog.Logger) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) (err error) {
			defer func() {
				if r := recover(); r != nil {
					if e, ok := r.(error); ok && errors.Is(e, http.ErrAbortHandler) {
						panic(r)
					}
					logger.ErrorContext(c.Request().Context(), "panic serving request",
						slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			return next(c)
		}
	}
}

// BodyLimit refuses bodies over limit bytes: at once when Content-Length says
// so, else when the handler reads past it (http.MaxBytesError → 413).
func BodyLimit(limit int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			if req.ContentLength > limit {
				return &http.MaxBytesError{Limit: limit}
			}
			if req.Body != nil {
				req.Body = bodyReader{http.MaxBytesReader(c.Response(), req.Body, limit)}
			}
			return next(c)
		}
	}
}

// bodyReader makes a failed read of the request body — a client too slow
// for the server's ReadTimeout, or gone mid-body — a 400, so the error
// handler does not take the network error for an unreachable database (503).
type bodyReader struct{ io.ReadCloser }

func (r bodyReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err == nil || err == io.EOF {
		return n, err
	}
	var tooLarge *http.MaxBytesError
	if _, ok := apperr.As(err); ok || errors.As(err, &tooLarge) {
		return n, err
	}
	return n, &apperr.Error{Kind: apperr.KindBadRequest, Code: "body_unreadable",
		Detail: "The request body could not be read completely.", Err: err}
}

// timeout bounds each request's context by d, except under PprofPath (a
// CPU profile or trace runs for its seconds parameter; Pprof bounds it)
// and on unbounded routes (streams that end themselves). c.Path() is the
// matched route here: Echo routes before running e.Use's middleware.
func timeout(d time.Duration, unbounded map[string]bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if strings.HasPrefix(c.Path(), PprofPath+"/") || unbounded[c.Path()] {
				return next(c)
			}
			ctx, cancel := context.WithTimeout(c.Request().Context(), d)
			defer cancel()
			c.SetRequest(c.Request().WithContext(ctx))
			return next(c)
		}
	}
}

// Server wraps the router in an http.Server with timeouts that bound slow
// clients (slowloris) and oversized headers. It panics on a nil handler:
// http.Server would then serve http.DefaultServeMux, where importing
// net/http/pprof registers the profiles without any auth.
func Server(addr string, h http.Handler) *http.Server {
	if h == nil {
		panic("httpx.Server: nil handler would serve http.DefaultServeMux")
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}
