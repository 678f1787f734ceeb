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

// FairQuantum is the virtual time one job of a weight-1 tenant costs; a
// job of weight w costs FairQuantum / w. It sets the ratio in which
// backlogged tenants share the workers, and how many jobs of a backlog the
// window orders (window × weight / quantum: 60,000 at weight 1 and the
// default window).
const FairQuantum = 10 * time.Millisecond

// headEvery is how often a process reads each queue's head (the system
// virtual time) at most.
const headEvery = 100 * time.Millisecond

// HeadFunc reads the scheduled_at of the job River fetches next from queue:
// ok is false when no job is available there.
type HeadFunc func(ctx context.Context, queue string) (at time.Time, ok bool, err error)

// Fair orders fresh jobs across tenants by weighted fair queuing (start-time
// fair queuing), through the one order River fetches in:
// (priority, scheduled_at, id).
//
// Each tenant (per queue) has a virtual finish time F. A job moves it
// F = max(F, V) + FairQuantum / weight, where V, the system virtual time,
// is the virtual time of the job at the head of the queue (the next one
// River fetches), or the wall clock when the queue is empty. The job is
// stored AVAILABLE with scheduled_at = F − window, at most now. So a tenant
// with no backlog (F ≤ V) places its job right behind the head, ahead of
// every backlog, whatever the weights; two backlogged tenants interleave in
// proportion to their weights. Setting the time here rather than through
// InsertOpts.ScheduledAt matters: River stores a job with an explicit
// ScheduledAt as `scheduled`, waiting for the leader's scheduler (ADR
// 0008); here the state stays `available` and the insert notification
// still wakes the workers.
//
// The window bounds how far the order reaches: a job more than window
// ahead of the wall clock queues by arrival (scheduled_at = now). Retries
// and snoozed jobs keep River's due time and so queue by arrival behind the
// backlog older than their due time, as without Fair.
//
// The tenants' clocks live in the process: each serve or work process
// orders the jobs it inserts, against the head every process shares. A
// tenant spread over n processes advances n clocks, each at 1/n of its
// rate, which weakens (never inverts) the order between backlogs.
type Fair struct {
	river.MiddlewareDefaults

	window time.Duration
	weight func(context.Context, uuid.UUID) int
	head   HeadFunc
	now    func() time.Time

	mu      sync.Mutex
	finish  map[fairKey]time.Time
	heads   map[string]headRead
	inserts int
}

type fairKey struct {
	queue  string
	tenant uuid.UUID
}

type headRead struct {
	v, read time.Time // the queue's virtual time, and when it was read
}

// NewFair returns the middleware. weight gives a tenant's weight (< 1 is
// taken as 1) and may be nil (every tenant weighs 1); head reads a queue's
// head and may be nil (V is then the wall clock: a tenant's first
// 1/FairQuantum × weight jobs a second are placed at the wall clock, a
// virtual clock rather than fair queuing). Both are called outside any
// lock, before the insert. A window ≤ 0 turns fair ordering off.
func NewFair(window time.Duration, weight func(context.Context, uuid.UUID) int, head HeadFunc) *Fair {
	return &Fair{window: window, weight: weight, head: head, now: time.Now,
		finish: map[fairKey]time.Time{}, heads: map[string]headRead{}}
}

var _ rivertype.JobInsertMiddleware = (*Fair)(nil)

// InsertMany sets the scheduled_at of every fresh tenant job in params.
func (f *Fair) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	if f.window > 0 {
		weights, vs := f.inputs(ctx, params)
		f.order(params, weights, vs)
	}
	return doInner(ctx)
}

// fresh reports whether p is a job Fair places, and for which tenant.
func fresh(p *rivertype.JobInsertParams) (uuid.UUID, bool) {
	tj, ok := p.Args.(TenantJob)
	if !ok || p.State != rivertype.JobStateAvailable || p.ScheduledAt != nil {
		return uuid.Nil, false // River's own timing: a scheduled, pending or time-stubbed job
	}
	return tj.FairTenant(), true
}

// inputs returns the weight of every tenant and the virtual time of every
// queue with a job in params.
func (f *Fair) inputs(ctx context.Context, params []*rivertype.JobInsertParams) (map[uuid.UUID]int, map[string]time.Time) {
	ws, vs := map[uuid.UUID]int{}, map[string]time.Time{}
	for _, p := range params {
		t, ok := fresh(p)
		if !ok {
			continue
		}
		if _, seen := ws[t]; !seen {
			w := 1
			if f.weight != nil {
				w = max(f.weight(ctx, t), 1)
			}
			ws[t] = w
		}
		if _, seen := vs[p.Queue]; !seen {
			vs[p.Queue] = f.virtualTime(ctx, p.Queue)
		}
	}
	return ws, vs
}

// virtualTime is queue's system virtual time: its head's, read at most
// every headEvery, or the wall clock when the queue is empty or cannot be
// read. A stale value is an earlier one (the head only moves on), which
// places a newcomer's job nearer the head: never behind a backlog.
func (f *Fair) virtualTime(ctx context.Context, queue string) time.Time {
	now := f.now()
	if f.head == nil {
		return now
	}
	f.mu.Lock()
	h, ok := f.heads[queue]
	f.mu.Unlock()
	if ok && now.Sub(h.read) < headEvery {
		return h.v
	}
	v := now
	if at, found, err := f.head(ctx, queue); err == nil && found {
		v = at.Add(f.window) // the head's virtual time (at least: a job placed by arrival was further ahead)
	}
	f.mu.Lock()
	f.heads[queue] = headRead{v: v, read: now}
	f.mu.Unlock()
	return v
}

func (f *Fair) order(params []*rivertype.JobInsertParams, weights map[uuid.UUID]int, vs map[string]time.Time) {
	now := f.now()
	ats := make([]time.Time, len(params)) // one allocation for every job's ScheduledAt
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, p := range params {
		tenant, ok := fresh(p)
		if !ok {
			continue
		}
		k := fairKey{queue: p.Queue, tenant: tenant}
		fin := f.finish[k]
		if v := vs[p.Queue]; fin.Before(v) {
			fin = v
		}
		fin = fin.Add(FairQuantum / time.Duration(weights[tenant]))
		f.finish[k] = fin
		ats[i] = fin.Add(-f.window)
		if ats[i].After(now) {
			ats[i] = now
		}
		p.ScheduledAt = &ats[i]
	}
	f.inserts += len(params)
	if f.inserts >= 10_000 {
		f.inserts = 0
		for k, fin := range f.finish {
			if h, ok := f.heads[k.queue]; ok && fin.Before(h.v) {
				delete(f.finish, k) // no backlog: max(F, V) = V
			}
		}
	}
}
