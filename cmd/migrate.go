package cmd

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/signalops/signalops/db"
	"github.com/signalops/signalops/platform/pg"
)

func newMigrateCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or roll back the database schema (app and River)",
	}
	up := &cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration (idempotent; concurrent runs serialise)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withDB(cmd.Context(), func(ctx context.Context, p *pgPool) error {
				if err := db.Up(ctx, p.DB, a.logger); err != nil {
					return err
				}
				return a.printVersion(ctx, p, "migrated:")
			})
		},
	}
	var all bool
	down := &cobra.Command{
		Use:   "down [N]",
		Short: "Roll back the last N app migrations (default 1); --all also removes River's schema",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			steps := 1
			if len(args) == 1 {
				n, err := strconv.Atoi(args[0])
				if err != nil || n < 1 {
					return fmt.Errorf("N must be a positive integer, got %q", args[0]) //nolint:staticcheck // ST1005: N is the argument's name in the usage line
				}
				steps = n
			}
			if all && len(args) == 1 {
				return fmt.Errorf("give either N or --all, not both")
			}
			return a.withDB(cmd.Context(), func(ctx context.Context, p *pgPool) error {
				if err := db.Down(ctx, p.DB, a.logger, steps, all); err != nil {
					return err
				}
				return a.printVersion(ctx, p, "rolled back:")
			})
		},
	}
	down.Flags().BoolVar(&all, "all", false, "roll back every migration, River's included")
	version := &cobra.Command{
		Use:   "version",
		Short: "Print the applied and the latest schema versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withDB(cmd.Context(), func(ctx context.Context, p *pgPool) error {
				return a.printVersion(ctx, p)
			})
		},
	}
	cmd.AddCommand(up, down, version)
	return cmd
}

// printVersion prints the applied and the latest schema versions after
// what (a word such as "migrated:", or nothing).
func (a *app) printVersion(ctx context.Context, p *pgPool, what ...any) error {
	st, err := db.Version(ctx, p.DB, a.logger)
	if err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, append(what, st)...)
	return nil
}

type pgPool = sqlx.DB

// withDB opens a small pool for a one-shot command.
func (a *app) withDB(ctx context.Context, fn func(ctx context.Context, p *pgPool) error) error {
	if err := a.cfg.RequireDatabase(); err != nil {
		return err
	}
	p, err := pg.Open(ctx, a.cfg.DatabaseURL, pg.PoolConfig{MaxOpenConns: 4, MaxIdleConns: 2})
	if err != nil {
		return err
	}
	defer p.Close()
	return fn(ctx, p)
}
