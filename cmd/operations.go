package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"riverqueue.com/riverui"

	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/metrics"
	"github.com/signalops/signalops/platform/queue"
)

// RiverUIPath is where the River UI is mounted, behind operator basic auth.
const RiverUIPath = "/admin/river"

// gaugeMaxAge bounds how often a scrape may run the gauges' queries.
const gaugeMaxAge = 5 * time.Second

// riverUIIdle is how long River UI's count caches keep running after its last
// request. They count river_job by state every 10–30 s (a full-table count,
// targeted at 2 % of one PostgreSQL backend's time, in every serve process:
// 14 ms of PostgreSQL CPU per second with 2,000,000 completed jobs kept, 24 h
// of them at ~12 events/s), so they run only while someone uses the UI. Its
// pages work without them: on a cold cache the states endpoint counts in the
// request, bounded.
const riverUIIdle = 10 * time.Minute

// riverUI serves the River UI over the process's insert-only client (the UI
// only reads and updates river_job/river_queue rows through the client's
// driver, so it needs no queues or workers; its assets are compiled into the
// riverui module, no CDN) and runs its count caches on demand (riverUIIdle).
// A riverui.Handler cannot be started again once stopped, so each use after
// an idle stop builds a fresh one.
type riverUI struct {
	jobs    *queue.Client
	logger  *slog.Logger
	current atomic.Pointer[riverui.Handler]
	use     *background.OnDemand // runs start; serve runs its loop
}

func newRiverUI(jobs *queue.Client, logger *slog.Logger) (*riverUI, error) {
	u := &riverUI{jobs: jobs, logger: logger}
	h, err := u.build()
	if err != nil {
		return nil, err
	}
	u.current.Store(h) // serves, caches not started, until the first use
	u.use = background.NewOnDemand(u.start, riverUIIdle, logger)
	return u, nil
}

func (u *riverUI) build() (*riverui.Handler, error) {
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(u.jobs, nil),
		Logger:    u.logger,
		Prefix:    RiverUIPath,
	})
	if err != nil {
		return nil, fmt.Errorf("create river ui: %w", err)
	}
	return h, nil
}

// start runs a fresh handler's count caches until ctx ends and serves
// through it from then on.
func (u *riverUI) start(ctx context.Context) error {
	h, err := u.build()
	if err != nil {
		return err
	}
	if err := h.Start(ctx); err != nil {
		return fmt.Errorf("start river ui: %w", err)
	}
	u.current.Store(h)
	return nil
}

func (u *riverUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.use.Touch()
	u.current.Load().ServeHTTP(w, r)
}

// mountRiverUI serves the River UI at /admin/river when ADMIN_TOKEN is set
// (else the path answers 404 like any unknown one). The UI can retry, cancel
// and delete jobs, so it sits behind basic auth, and its state-changing API
// calls must come from its own pages (cross-origin protection: basic-auth
// credentials are sent by the browser on cross-site requests too).
func (s *system) mountRiverUI(e *echo.Echo) {
	if s.riverUI == nil {
		return
	}
	h := echo.WrapHandler(http.NewCrossOriginProtection().Handler(s.riverUI))
	e.Any(RiverUIPath, h, s.operatorBasicAuth)
	e.Any(RiverUIPath+"/*", h, s.operatorBasicAuth, utf8Path)
}

// utf8Path answers 404 for a path that is not valid UTF-8: it names no
// asset, and River UI's file server would answer it with a bare 500.
func utf8Path(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !utf8.ValidString(c.Request().URL.Path) {
			return echo.ErrNotFound
		}
		return next(c)
	}
}

