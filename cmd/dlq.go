package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/spf13/cobra"

	"github.com/signalops/signalops/platform/queue"
)

// newDLQCmd is the dead-letter queue from the shell, across tenants.
func newDLQCmd(a *app) *cobra.Command {
	var (
		tenant string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List, retry or delete dead jobs (discarded or cancelled) across tenants",
		Long: `The dead-letter queue: River jobs in the state discarded (their last attempt
failed) or cancelled (a permanent failure), across tenants.

  list       shows them, newest first
  retry ID   makes one available again (one more attempt)
  retry --all [filters]
             makes every matching one available again (see retry --help)
  delete ID  deletes the job row for good (alias: discard); a delivery keeps
             its failed status and attempts, and POST /api/deliveries/{id}/retry
             can still send it again`,
	}
	cmd.PersistentFlags().StringVar(&tenant, "tenant", "", "only this tenant's jobs (UUID)")
	cmd.PersistentFlags().BoolVar(&asJSON, "json", false, "print JSON")

	withDLQ := func(ctx context.Context, fn func(ctx context.Context, d *queue.DLQ, t *uuid.UUID) error) error {
		var t *uuid.UUID
		if tenant != "" {
			id, err := uuid.Parse(tenant)
			if err != nil {
				return fmt.Errorf("--tenant must be a UUID, got %q", tenant)
			}
			t = &id
		}
		return a.withDB(ctx, func(ctx context.Context, p *sqlx.DB) error {
			c, err := queue.NewInsertOnly(p.DB, queueConfig(a.cfg), a.logger)
			if err != nil {
				return err
			}
			return fn(ctx, queue.NewDLQ(c, p.DB), t)
		})
	}
	var kind string
	var limit int
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead jobs, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withDLQ(cmd.Context(), func(ctx context.Context, d *queue.DLQ, t *uuid.UUID) error {
				jobs, next, err := d.List(ctx, queue.ListFilter{Tenant: t, Kind: kind, Limit: limit})
				if err != nil {
					return describe(err)
				}
				if asJSON {
					return json.NewEncoder(a.stdout).Encode(map[string]any{"data": jobs, "nextCursor": next})
				}
				w := tabwriter.NewWriter(a.stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tKIND\tSTATE\tTENANT\tATTEMPTS\tFINALIZED\tLAST ERROR")
				for _, j := range jobs {
					last, tid, fin := "", "", ""
					if len(j.Errors) > 0 {
						last = j.Errors[len(j.Errors)-1].Error
						if len(last) > 60 {
							last = last[:60] + "…"
						}
					}
					if j.TenantID != nil {
						tid = j.TenantID.String()
					}
					if j.FinalizedAt != nil {
						fin = j.FinalizedAt.Format("2006-01-02T15:04:05Z")
					}
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d/%d\t%s\t%s\n", j.ID, j.Kind, j.State, tid, j.Attempt, j.MaxAttempts, fin, last)
				}
				return w.Flush()
			})
		},
	}
	list.Flags().StringVar(&kind, "kind", "", "only jobs of this kind (event.process, notify.deliver)")
	list.Flags().IntVar(&limit, "limit", 50, "at most this many jobs")

	act := func(use, short string, fn func(ctx context.Context, d *queue.DLQ, t *uuid.UUID, id int64, calledAs string) (any, error), done string) *cobra.Command {
		return &cobra.Command{
			Use:   use + " ID",
			Short: short,
			Args:  cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := strconv.ParseInt(args[0], 10, 64)
				if err != nil || id <= 0 {
					return fmt.Errorf("ID must be a job id (a positive integer), got %q", args[0])
				}
				return withDLQ(cmd.Context(), func(ctx context.Context, d *queue.DLQ, t *uuid.UUID) error {
					out, err := fn(ctx, d, t, id, cmd.CalledAs())
					if err != nil {
						return describe(err)
					}
					if asJSON {
						return json.NewEncoder(a.stdout).Encode(out)
					}
					fmt.Fprintf(a.stdout, "job %d: %s\n", id, done)
					return nil
				})
			},
		}
	}
	retry := act("retry", "Make a dead job available again (one more attempt); --all: every matching one", func(ctx context.Context, d *queue.DLQ, t *uuid.UUID, id int64, _ string) (any, error) {
		return d.Retry(ctx, t, id)
	}, "available again")
	retryOne := retry.RunE
	var (
		all          bool
		channel      string
		since, until string
	)
	retry.Use = "retry ID | retry --all [--tenant T] [--channel C] [--kind K] [--since T] [--until T]"
	retry.Long = `Make dead jobs available again; River adds one attempt to each.

  retry ID     one job
  retry --all  every dead job matching the filters (all of them without any):
               --tenant, --channel (notify.deliver jobs of that channel),
               --kind, and --since/--until (RFC 3339) on when the job died.

--all is idempotent: each matching job is retried once, however many runs
overlap; running it again retries none of those jobs again (they are no
longer dead) and prints {"retried": 0} with --json.`
	retry.Args = func(cmd *cobra.Command, args []string) error {
		if all {
			return cobra.NoArgs(cmd, args)
		}
		if channel != "" || since != "" || until != "" || kind != "" {
			return fmt.Errorf("--channel, --kind, --since and --until go with --all")
		}
		return cobra.ExactArgs(1)(cmd, args)
	}
	retry.RunE = func(cmd *cobra.Command, args []string) error {
		if !all {
			return retryOne(cmd, args)
		}
		f := queue.RetryFilter{Kind: kind}
		if channel != "" {
			id, err := uuid.Parse(channel)
			if err != nil {
				return fmt.Errorf("--channel must be a UUID, got %q", channel)
			}
			f.Args = map[string]string{"channel_id": id.String()}
		}
		for _, t := range []struct {
			flag, v string
			dst     **time.Time
		}{{"--since", since, &f.Since}, {"--until", until, &f.Until}} {
			if t.v == "" {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, t.v)
			if err != nil {
				return fmt.Errorf("%s must be an RFC 3339 time (2026-01-02T15:04:05Z), got %q", t.flag, t.v)
			}
			*t.dst = &at
		}
		return withDLQ(cmd.Context(), func(ctx context.Context, d *queue.DLQ, t *uuid.UUID) error {
			f.Tenant = t
			n, err := d.RetryAll(ctx, f)
			if err != nil {
				return describe(err)
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(map[string]int{"retried": n})
			}
			fmt.Fprintf(a.stdout, "%d dead jobs available again\n", n)
			return nil
		})
	}
	retry.Flags().BoolVar(&all, "all", false, "retry every dead job matching the filters")
	retry.Flags().StringVar(&channel, "channel", "", "with --all: only notify.deliver jobs of this channel (UUID)")
	retry.Flags().StringVar(&kind, "kind", "", "with --all: only jobs of this kind")
	retry.Flags().StringVar(&since, "since", "", "with --all: only jobs that died at or after this time (RFC 3339)")
	retry.Flags().StringVar(&until, "until", "", "with --all: only jobs that died before this time (RFC 3339)")
	// "delete" was called "discard", which read like River's discarded
	// state; the old name stays as an alias and keeps its JSON key.
	del := act("delete", "Delete a dead job for good (alias: discard)", func(ctx context.Context, d *queue.DLQ, t *uuid.UUID, id int64, calledAs string) (any, error) {
		key := "deleted"
		if calledAs == "discard" {
			key = "discarded"
		}
		return map[string]any{"id": id, key: true}, d.Discard(ctx, t, id)
	}, "deleted")
	del.Aliases = []string{"discard"}
	cmd.AddCommand(list, retry, del)
	return cmd
}
