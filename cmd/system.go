package cmd

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/signalops/signalops/cmd/console"
	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/db"
	"github.com/signalops/signalops/docs"
	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/modules/rules"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/metrics"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/queue"
	"github.com/signalops/signalops/platform/ratelimit"
	"github.com/signalops/signalops/platform/secretbox"
	"github.com/signalops/signalops/platform/tracing"
)

// system is the wired application of one process: the pool, the insert-only
// River client and every module.
type system struct {
	cfg     config.Config
	logger  *slog.Logger
	db      *sqlx.DB
	replica *sqlx.DB // DATABASE_READ_URL (openReplica); nil: none
	jobs    *queue.Client
	fair    *queue.Fair // orders the jobs this process enqueues across tenants

	auth    *auth.Module
	events  *events.Module
	rules   *rules.Module
	notify  *notify.Module
	billing *billing.Module
	plans   billing.Catalog
	limiter *ratelimit.Limiter
	metrics *metrics.Registry
	console *console.Console
	riverUI *riverUI     // nil without ADMIN_TOKEN
	pprof   *httpx.Pprof // nil without ADMIN_TOKEN

	migrationsCurrent atomic.Bool // sticky once seen: a running binary never un-migrates
}

func newSystem(ctx context.Context, cfg config.Config, logger *slog.Logger) (*system, error) {
	logger.InfoContext(ctx, "configuration", slog.Any("config", cfg.Redacted()))
	pool, err := pg.Open(ctx, cfg.DatabaseURL, pg.PoolConfig{
		MaxOpenConns: cfg.DB.MaxConns, MaxIdleConns: cfg.DB.MaxConns, ConnMaxLifetime: 30 * time.Minute,
		StatementCache: cfg.DB.StatementCache,
	})
	if err != nil {
		return nil, err
	}
	return wire(pool, cfg, logger)
}

// wire builds the modules over an open pool (tests call it with a test database).
func wire(pool *sqlx.DB, cfg config.Config, logger *slog.Logger) (*system, error) {
	// config checks only SMTP_URL's scheme and host; the e-mail provider's
	// parser is stricter (ports, query), and a URL it refuses would
	// otherwise start fine and then fail every send.
	if cfg.Notify.SMTPURL != "" {
		if err := notify.ValidateSMTPURL(cfg.Notify.SMTPURL); err != nil {
			return nil, fmt.Errorf("config: SMTP_URL %w", err)
		}
	}
	s := &system{cfg: cfg, logger: logger, db: pool, limiter: ratelimit.New()}
	// Every job this process enqueues for a tenant is placed fairly
	// (queue.Fair; docs/adr/0011); weights come from billing, wired below.
	s.fair = queue.NewFair(cfg.Queue.FairWindow, func(ctx context.Context, tenantID uuid.UUID) int {
		return s.billing.Service.Weight(ctx, tenantID)
	}, queue.Head(pool.DB))
	qc := queueConfig(cfg)
	qc.Middleware = []rivertype.Middleware{s.fair}
	jobs, err := queue.NewInsertOnly(pool.DB, qc, logger.With("module", "river"))
	if err != nil {
		return nil, err
	}
	s.jobs = jobs
	s.plans = billing.NewCatalog(billing.RateOverride{IngestRate: cfg.RateLimit.IngestRate, IngestBurst: cfg.RateLimit.IngestBurst})
	s.auth = auth.New(pool, logger, auth.Options{JWTSecret: []byte(cfg.JWTSecret), AdminToken: cfg.AdminToken,
		Limiter: s.limiter})
	s.billing = billing.New(pool, s.auth.Service, s.plans, logger)
	s.events = events.New(pool, jobs, s.billing.Service, logger)
	box, err := secretBox(cfg)
	if err != nil {
		return nil, err
	}
	s.notify = notify.New(pool, jobs, notify.Config{
		Providers: notify.Options{
			SMTPURL: cfg.Notify.SMTPURL, SMTPFrom: cfg.Notify.SMTPFrom,
			TelegramBase: cfg.Notify.TelegramAPIBase, WhatsAppBase: cfg.Notify.WhatsAppAPIBase,
			WebhookAllowPrivate: cfg.Notify.WebhookAllowPrivate, HTTPTimeout: cfg.Notify.Timeout,
			WrapTransport: tracing.Transport,
		},
		Box:           box,
		RetrySchedule: cfg.Notify.RetrySchedule,
		Billing:       s.billing.Service,
		Flow: notify.FlowOptions{
			BreakerFailures: cfg.Notify.Breaker.Failures, BreakerProbe: cfg.Notify.Breaker.Probe,
			BreakerProbeMax: cfg.Notify.Breaker.ProbeMax, ChannelConcurrency: cfg.Notify.ChannelConcurrency,
		},
		// Circuit transitions are the tenant's own events, stored with the
		// transition (notify cannot import events).
		RecordEvent: func(ctx context.Context, tx *sqlx.Tx, tenantID uuid.UUID, typ string, payload any) error {
			_, err := s.events.Service.RecordTx(ctx, tx, tenantID, typ, payload)
			return err
		},
	}, logger)
	s.rules = rules.New(pool, jobs, s.events.Service, s.notify.Service, s.billing.Service, logger)
	s.rules.Service.SetDigestMinWindow(cfg.Rules.DigestMinWindow)
	s.events.AddRelated(s.rules.Service.RelatedMatches, s.relatedDeliveries)
	// Matches and deliveries go when their events' partitions are dropped.
	s.events.Service.AddExpiry(s.rules.Service.DeleteExpired, s.notify.Service.DeleteExpired)
	if s.console, err = console.New(console.Options{Secret: consoleSecret(cfg.JWTSecret),
		Logger: logger.With("module", "console"), WebhookAddrAllowed: webhookAddrAllowed(cfg)}); err != nil {
		return nil, err
	}
	s.metrics = metrics.New()
	s.events.SetMetrics(s.metrics.EventsIngested)
	s.notify.SetMetrics(s.metrics)
	if cfg.AdminToken != "" {
		if s.riverUI, err = newRiverUI(jobs, logger.With("module", "riverui")); err != nil {
			return nil, err
		}
		s.pprof = httpx.NewPprof()
	}
	return s, nil
}

