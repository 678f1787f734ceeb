// Package config reads SignalOps' settings from the environment once, at
// start. Every setting has a default in code (except the secrets), is
// validated here, and a malformed one stops the process with one line naming
// it. Secrets may also come from a file named by <NAME>_FILE.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration. It is passed down explicitly; there are
// no globals.
type Config struct {
	DatabaseURL string
	// DatabaseReadURL, when set, names a streaming replica that serves the
	// listing endpoints; everything else reads and writes DatabaseURL.
	DatabaseReadURL string
	DB              DB
	HTTP            HTTP
	Queue           Queue
	Log             Log
	JWTSecret       string // HS256 key for management tokens (≥ 32 bytes)
	SecretKey       []byte // 32 bytes: encrypts channel secrets at rest
	AdminToken      string // operator token for /api/admin, and the River UI's basic-auth password
	MetricsAddr     string // listen address of work's /metrics (serve has /metrics on its router)
	// AdaptiveProcs runs serve and work on one P while each needs less
	// than a core (platform/procs; ADAPTIVE_GOMAXPROCS, default true). It
	// is off when GOMAXPROCS is set: the operator chose.
	AdaptiveProcs bool
	RateLimit     RateLimit
	Ingest        Ingest
	Notify        Notify
	Rules         Rules
	// SecretKeysPrevious still open channel secrets sealed before a
	// SECRET_KEY rotation (SECRET_KEY_PREVIOUS, comma-separated base64).
	SecretKeysPrevious [][]byte
}

// Notify configures delivery.
type Notify struct {
	SMTPURL             string
	SMTPFrom            string
	TelegramAPIBase     string
	WhatsAppAPIBase     string
	WebhookAllowPrivate bool
	RetrySchedule       []time.Duration // one retry per entry, then the job is discarded (DLQ)
	Workers             int             // concurrent notify.deliver jobs per work process
	Timeout             time.Duration   // one provider call
	// ChannelConcurrency caps one channel's sends in flight per work
	// process (NOTIFY_CHANNEL_CONCURRENCY, 1-10000, default 20).
	ChannelConcurrency int
	Breaker            Breaker
}

// Breaker configures the circuit breaker of every channel (SPEC §8).
type Breaker struct {
	// Failures: consecutive transient failures that open a circuit
	// (CHANNEL_BREAKER_FAILURES, 1-10000, default 10).
	Failures int
	// Probe: from opening to the first probe; it doubles after each failed
	// probe up to ProbeMax (CHANNEL_BREAKER_PROBE, default 30s;
	// CHANNEL_BREAKER_PROBE_MAX, default 10m; 100ms-24h, Probe ≤ ProbeMax).
	Probe, ProbeMax time.Duration
}

// Rules configures the rules module.
type Rules struct {
	// DigestMinWindow is the shortest digest window a rule may be written
	// with (DIGEST_MIN_WINDOW, 1s–1m, default 1m). Only tests lower it, so
	// that a digest need not take a minute; SPEC §10 says 1 min.
	DigestMinWindow time.Duration
}

// Ingest tunes group commit of single-event ingestion.
type Ingest struct {
	Committers int // concurrent group transactions per serve process
	MaxBatch   int // events per group transaction at most
}

// RateLimit overrides the plans' per-key ingest rate when set.
type RateLimit struct {
	IngestRate  float64 // INGEST_RATE_LIMIT, requests/s per key; 0 = the plan's
	IngestBurst int     // INGEST_RATE_BURST; 0 = the plan's
}

// DB sizes the PostgreSQL pool of one process.
type DB struct {
	MaxConns       int
	StatementCache int // prepared statements kept per connection; 0 = none (poolers in transaction mode)
}

// HTTP configures `serve`.
type HTTP struct {
	Addr            string
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
}

// Queue configures River in `work` (and the insert-only client in `serve`).
type Queue struct {
	EventWorkers       int           // concurrent event.process jobs per process
	Committers         int           // concurrent group-commit transactions of the workers
	GroupMax           int           // jobs per worker group commit at most
	FetchCooldown      time.Duration // shortest gap between fetches; also throttles insert notifications
	FetchPollInterval  time.Duration // fallback poll when LISTEN misses something
	JobTimeout         time.Duration // a job running longer is canceled
	RescueAfter        time.Duration // a running job older than this is presumed stuck (its worker died)
	DiscardedRetention time.Duration // how long the DLQ keeps discarded jobs; 0 = forever
	ShutdownTimeout    time.Duration // soft stop: in-flight jobs get this long to finish
	FairWindow         time.Duration // how far fair ordering across tenants reaches; 0 = off (FIFO)
}

// Log configures the process logger.
type Log struct {
	Level  string
	Format string
}

