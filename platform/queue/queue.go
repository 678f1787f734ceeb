// Package queue builds the River clients of a process. Every process holds an
// insert-only client (no queues, no workers) that Services use to enqueue in
// their own transactions; `work` builds a second, working client once every
// module has registered its workers.
//
// Both run on riverdatabasesql over the same lib/pq pool the repositories
// use, so river's InsertTx joins an sqlx transaction; their bulk insert in
// a transaction (InsertManyFastTx) and its notification run as prepared
// statements (driver.go).
// The working client adds a small pgx pool used only for LISTEN, so jobs
// are picked up within milliseconds instead of on the next poll.
//
// Both install tracing.RiverMiddleware: a job carries the trace context it
// was inserted in (in its metadata), and its work continues that trace.
package queue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"

	"github.com/signalops/signalops/platform/tracing"
)

// Client is the River client type every module uses.
type Client = river.Client[*sql.Tx]

// Config tunes River.
type Config struct {
	Queues             map[string]int // queue name → max concurrent jobs in this process
	FetchCooldown      time.Duration
	FetchPollInterval  time.Duration
	JobTimeout         time.Duration
	RescueAfter        time.Duration
	DiscardedRetention time.Duration // 0 keeps discarded jobs (the DLQ) forever
	// PeriodicJobs are enqueued by the working client that is River's
	// leader (one across all processes), each with its own schedule.
	PeriodicJobs []*river.PeriodicJob
	// Middleware runs around inserts and work in this process's clients
	// (Fair orders tenants' jobs).
	Middleware []rivertype.Middleware
}

// NewInsertOnly returns a client that can only insert jobs. FetchCooldown
// also throttles the insert notifications it sends, so it is set here too.
func NewInsertOnly(db *sql.DB, cfg Config, logger *slog.Logger) (*Client, error) {
	return newClient("insert-only", newDriver(riverdatabasesql.New(db), db), &river.Config{FetchCooldown: cfg.FetchCooldown}, cfg, logger)
}

// NewWorking returns a client that works the given queues with workers.
// listener may be nil (poll-only, for tests).
func NewWorking(db *sql.DB, listener *pgxpool.Pool, workers *river.Workers, cfg Config, logger *slog.Logger) (*Client, error) {
	inner := riverdatabasesql.New(db)
	if listener != nil {
		inner = riverdatabasesql.NewWithPgxListener(db, listener)
	}
	queues := make(map[string]river.QueueConfig, len(cfg.Queues))
	for name, n := range cfg.Queues {
		queues[name] = river.QueueConfig{MaxWorkers: n}
	}
	retention := cfg.DiscardedRetention
	if retention == 0 {
		retention = -1 // River: never delete
	}
	return newClient("working", newDriver(inner, db), &river.Config{
		Queues:                      queues,
		Workers:                     workers,
		FetchCooldown:               cfg.FetchCooldown,
		FetchPollInterval:           cfg.FetchPollInterval,
		JobTimeout:                  cfg.JobTimeout,
		RescueStuckJobsAfter:        cfg.RescueAfter,
		DiscardedJobRetentionPeriod: retention,
		CancelledJobRetentionPeriod: retention, // cancelled = permanent failures: also in the DLQ
		PeriodicJobs:                cfg.PeriodicJobs,
	}, cfg, logger)
}

// newClient completes rc with what every client of this process carries
// (the logger; tracing, then cfg's middleware) and builds the client.
func newClient(what string, driver riverdriver.Driver[*sql.Tx], rc *river.Config, cfg Config, logger *slog.Logger) (*Client, error) {
	rc.Logger = logger
	rc.Middleware = append(tracing.RiverMiddleware(), cfg.Middleware...)
	c, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("create %s river client: %w", what, err)
	}
	return c, nil
}

// Head reads the scheduled_at of the job River fetches next from a queue
// (the first row of River's fetch index): queue.Fair's system virtual time.
func Head(db *sql.DB) HeadFunc {
	return func(ctx context.Context, queue string) (time.Time, bool, error) {
		var at time.Time
		err := db.QueryRowContext(ctx, `
			SELECT scheduled_at FROM river_job
			WHERE state = 'available' AND queue = $1
			ORDER BY priority, scheduled_at, id LIMIT 1`, queue).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return time.Time{}, false, nil
		}
		return at, err == nil, err
	}
}