func (s *system) close() {
	if s.replica != nil {
		_ = s.replica.Close()
	}
	_ = s.db.Close()
}

// openReplica opens DATABASE_READ_URL, when set, and sends the listing
// reads there. Only serve lists. The pool connects when first used: a
// replica that is down makes the listing endpoints answer 503, and nothing
// else.
func (s *system) openReplica() error {
	if s.cfg.DatabaseReadURL == "" {
		return nil
	}
	replica, err := pg.NewPool(s.cfg.DatabaseReadURL, pg.PoolConfig{
		MaxOpenConns: s.cfg.DB.MaxConns, MaxIdleConns: s.cfg.DB.MaxConns, ConnMaxLifetime: 30 * time.Minute,
		StatementCache: s.cfg.DB.StatementCache,
	})
	if err != nil {
		return fmt.Errorf("DATABASE_READ_URL: %w", err)
	}
	s.useReplica(replica)
	return nil
}

// useReplica routes GET /api/events, /api/deliveries and /api/usage(/history)
// to replica. Reads by id (GET /api/events/{id} right after its 202) and
// everything that decides or writes stay on the primary.
func (s *system) useReplica(replica *sqlx.DB) {
	s.replica = replica
	s.events.Service.UseReplica(replica)
	s.notify.Service.UseReplica(replica)
	s.billing.Service.UseReplica(replica)
}

func queueConfig(cfg config.Config) queue.Config {
	return queue.Config{
		Queues: map[string]int{events.QueueEvents: cfg.Queue.EventWorkers, notify.QueueNotify: cfg.Notify.Workers,
			events.QueueMaintenance: 1},
		FetchCooldown:      cfg.Queue.FetchCooldown,
		FetchPollInterval:  cfg.Queue.FetchPollInterval,
		JobTimeout:         cfg.Queue.JobTimeout,
		RescueAfter:        cfg.Queue.RescueAfter,
		DiscardedRetention: cfg.Queue.DiscardedRetention,
		PeriodicJobs:       events.PeriodicJobs(),
	}
}

// publishedJobs lists one value of every job Args any module enqueues. The
// insert-only client cannot check that a worker exists for a kind; the
// wiring test does, against this list.
func publishedJobs() []river.JobArgs {
	return []river.JobArgs{events.ProcessArgs{}, events.PartitionsArgs{}, notify.DeliverArgs{}, rules.DigestArgs{}}
}

// workers registers every module's workers. run serves their group
// commits: start it before the River client works and stop it (cancel its
// context, wait for it to return) after the client stopped.
func (s *system) workers() (w *river.Workers, run func(context.Context)) {
	w = river.NewWorkers()
	s.events.AddWorkers(w)
	g := pg.GroupOptions{Committers: s.cfg.Queue.Committers, MaxBatch: s.cfg.Queue.GroupMax, TxTimeout: s.cfg.Queue.JobTimeout}
	runs := []func(context.Context){s.rules.AddWorkers(w, g), s.notify.AddWorkers(w, g)}
	return w, func(ctx context.Context) { background.Run(ctx, runs...) }
}

