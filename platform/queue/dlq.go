package queue

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/httpx"
)

// DLQ is the dead-letter queue: jobs River gave up on — discarded after
// their last attempt, or cancelled as permanent failures. Every SignalOps
// job carries its tenant in args.tenant_id, which scopes what a tenant sees;
// jobs about one channel (notify.deliver) carry it in args.channel_id.
type DLQ struct {
	client *Client
	db     *sql.DB // the client's database, for RetryAll's transactions
}

// NewDLQ returns the DLQ over a River client (insert-only is enough) and
// the database it works on.
func NewDLQ(c *Client, db *sql.DB) *DLQ { return &DLQ{client: c, db: db} }

// DeadStates are the job states the DLQ shows.
var DeadStates = []rivertype.JobState{rivertype.JobStateDiscarded, rivertype.JobStateCancelled}

// DeadJob is one job in the DLQ.
type DeadJob struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	Queue       string          `json:"queue"`
	State       string          `json:"state"`
	TenantID    *uuid.UUID      `json:"tenantId"`
	Args        json.RawMessage `json:"args"` // ids only: SignalOps job args hold no secrets
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"maxAttempts"`
	Errors      []DeadError     `json:"errors"`
	CreatedAt   time.Time       `json:"createdAt"`
	FinalizedAt *time.Time      `json:"finalizedAt"`
}

// DeadError is one attempt's error.
type DeadError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

func toDead(j *rivertype.JobRow) DeadJob {
	d := DeadJob{ID: j.ID, Kind: j.Kind, Queue: j.Queue, State: string(j.State), Args: j.EncodedArgs,
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, CreatedAt: j.CreatedAt.UTC(), FinalizedAt: httpx.UTC(j.FinalizedAt),
		Errors: []DeadError{}}
	var a struct {
		TenantID *uuid.UUID `json:"tenant_id"`
	}
	if json.Unmarshal(j.EncodedArgs, &a) == nil {
		d.TenantID = a.TenantID
	}
	for _, e := range j.Errors {
		msg := e.Error
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		d.Errors = append(d.Errors, DeadError{Attempt: e.Attempt, At: e.At.UTC(), Error: msg})
	}
	return d
}

// ListFilter narrows a DLQ listing with the fields RetryFilter has, so a
// page of entries and "retry all matching" select the same jobs; a nil
// Tenant lists every tenant (operators).
type ListFilter struct {
	Tenant *uuid.UUID
	Kind   string
	// Args narrows by top-level job args, compared as text.
	Args map[string]string
	// Since and Until bound when the job died (its finalized_at), [Since, Until).
	Since, Until *time.Time
	Cursor       string
	Limit        int
}

var errJobNotFound = apperr.NotFound("job_not_found", "No such job in the dead-letter queue.")

// List returns one page of dead jobs, newest first, and the next cursor.
func (d *DLQ) List(ctx context.Context, f ListFilter) ([]DeadJob, *string, error) {
	p := river.NewJobListParams().States(DeadStates...).First(f.Limit).
		OrderBy(river.JobListOrderByID, river.SortOrderDesc)
	if f.Tenant != nil {
		p = p.Where("args->>'tenant_id' = @tenant", river.NamedArgs{"tenant": f.Tenant.String()})
	}
	if f.Kind != "" {
		p = p.Kinds(f.Kind)
	}
	if len(f.Args) > 0 {
		b, err := json.Marshal(f.Args)
		if err != nil {
			return nil, nil, fmt.Errorf("encode args filter: %w", err)
		}
		p = p.Where("args @> @args_filter::jsonb", river.NamedArgs{"args_filter": string(b)})
	}
	if f.Since != nil {
		p = p.Where("finalized_at >= @died_since", river.NamedArgs{"died_since": *f.Since})
	}
	if f.Until != nil {
		p = p.Where("finalized_at < @died_until", river.NamedArgs{"died_until": *f.Until})
	}
	if f.Cursor != "" {
		var c river.JobListCursor
		if err := c.UnmarshalText([]byte(f.Cursor)); err != nil {
			return nil, nil, apperr.BadRequest("invalid_query", "The query parameters are invalid.",
				apperr.FieldError{Field: "cursor", Message: "is not a cursor this API returned"})
		}
		p = p.After(&c)
	}
	res, err := d.client.JobList(ctx, p)
	if err != nil {
		return nil, nil, fmt.Errorf("list dead jobs: %w", err)
	}
	out := make([]DeadJob, 0, len(res.Jobs))
	for _, j := range res.Jobs {
		out = append(out, toDead(j))
	}
	var next *string
	if len(res.Jobs) == f.Limit && res.LastCursor != nil {
		b, err := res.LastCursor.MarshalText()
		if err != nil {
			return nil, nil, err
		}
		s := string(b)
		next = &s
	}
	return out, next, nil
}

// get returns a dead job visible to tenant (nil: any tenant).
func (d *DLQ) get(ctx context.Context, tenant *uuid.UUID, id int64) (*rivertype.JobRow, error) {
	j, err := d.client.JobGet(ctx, id)
	if errors.Is(err, river.ErrNotFound) {
		return nil, errJobNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get job: %w", err)
	}
	dead := j.State == rivertype.JobStateDiscarded || j.State == rivertype.JobStateCancelled
	if !dead || (tenant != nil && (toDead(j).TenantID == nil || *toDead(j).TenantID != *tenant)) {
		return nil, errJobNotFound // another tenant's job is not found, never forbidden
	}
	return j, nil
}

// Retry makes a dead job available again (River adds one attempt).
func (d *DLQ) Retry(ctx context.Context, tenant *uuid.UUID, id int64) (DeadJob, error) {
	if _, err := d.get(ctx, tenant, id); err != nil {
		return DeadJob{}, err
	}
	j, err := d.client.JobRetry(ctx, id)
	if err != nil {
		return DeadJob{}, fmt.Errorf("retry job: %w", err)
	}
	return toDead(j), nil
}

// Discard deletes a dead job for good.
func (d *DLQ) Discard(ctx context.Context, tenant *uuid.UUID, id int64) error {
	if _, err := d.get(ctx, tenant, id); err != nil {
		return err
	}
	if _, err := d.client.JobDelete(ctx, id); err != nil {
		return fmt.Errorf("delete job: %w", err)
	}
	return nil
}

// RetryFilter selects the dead jobs RetryAll retries; zero fields match
// every job.
type RetryFilter struct {
	Tenant *uuid.UUID // nil: every tenant (operators)
	Kind   string
	// Args narrows by top-level job args, compared as text: {"channel_id":
	// "…"} selects the jobs about one channel.
	Args map[string]string
	// Since and Until bound when the job died (its finalized_at), [Since, Until).
	Since, Until *time.Time
}

// retryBatch is how many dead jobs one transaction of RetryAll retries.
const retryBatch = 500

// RetryAll makes every dead job that matches f available again (River adds
// one attempt to each) and returns how many. It works in batches, oldest
// job first; each batch locks its jobs and re-checks that they are still
// dead, in the transaction that retries them. So it is idempotent: a job
// is retried once however many calls overlap, and a second call retries
// none of what the first did (those jobs are no longer dead; a job that
// fails again and dies again is a new entry).
func (d *DLQ) RetryAll(ctx context.Context, f RetryFilter) (int, error) {
	var tenant, kind, argsJSON *string
	if f.Tenant != nil {
		t := f.Tenant.String()
		tenant = &t
	}
	if f.Kind != "" {
		kind = &f.Kind
	}
	if len(f.Args) > 0 {
		b, err := json.Marshal(f.Args)
		if err != nil {
			return 0, fmt.Errorf("encode args filter: %w", err)
		}
		s := string(b)
		argsJSON = &s
	}
	// River's table, read the way its own queries do; the row locks make
	// concurrent calls retry disjoint jobs.
	const query = `
		SELECT id FROM river_job
		WHERE state IN ('discarded', 'cancelled') AND id > $1
			AND ($2::text IS NULL OR args->>'tenant_id' = $2)
			AND ($3::text IS NULL OR kind = $3)
			AND ($4::jsonb IS NULL OR args @> $4::jsonb)
			AND ($5::timestamptz IS NULL OR finalized_at >= $5)
			AND ($6::timestamptz IS NULL OR finalized_at < $6)
		ORDER BY id
		LIMIT $7
		FOR UPDATE`
	retried := 0
	var after int64
	for {
		var ids []int64
		err := func() error {
			tx, err := d.db.BeginTx(ctx, nil)
			if err != nil {
				return fmt.Errorf("begin: %w", err)
			}
			defer func() { _ = tx.Rollback() }()
			rows, err := tx.QueryContext(ctx, query, after, tenant, kind, argsJSON, f.Since, f.Until, retryBatch)
			if err != nil {
				return fmt.Errorf("select dead jobs: %w", err)
			}
			defer rows.Close() // already closed when Next ends; needed on a Scan error
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					return fmt.Errorf("select dead jobs: %w", err)
				}
				ids = append(ids, id)
			}
			if err := rows.Err(); err != nil {
				return fmt.Errorf("select dead jobs: %w", err)
			}
			for _, id := range ids {
				if _, err := d.client.JobRetryTx(ctx, tx, id); err != nil {
					return fmt.Errorf("retry job %d: %w", id, err)
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			return retried, err
		}
		retried += len(ids)
		if len(ids) == 0 {
			return retried, nil
		}
		after = ids[len(ids)-1]
	}
}
