package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/signalops/signalops/platform/apperr"
)

// DLQ is the dead-letter queue: jobs River gave up on — discarded after
// their last attempt, or cancelled as permanent failures. Every SignalOps
// job carries its tenant in args.tenant_id, which scopes what a tenant sees.
type DLQ struct {
	client *Client
}

// NewDLQ returns the DLQ over a River client (insert-only is enough).
func NewDLQ(c *Client) *DLQ { return &DLQ{client: c} }

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
		Attempt: j.Attempt, MaxAttempts: j.MaxAttempts, CreatedAt: j.CreatedAt.UTC(), Errors: []DeadError{}}
	if j.FinalizedAt != nil {
		t := j.FinalizedAt.UTC()
		d.FinalizedAt = &t
	}
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

// ListFilter narrows a DLQ listing; a nil Tenant lists every tenant (operators).
type ListFilter struct {
	Tenant *uuid.UUID
	Kind   string
	Cursor string
	Limit  int
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
