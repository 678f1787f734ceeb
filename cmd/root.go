// Package cmd is the composition root: the only package that imports every
// module. Each cobra command lives in its own file.
package cmd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/signalops/signalops/cmd/bench"
	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/platform/logx"
	"github.com/signalops/signalops/platform/tracing"
)

// app is what every command shares: configuration, logger, output streams.
type app struct {
	cfg    config.Config
	logger *slog.Logger
	stdout io.Writer
	stderr io.Writer
	// stopTracing flushes the spans still buffered (tracing.Setup); nil
	// until set up.
	stopTracing func(context.Context) error
}

// Execute runs the CLI and returns the process exit code.
func Execute(ctx context.Context) int {
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	root := newRootCmd(a)
	err := root.ExecuteContext(ctx)
	if a.stopTracing != nil {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if ferr := a.stopTracing(flushCtx); ferr != nil {
			a.logger.WarnContext(flushCtx, "flushing traces", slog.Any("error", ferr))
		}
		cancel()
	}
	if err != nil {
		fmt.Fprintln(a.stderr, "signalops:", err)
		return 1
	}
	return 0
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:           "signalops",
		Short:         "SignalOps: events in, rules evaluated, notifications out",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := loadDotEnv(".env"); err != nil {
				return err
			}
			cfg, err := config.Load(os.Getenv)
			if err != nil {
				return err
			}
			logger, err := logx.New(a.stderr, cfg.Log.Format, cfg.Log.Level)
			if err != nil {
				return err
			}
			a.cfg, a.logger = cfg, logger
			// Before anything is built: instrumentation takes its tracer
			// provider when it is made.
			a.stopTracing, err = tracing.Setup(cmd.Context(), os.Getenv, logger)
			return err
		},
	}
	root.AddCommand(newServeCmd(a), newWorkCmd(a), newMigrateCmd(a), newSeedCmd(a), newDevCmd(a), newDLQCmd(a), bench.NewCommand(), newMailsinkCmd(a))
	return root
}

// loadDotEnv sets variables from a .env file that the environment does not
// already set. A missing file is fine.
func loadDotEnv(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		if _, set := os.LookupEnv(k); !set {
			_ = os.Setenv(k, v)
		}
	}
	return sc.Err()
}
