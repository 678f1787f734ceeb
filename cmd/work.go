package cmd

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/spf13/cobra"

	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/metrics"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/queue"
)

func newWorkCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "work",
		Short: "Run the River workers (event processing, delivery, maintenance)",
		Args:  cobra.NoArgs,
		RunE:  a.runSystem(runWork),
	}
}

// runWork works jobs until ctx is canceled, then stops fetching and gives
// in-flight jobs QUEUE_SHUTDOWN_TIMEOUT to finish before canceling them
// (a canceled job is retried later; nothing is lost).
func runWork(ctx context.Context, sys *system) error {
	listener, err := openListener(ctx, sys.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer listener.Close()

	workers, runGroups := sys.workers()
	client, err := queue.NewWorking(sys.db.DB, listener, workers, queueConfig(sys.cfg), sys.logger.With("module", "river"))
	if err != nil {
		return err
	}
	// The group committers outlive the client: in-flight jobs need them
	// until client.Stop has returned (deferred calls run after it).
	groups := background.Start(ctx, "worker-groups", runGroups)
	defer groups.Stop()
	sys.registerWorkGauges()
	stopMetrics, err := serveWorkMetrics(ctx, sys)
	if err != nil {
		return err
	}
	defer stopMetrics()
	// Closing the subscription (here, or River when the client stops) ends ObserveJobs.
	// Room for a few seconds of completions at full speed (10,000 jobs/s
	// drained a 1,000-event buffer faster than the observer got a core, and
	// River dropped events, logging each: hundreds of lines per drain).
	jobEvents, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{Kinds: metrics.JobEventKinds, ChanSize: 50_000})
	defer unsubscribe()
	go sys.metrics.ObserveJobs(jobEvents)
	// Start with a context that outlives ctx: canceling Start's context is
	// River's hard stop, and a signal must begin the soft one.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start river: %w", err)
	}
	sys.logger.InfoContext(ctx, "worker started", slog.Any("queues", queueConfig(sys.cfg).Queues))
	<-ctx.Done()

	grace := sys.cfg.Queue.ShutdownTimeout
	sys.logger.InfoContext(ctx, "worker stopping; letting in-flight jobs finish", slog.Duration("grace", grace))
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		sys.logger.WarnContext(ctx, "jobs still running after grace period; canceling them", slog.Any("error", err))
		hardCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		if err := client.StopAndCancel(hardCtx); err != nil {
			return fmt.Errorf("stop river: %w", err)
		}
	}
	sys.logger.InfoContext(ctx, "worker stopped")
	return nil
}

// listenerAppName is the application_name of work's LISTEN connection, so
// operators (and the failover test) can find it in pg_stat_activity.
const listenerAppName = "signalops-work-listener"

// openListener opens the small pgx pool River LISTENs on. It reads the same
// connection string as the lib/pq pool (pg.ConnString), so with several hosts
// and target_session_attrs=read-write it too connects only to the primary,
// and after a failover River's reconnects land on the promoted one.
func openListener(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	conn, err := pg.ConnString(databaseURL)
	if err != nil {
		return nil, err
	}
	lcfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL for the listener: %w", err)
	}
	lcfg.MinConns, lcfg.MaxConns = 0, 2
	lcfg.ConnConfig.RuntimeParams["application_name"] = listenerAppName
	pool, err := pgxpool.NewWithConfig(ctx, lcfg)
	if err != nil {
		return nil, fmt.Errorf("open listener pool: %w", err)
	}
	return pool, nil
}
