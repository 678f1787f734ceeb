package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/procs"
)

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API (default :3000)",
		Args:  cobra.NoArgs,
		RunE: a.runSystem(func(ctx context.Context, sys *system) error {
			if err := sys.openReplica(); err != nil {
				return err
			}
			return runServe(ctx, sys)
		}),
	}
}

func (a *app) requireRuntime() error {
	if err := a.cfg.RequireDatabase(); err != nil {
		return err
	}
	return a.cfg.RequireSecrets()
}

// runSystem is the RunE of serve and work: it checks the settings they
// need, wires the system, sizes GOMAXPROCS to the process's CPU use
// (ADAPTIVE_GOMAXPROCS), runs it with run until the command's context
// ends, and closes it.
func (a *app) runSystem(run func(ctx context.Context, sys *system) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		if err := a.requireRuntime(); err != nil {
			return err
		}
		ctx := cmd.Context()
		sys, err := newSystem(ctx, a.cfg, a.logger)
		if err != nil {
			return err
		}
		defer sys.close()
		if a.cfg.AdaptiveProcs {
			adapt := background.Start(ctx, "adaptive-gomaxprocs", func(ctx context.Context) {
				procs.Adapt(ctx, procs.Options{}, a.logger)
			})
			defer adapt.Stop()
		}
		return run(ctx, sys)
	}
}

// runServe serves until ctx is canceled, then drains in-flight requests for
// up to SHUTDOWN_TIMEOUT.
func runServe(ctx context.Context, sys *system) error {
	sys.registerGauges()
	if sys.riverUI != nil {
		uiCaches := background.Start(ctx, "river-ui-caches", sys.riverUI.use.Run)
		defer uiCaches.Stop()
	}
	srv := httpx.Server(sys.cfg.HTTP.Addr, sys.router())
	if sys.pprof != nil {
		srv.RegisterOnShutdown(sys.pprof.Stop) // a running profile must not hold up the drain
	}
	ln, err := net.Listen("tcp", sys.cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", sys.cfg.HTTP.Addr, err)
	}
	sys.logger.InfoContext(ctx, "http server listening", slog.String("addr", ln.Addr().String()))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	flusher := background.Start(ctx, "api-key-last-used", sys.auth.Service.RunLastUsedFlusher)
	defer flusher.Stop()
	// Group commit runs until the HTTP server has drained, so in-flight
	// requests are committed by it; later stragglers take the direct path.
	committers := background.Start(ctx, "ingest-committers", func(ctx context.Context) {
		sys.events.Service.RunCommitters(ctx, pg.GroupOptions{
			Committers: sys.cfg.Ingest.Committers, MaxBatch: sys.cfg.Ingest.MaxBatch})
	})
	defer committers.Stop()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	sys.logger.InfoContext(ctx, "http server shutting down", slog.Duration("grace", sys.cfg.HTTP.ShutdownTimeout))
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sys.cfg.HTTP.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("http server shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http server: %w", err)
	}
	sys.logger.InfoContext(ctx, "http server stopped")
	return nil
}