// operatorBasicAuth accepts HTTP basic auth whose password is ADMIN_TOKEN
// (any user name). The comparison is constant-time over SHA-256 digests
// (auth.Service.AuthenticateAdmin), so neither content nor length leaks.
func (s *system) operatorBasicAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		_, password, ok := c.Request().BasicAuth()
		if !ok || !s.auth.Service.AuthenticateAdmin(password) {
			c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Basic realm="SignalOps operator"`)
			return apperr.Unauthorized("invalid_operator_credentials",
				"The River UI needs HTTP basic auth with ADMIN_TOKEN as the password.")
		}
		return next(c)
	}
}

// mountPprof serves the Go runtime's profiles under /debug/pprof/ when
// ADMIN_TOKEN is set (else they answer 404), behind the operator API's
// bearer check: profiles reveal the command line, code paths and allocation
// sites, and a CPU profile or trace costs CPU while it runs.
func (s *system) mountPprof(e *echo.Echo) {
	if s.pprof == nil {
		return
	}
	s.pprof.Mount(e, s.auth.AdminAuth())
}

// registerGauges adds the database-sampled gauges (queue depth, oldest
// available job, DLQ size, deliveries by status) to the process's metrics.
// Only serve registers them: work's /metrics carries counters, so the gauges
// are not double counted across targets.
func (s *system) registerGauges() {
	var kinds []string
	for _, a := range publishedJobs() {
		kinds = append(kinds, a.Kind())
	}
	var queues []string
	for q := range queueConfig(s.cfg).Queues {
		queues = append(queues, q)
	}
	deliveries := metrics.GaugeQuery{
		Name:  "signalops_deliveries",
		Help:  "Deliveries by status (pending, succeeded, failed).",
		Label: "status",
		Query: `SELECT status, count(*)::float8 FROM deliveries GROUP BY status`,
		Zero:  []string{notify.StatusPending, notify.StatusSucceeded, notify.StatusFailed},
	}
	queries := append(metrics.RiverGauges(kinds, queues), deliveries)
	s.metrics.MustRegister(metrics.NewDBGauges(s.db.DB, gaugeMaxAge, s.logger.With("module", "metrics"), queries...))
}

// registerWorkGauges adds work's one database-sampled gauge: channel
// circuits not closed, by state. It reads channel_flow, so every work
// process reports the same value; aggregate it with max, not sum.
func (s *system) registerWorkGauges() {
	circuits := metrics.GaugeQuery{
		Name:  "signalops_channel_circuits",
		Help:  "Channel circuits that are open or half open (probing), across all work processes (aggregate with max).",
		Label: "state",
		Query: `SELECT state, count(*)::float8 FROM channel_flow WHERE state <> 'closed' GROUP BY state`,
		Zero:  []string{notify.CircuitOpen, notify.CircuitHalfOpen},
	}
	s.metrics.MustRegister(metrics.NewDBGauges(s.db.DB, gaugeMaxAge, s.logger.With("module", "metrics"), circuits))
}

// workMetricsHandler is work's METRICS_ADDR surface: /metrics, the probes
// /healthz and /readyz (the same checks as serve's, for an orchestrator's
// liveness and readiness), and with ADMIN_TOKEN the profiles under
// /debug/pprof/. The probes and profiles are served by a router of their own
// so they get the same operator check, problem+json errors and access log as
// on serve (scrapes of /metrics stay out of the log).
func workMetricsHandler(sys *system) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", sys.metrics.Handler())
	e := httpx.NewRouter(sys.logger.With("module", "http"), httpx.Options{RequestTimeout: sys.cfg.HTTP.RequestTimeout})
	sys.mountHealth(e)
	mux.Handle("GET /healthz", e)
	mux.Handle("GET /readyz", e)
	if sys.pprof != nil {
		sys.mountPprof(e)
		mux.Handle(httpx.PprofPath+"/", e)
	}
	return mux
}

// serveWorkMetrics serves workMetricsHandler on METRICS_ADDR until ctx is
// canceled. It returns once listening, or with the listen error.
func serveWorkMetrics(ctx context.Context, sys *system) (stop func(), err error) {
	ln, err := net.Listen("tcp", sys.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen on METRICS_ADDR %s: %w", sys.cfg.MetricsAddr, err)
	}
	srv := httpx.Server(sys.cfg.MetricsAddr, workMetricsHandler(sys))
	if sys.pprof != nil {
		srv.RegisterOnShutdown(sys.pprof.Stop)
	}
	sys.logger.InfoContext(ctx, "metrics server listening", slog.String("addr", ln.Addr().String()))
	serving := background.Start(ctx, "work-metrics", func(ctx context.Context) {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			sys.logger.ErrorContext(ctx, "metrics server failed", slog.Any("error", err))
		}
	})
	return func() {
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutCtx)
		serving.Stop()
	}, nil
}