// Load reads the configuration through getenv (os.Getenv in main, a map in tests).
func Load(getenv func(string) string) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{
		DatabaseURL:     r.secret("DATABASE_URL"), // it may carry a password: DATABASE_URL_FILE works too
		DatabaseReadURL: r.secret("DATABASE_READ_URL"),
		AdaptiveProcs:   r.bool("ADAPTIVE_GOMAXPROCS", true) && strings.TrimSpace(getenv("GOMAXPROCS")) == "",
		DB:              DB{MaxConns: r.int("DB_MAX_CONNS", 16, 1, 1000), StatementCache: r.int("DB_STATEMENT_CACHE", 256, 0, 10000)},
		HTTP: HTTP{
			Addr:            r.str("HTTP_ADDR", ":3000"),
			RequestTimeout:  r.dur("REQUEST_TIMEOUT", 10*time.Second),
			ShutdownTimeout: r.dur("SHUTDOWN_TIMEOUT", 20*time.Second),
		},
		Queue: Queue{
			EventWorkers:       r.int("QUEUE_EVENT_WORKERS", 200, 1, 10000),
			Committers:         r.int("QUEUE_COMMITTERS", 2, 1, 64),
			GroupMax:           r.int("QUEUE_GROUP_MAX", 128, 1, 1000),
			FetchCooldown:      r.dur("QUEUE_FETCH_COOLDOWN", 10*time.Millisecond),
			FetchPollInterval:  r.dur("QUEUE_FETCH_POLL_INTERVAL", time.Second),
			JobTimeout:         r.dur("QUEUE_JOB_TIMEOUT", 30*time.Second),
			RescueAfter:        r.dur("QUEUE_RESCUE_AFTER", 45*time.Second),
			DiscardedRetention: r.dur("QUEUE_DISCARDED_RETENTION", 30*24*time.Hour),
			ShutdownTimeout:    r.dur("QUEUE_SHUTDOWN_TIMEOUT", 25*time.Second),
			FairWindow:         r.dur("QUEUE_FAIR_WINDOW", 10*time.Minute),
		},
		Log: Log{
			Level:  strings.ToLower(r.str("LOG_LEVEL", "info")),
			Format: strings.ToLower(r.str("LOG_FORMAT", "text")),
		},
		RateLimit: RateLimit{
			IngestRate:  r.float("INGEST_RATE_LIMIT", 0),
			IngestBurst: r.int("INGEST_RATE_BURST", 0, 0, 10_000_000),
		},
		Ingest: Ingest{
			Committers: r.int("INGEST_COMMITTERS", 1, 1, 64),
			MaxBatch:   r.int("INGEST_GROUP_MAX", 256, 1, 1000),
		},
		Notify: Notify{
			SMTPURL:             r.secret("SMTP_URL"),
			SMTPFrom:            r.str("SMTP_FROM", "SignalOps <signalops@localhost>"),
			TelegramAPIBase:     r.str("TELEGRAM_API_BASE", "https://api.telegram.org"),
			WhatsAppAPIBase:     r.str("WHATSAPP_API_BASE", "https://graph.facebook.com/v21.0"),
			WebhookAllowPrivate: r.bool("WEBHOOK_ALLOW_PRIVATE", false),
			RetrySchedule:       r.durs("NOTIFY_RETRY_SCHEDULE", "5s,5m,30m,2h,5h,10h,10h"),
			Workers:             r.int("NOTIFY_WORKERS", 200, 1, 10000),
			Timeout:             r.dur("NOTIFY_TIMEOUT", 15*time.Second),
			ChannelConcurrency:  r.int("NOTIFY_CHANNEL_CONCURRENCY", 20, 1, 10000),
			Breaker: Breaker{
				Failures: r.int("CHANNEL_BREAKER_FAILURES", 10, 1, 10000),
				Probe:    r.dur("CHANNEL_BREAKER_PROBE", 30*time.Second),
				ProbeMax: r.dur("CHANNEL_BREAKER_PROBE_MAX", 10*time.Minute),
			},
		},
		Rules: Rules{
			DigestMinWindow: r.dur("DIGEST_MIN_WINDOW", time.Minute),
		},
		JWTSecret:   r.secret("JWT_SECRET"),
		AdminToken:  r.secret("ADMIN_TOKEN"),
		MetricsAddr: r.str("METRICS_ADDR", ":9091"),
	}
	if key := r.secret("SECRET_KEY"); key != "" {
		b, err := base64.StdEncoding.DecodeString(key)
		if err != nil || len(b) != 32 {
			r.fail("SECRET_KEY", "must be 32 random bytes, base64 (openssl rand -base64 32)")
		}
		c.SecretKey = b
	}
	for _, k := range strings.Split(r.secret("SECRET_KEY_PREVIOUS"), ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != 32 {
			r.fail("SECRET_KEY_PREVIOUS", "must be comma-separated base64 keys of 32 bytes")
			break
		}
		c.SecretKeysPrevious = append(c.SecretKeysPrevious, b)
	}
	for _, b := range []struct{ name, v string }{{"TELEGRAM_API_BASE", c.Notify.TelegramAPIBase}, {"WHATSAPP_API_BASE", c.Notify.WhatsAppAPIBase}} {
		if u, err := url.Parse(b.v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			r.fail(b.name, "must be an http(s):// URL")
		}
	}
	if c.Notify.SMTPURL != "" {
		if u, err := url.Parse(c.Notify.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Host == "" {
			r.fail("SMTP_URL", "must be smtp://[user:pass@]host[:port] or smtps://…")
		}
	}
	if c.Notify.Timeout <= 0 {
		r.fail("NOTIFY_TIMEOUT", "must be a positive duration")
	}
	// A delivery job may run NOTIFY_TIMEOUT plus 10 s to record its attempt;
	// rescuing it sooner would send twice.
	if c.Queue.RescueAfter <= c.Notify.Timeout+10*time.Second {
		r.fail("QUEUE_RESCUE_AFTER", "must be longer than NOTIFY_TIMEOUT + 10s, or deliveries still running get rescued")
	}
	for _, b := range []struct {
		name string
		v    time.Duration
	}{{"CHANNEL_BREAKER_PROBE", c.Notify.Breaker.Probe}, {"CHANNEL_BREAKER_PROBE_MAX", c.Notify.Breaker.ProbeMax}} {
		if b.v < 100*time.Millisecond || b.v > 24*time.Hour {
			r.fail(b.name, "must be between 100ms and 24h")
		}
	}
	if c.Notify.Breaker.ProbeMax < c.Notify.Breaker.Probe {
		r.fail("CHANNEL_BREAKER_PROBE_MAX", "must not be shorter than CHANNEL_BREAKER_PROBE")
	}
	if c.Rules.DigestMinWindow < time.Second || c.Rules.DigestMinWindow > time.Minute {
		r.fail("DIGEST_MIN_WINDOW", "must be between 1s and 1m (lower it only in tests)")
	}
	if c.AdminToken != "" && len(c.AdminToken) < 24 {
		r.fail("ADMIN_TOKEN", "must be at least 24 characters (openssl rand -base64 32)")
	}
	for _, d := range []struct{ name, v string }{{"DATABASE_URL", c.DatabaseURL}, {"DATABASE_READ_URL", c.DatabaseReadURL}} {
		if d.v == "" {
			continue
		}
		// Only the scheme here: libpq's multi-host form (h1:5432,[::1]:5433)
		// is no RFC 3986 URL; pg.ConnString parses it when the pool opens.
		if !strings.HasPrefix(d.v, "postgres://") && !strings.HasPrefix(d.v, "postgresql://") {
			r.fail(d.name, "must be a postgres:// URL")
		}
	}
	// River reads a zero duration as "use my default"; refuse them instead of
	// silently running with other values than configured.
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"QUEUE_FETCH_COOLDOWN", c.Queue.FetchCooldown}, {"QUEUE_FETCH_POLL_INTERVAL", c.Queue.FetchPollInterval},
		{"QUEUE_JOB_TIMEOUT", c.Queue.JobTimeout}, {"QUEUE_RESCUE_AFTER", c.Queue.RescueAfter},
		{"REQUEST_TIMEOUT", c.HTTP.RequestTimeout},
	} {
		if d.v <= 0 {
			r.fail(d.name, "must be a positive duration")
		}
	}
	if c.Queue.FetchPollInterval < c.Queue.FetchCooldown {
		r.fail("QUEUE_FETCH_POLL_INTERVAL", "must not be shorter than QUEUE_FETCH_COOLDOWN")
	}
	if c.Queue.RescueAfter <= c.Queue.JobTimeout {
		r.fail("QUEUE_RESCUE_AFTER", "must be longer than QUEUE_JOB_TIMEOUT, or live jobs get rescued")
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		r.fail("LOG_FORMAT", "must be json or text")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		r.fail("LOG_LEVEL", "must be debug, info, warn or error")
	}
	return c, r.err
}

