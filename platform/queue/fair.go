package queue

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// TenantJob is implemented by job args that are ordered fairly across
// tenants (Fair). Args that do not implement it keep River's order.
type TenantJob interface {
	FairTenant() uuid.UUID
}

// FairQuantum is the virtual time one job of a weight-1 tenant costs: such a
// tenant's first 100 jobs a second stay at the wall clock (within its
// share), the rest run ahead of it. It must be well above the time the
// workers take per job at saturation (~0.4 ms without a rule, a few ms with
// a webhook): a flooding tenant's jobs that its virtual time did not move
// ahead of the wall clock keep their place before a quiet tenant's, and
// with a smaller quantum those pile up faster than the workers drain them.
// Larger, it shortens how many jobs the window orders by weight
// (window × weight / quantum: 60,000 at weight 1 and the default window).
const FairQuantum = 10 * time.Millisecond

// Fair orders fresh jobs across tenants by weighted fair queuing, through
// the one order River fetches in: (priority, scheduled_at, id).
//
// Each tenant (per queue) has a virtual finish time F; a job advances it by
// FairQuantum / weight from max(F, now), so a tenant within its fair share
// stays at the wall clock and a flooding tenant runs ahead of it. The job is
// stored AVAILABLE with scheduled_at = F − window, at most now: River fetches
// jobs whose scheduled_at has passed in scheduled_at order, so a quiet
// tenant's job (F ≈ now) is fetched before the backlog of a flooding one
// (F ≫ now), and two backlogged tenants interleave by weight. Setting the
// time here rather than through InsertOpts.ScheduledAt matters: River stores
// a job with an explicit ScheduledAt as `scheduled`, waiting for the leader's
// scheduler (ADR 0008); here the state stays `available` and the insert
// notification still wakes the workers.
//
// The window bounds how far the order reaches: a tenant more than window
// ahead of the wall clock queues by arrival time (scheduled_at = now), so a
// quiet tenant's job goes ahead of any backlog younger than window. Retries
// and snoozed jobs keep River's due time and so queue by arrival behind
// the backlog older than their due time, as without Fair.
//
// The virtual times live in the process: each serve or work process orders
// the jobs it inserts. A tenant spread over n processes advances n clocks,
// each at 1/n of its rate, which weakens (never inverts) its penalty.
type Fair struct {
	river.MiddlewareDefaults

	window time.Duration
	weight func(context.Context, uuid.UUID) int
	now    func() time.Time

	mu      sync.Mutex
	finish  map[fairKey]time.Time
	inserts int
}

type fairKey struct {
	queue  string
	tenant uuid.UUID
}

// NewFair returns the middleware; weight gives a tenant's weight (< 1 is
// taken as 1; it is called outside any lock, before the insert) and may be
// nil (every tenant weighs 1). A window ≤ 0 turns fair ordering off.
func NewFair(window time.Duration, weight func(context.Context, uuid.UUID) int) *Fair {
	return &Fair{window: window, weight: weight, now: time.Now, finish: map[fairKey]time.Time{}}
}

var _ rivertype.JobInsertMiddleware = (*Fair)(nil)

// InsertMany sets the scheduled_at of every fresh tenant job in params.
func (f *Fair) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	if f.window > 0 {
		f.order(params, f.weights(ctx, params))
	}
	return doInner(ctx)
}

// weights returns the weight of every tenant with a job in params.
func (f *Fair) weights(ctx context.Context, params []*rivertype.JobInsertParams) map[uuid.UUID]int {
	ws := map[uuid.UUID]int{}
	for _, p := range params {
		if tj, ok := p.Args.(TenantJob); ok {
			t := tj.FairTenant()
			if _, seen := ws[t]; !seen {
				w := 1
				if f.weight != nil {
					w = max(f.weight(ctx, t), 1)
				}
				ws[t] = w
			}
		}
	}
	return ws
}

func (f *Fair) order(params []*rivertype.JobInsertParams, weights map[uuid.UUID]int) {
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range params {
		tj, ok := p.Args.(TenantJob)
		if !ok || p.State != rivertype.JobStateAvailable || p.ScheduledAt != nil {
			continue // River's own timing: a scheduled, pending or time-stubbed job
		}
		k := fairKey{queue: p.Queue, tenant: tj.FairTenant()}
		fin := f.finish[k]
		if fin.Before(now) {
			fin = now
		}
		fin = fin.Add(FairQuantum / time.Duration(weights[k.tenant]))
		f.finish[k] = fin
		at := fin.Add(-f.window)
		if at.After(now) {
			at = now
		}
		p.ScheduledAt = &at
	}
	f.inserts += len(params)
	if f.inserts >= 10_000 {
		f.inserts = 0
		for k, fin := range f.finish {
			if fin.Before(now) {
				delete(f.finish, k) // within its share again: max(F, now) = now
			}
		}
	}
}

// Lag is how far tenant's virtual time on queue runs ahead of the wall
// clock: zero for a tenant within its fair share.
func (f *Fair) Lag(queue string, tenant uuid.UUID) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return max(f.finish[fairKey{queue: queue, tenant: tenant}].Sub(f.now()), 0)
}