// router is the whole HTTP surface.
func (s *system) router() *echo.Echo {
	e := httpx.NewRouter(s.logger.With("module", "http"), httpx.Options{
		BodyLimit:      4 << 20,
		RequestTimeout: s.cfg.HTTP.RequestTimeout,
		Metrics:        s.metrics.ObserveRequest,
		Unbounded:      []string{"/api" + events.StreamPath, console.StreamRoute},
		Tracing:        tracing.EchoMiddleware(),
	})
	s.mountHealth(e)
	e.GET("/metrics", echo.WrapHandler(s.metrics.Handler()))
	s.mountRiverUI(e)
	s.mountPprof(e)
	docs.Routes(e)

	limited := ratelimit.Middleware(s.limiter, billing.RateLimitKey(s.plans))
	api := httpx.NewGroup(e, "/api")
	s.auth.PublicRoutes(api.With(ratelimit.Middleware(s.limiter, loginLimitKey)))
	s.auth.AdminRoutes(httpx.NewGroup(e, "/api/admin"))
	managed := api.With(s.auth.TokenAuth(), limited)
	s.auth.Routes(managed)
	s.rules.Routes(managed)
	s.events.TypeRoutes(managed) // the event type catalog (SPEC §11)
	s.notify.Routes(managed)
	s.billing.Routes(managed)
	queue.DLQRoutes(managed.With(auth.Require(auth.RoleViewer, auth.RoleMember)), queue.NewDLQ(s.jobs, s.db.DB), auth.TenantID)
	s.events.Routes(api.With(s.auth.APIKeyAuth(), limited), api.With(s.auth.AnyAuth(), limited))
	s.console.Routes(e) // calls the routes above in-process, with the user's token
	return e
}

// consoleSecret keys the console's CSRF tokens: derived from JWT_SECRET,
// so it needs no setting of its own and changes when that secret does.
func consoleSecret(jwtSecret string) []byte {
	m := hmac.New(sha256.New, []byte(jwtSecret))
	m.Write([]byte("signalops console csrf key"))
	return m.Sum(nil)
}

// secretBox seals channel secrets with SECRET_KEY; previous keys still open
// what they sealed, so a rotation needs no downtime.
func secretBox(cfg config.Config) (*secretbox.Box, error) {
	if len(cfg.SecretKey) == 0 {
		return nil, errors.New("config: SECRET_KEY is required")
	}
	var old []secretbox.KeyEntry
	for _, k := range cfg.SecretKeysPrevious {
		old = append(old, secretbox.KeyEntry{ID: secretbox.KeyID(k), Key: k})
	}
	return secretbox.New(secretbox.KeyEntry{ID: secretbox.KeyID(cfg.SecretKey), Key: cfg.SecretKey}, old...)
}

// relatedDeliveries adds an event's deliveries to its read view.
func (s *system) relatedDeliveries(ctx context.Context, tenantID, eventID uuid.UUID, r *events.Related) error {
	ds, err := s.notify.Service.DeliveriesOfEvent(ctx, tenantID, eventID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		r.Deliveries = append(r.Deliveries, events.DeliveryRef{ID: d.ID, RuleID: d.RuleID, ChannelID: d.ChannelID,
			Status: d.Status, Attempts: d.Attempts, FallbackOf: d.FallbackOf})
	}
	return nil
}

// loginLimitKey slows password guessing: 10 attempts per client address
// (an IPv6 client by its /64), then one every 6 s. auth.Service.Login adds
// a limit per account.
func loginLimitKey(c echo.Context) (string, float64, int, bool) {
	return "login:" + ratelimit.AddrKey(c.RealIP()), 1.0 / 6, 10, true
}

// mountHealth adds the probes: /healthz (the process runs) and /readyz
// (its database answers and the schema is current).
func (s *system) mountHealth(e *echo.Echo) {
	e.GET("/healthz", func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
	})
	e.GET("/readyz", s.ready)
}

// ready answers 200 when the database answers and its schema is the one this
// binary expects.
func (s *system) ready(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.db.PingContext(ctx); err != nil {
		return apperr.Unavailable("The database is unreachable.", time.Second, err)
	}
	if !s.migrationsCurrent.Load() {
		st, err := db.Version(ctx, s.db.DB, s.logger)
		if err != nil {
			return apperr.Unavailable("The schema version cannot be read.", time.Second, err)
		}
		if !st.Current() {
			return apperr.Unavailable(fmt.Sprintf("Database migrations are behind (%s): run `signalops migrate up`.", st), 5*time.Second, nil)
		}
		s.migrationsCurrent.Store(true)
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ready"})
}

// webhookAddrAllowed is what the console's channel form checks a webhook
// URL's literal address with: nil when WEBHOOK_ALLOW_PRIVATE lets every
// address through, notify's own rule otherwise.
func webhookAddrAllowed(cfg config.Config) func(netip.Addr) bool {
	if cfg.Notify.WebhookAllowPrivate {
		return nil
	}
	return notify.IsPublicAddr
}