// RequireDatabase fails when DATABASE_URL is unset.
func (c Config) RequireDatabase() error {
	if c.DatabaseURL == "" {
		return errors.New("config: DATABASE_URL is required (postgres://user@host:5432/db?sslmode=disable)")
	}
	return nil
}

// RequireSecrets is checked by serve and work outside dev mode: they refuse
// to start without real secrets.
func (c Config) RequireSecrets() error {
	if len(c.JWTSecret) < 32 {
		return errors.New("config: JWT_SECRET is required and must be at least 32 bytes (openssl rand -base64 48)")
	}
	if len(c.SecretKey) != 32 {
		return errors.New("config: SECRET_KEY is required: 32 random bytes, base64 (openssl rand -base64 32)")
	}
	return nil
}

// Redacted is the configuration as it may be logged: secrets and the database
// password replaced.
func (c Config) Redacted() map[string]any {
	set := func(s string) string {
		if s == "" {
			return "(unset)"
		}
		return "(set)"
	}
	return map[string]any{
		"database_url": redactURL(c.DatabaseURL), "database_read_url": redactURL(c.DatabaseReadURL), "db_max_conns": c.DB.MaxConns,
		"http_addr": c.HTTP.Addr, "request_timeout": c.HTTP.RequestTimeout.String(),
		"queue_event_workers": c.Queue.EventWorkers, "queue_committers": c.Queue.Committers, "queue_group_max": c.Queue.GroupMax,
		"queue_fetch_cooldown": c.Queue.FetchCooldown.String(), "queue_fair_window": c.Queue.FairWindow.String(),
		"queue_rescue_after": c.Queue.RescueAfter.String(), "queue_discarded_retention": c.Queue.DiscardedRetention.String(),
		"ingest_committers": c.Ingest.Committers, "ingest_group_max": c.Ingest.MaxBatch,
		"ingest_rate_limit": c.RateLimit.IngestRate, "ingest_rate_burst": c.RateLimit.IngestBurst,
		"smtp_url": redactURL(c.Notify.SMTPURL), "webhook_allow_private": c.Notify.WebhookAllowPrivate,
		"notify_retry_schedule": fmt.Sprint(c.Notify.RetrySchedule), "notify_workers": c.Notify.Workers,
		"notify_channel_concurrency": c.Notify.ChannelConcurrency, "channel_breaker_failures": c.Notify.Breaker.Failures,
		"channel_breaker_probe": c.Notify.Breaker.Probe.String(), "channel_breaker_probe_max": c.Notify.Breaker.ProbeMax.String(),
		"digest_min_window": c.Rules.DigestMinWindow.String(),
		"log_level":         c.Log.Level, "log_format": c.Log.Format, "metrics_addr": c.MetricsAddr,
		"adaptive_gomaxprocs": c.AdaptiveProcs,
		"jwt_secret":          set(c.JWTSecret), "secret_key": set(string(c.SecretKey)), "admin_token": set(c.AdminToken),
	}
}

