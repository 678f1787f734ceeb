package queue

import (
	"sync"
	"time"

	"github.com/google/uuid"
)

// Fair orders the jobs of many tenants in one River queue by weighted fair
// queuing (ADR 0008). Each job gets a virtual finish time
//
//	F = max(F_previous(tenant), now) + Quantum / weight
//
// and is inserted with ScheduledAt = F − Horizon. River fetches available
// jobs by (priority, scheduled_at, id), so it serves them in order of F,
// and every job is available at once (F − Horizon is in the past) unless a
// tenant runs more than Horizon of virtual time ahead.
//
// A tenant sending fewer than weight/Quantum jobs per second keeps F near
// now: its jobs sort before the backlog of a tenant that sent more, whose F
// runs ahead of the clock by its backlog × Quantum / weight. Backlogged
// tenants interleave in proportion to their weights. A tenant alone still
// gets the whole queue: all its jobs are available, in its own order.
//
// State is per process (like the rate limits): with N serve processes a
// tenant's share is computed N times over, which still keeps a light
// tenant ahead of a flood arriving through the same process.
type Fair struct {
	mu      sync.Mutex
	finish  map[uuid.UUID]time.Time
	quantum time.Duration
	horizon time.Duration
	now     func() time.Time
}

const (
	// FairQuantum is the virtual time one job costs at weight 1: a tenant of
	// weight w is never held behind others while it sends < w×100 jobs/s.
	FairQuantum = 10 * time.Millisecond
	// FairHorizon is how far ahead of the clock a tenant's virtual time may
	// run before its jobs are scheduled in the future (8.6 million jobs per
	// unit of weight): far beyond any backlog the queue is sized for.
	FairHorizon = 24 * time.Hour
	// maxFairKeys bounds memory; above it, tenants not ahead of the clock
	// (the same as absent) are dropped.
	maxFairKeys = 100_000
)

// NewFair returns a Fair with FairQuantum and FairHorizon.
func NewFair() *Fair {
	return &Fair{finish: map[uuid.UUID]time.Time{}, quantum: FairQuantum, horizon: FairHorizon, now: time.Now}
}

// Next returns the ScheduledAt for the tenant's next job.
func (f *Fair) Next(tenant uuid.UUID, weight int) time.Time {
	if f == nil {
		return time.Time{} // River's default: now
	}
	weight = max(weight, 1)
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.finish) >= maxFairKeys {
		for k, t := range f.finish {
			if !t.After(now) {
				delete(f.finish, k)
			}
		}
	}
	fin := f.finish[tenant]
	if fin.Before(now) {
		fin = now
	}
	fin = fin.Add(f.quantum / time.Duration(weight))
	f.finish[tenant] = fin
	return fin.Add(-f.horizon)
}