// redactURL replaces the password of scheme://user:password@host…, found
// the way libpq finds it (the first '@' before any '/'), so a URL net/url
// refuses (libpq's multi-host form) is redacted too.
func redactURL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	at := strings.IndexAny(rest, "@/")
	if at < 0 || rest[at] != '@' {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return scheme + "://" + user + ":redacted" + rest[at:]
}

// reader collects the first error; later reads still run so defaults fill in.
type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) fail(name, msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("config: %s %s", name, msg)
	}
}

func (r *reader) str(name, def string) string {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		return v
	}
	return def
}

// secret reads NAME, or the file named by NAME_FILE.
func (r *reader) secret(name string) string {
	if v := r.getenv(name); v != "" {
		return strings.TrimSpace(v)
	}
	path := r.getenv(name + "_FILE")
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r.fail(name+"_FILE", fmt.Sprintf("cannot be read: %v", err))
		return ""
	}
	return strings.TrimSpace(string(b))
}

func (r *reader) int(name string, def, lo, hi int) int {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		r.fail(name, fmt.Sprintf("must be an integer from %d to %d, got %q", lo, hi, v))
		return def
	}
	return n
}

func (r *reader) bool(name string, def bool) bool {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("must be true or false, got %q", v))
		return def
	}
	return b
}

// durs reads a comma-separated list of positive durations.
func (r *reader) durs(name, def string) []time.Duration {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		v = def
	}
	var out []time.Duration
	for _, part := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			r.fail(name, fmt.Sprintf("must be comma-separated positive durations like 5s,5m,30m, got %q", v))
			return nil
		}
		out = append(out, d)
	}
	if len(out) > 50 {
		r.fail(name, "may list at most 50 retries")
	}
	return out
}

func (r *reader) float(name string, def float64) float64 {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		r.fail(name, fmt.Sprintf("must be a non-negative number, got %q", v))
		return def
	}
	return f
}

func (r *reader) dur(name string, def time.Duration) time.Duration {
	v := r.getenv(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil || d < 0 {
		r.fail(name, fmt.Sprintf("must be a duration like 500ms or 30s, got %q", v))
		return def
	}
	return d
}
