package bench

import (
	"context"
	"errors"
	"math"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// benchOutcome is what one request produced.
type benchOutcome struct {
	status int    // HTTP status; 0 when no response arrived
	events int    // events the server accepted with it
	lastID string // of a batch: the largest id accepted (UUIDv7: the newest)
	err    error  // the transport error when status is 0
}

func (o benchOutcome) ok() bool { return o.status >= 200 && o.status < 300 }

// errorKey names a failure in the errors map: the HTTP status, or
// "timeout"/"transport" when no response arrived.
func errorKey(o benchOutcome) string {
	if o.status != 0 {
		return strconv.Itoa(o.status)
	}
	var ne net.Error
	if errors.Is(o.err, context.DeadlineExceeded) || (errors.As(o.err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	return "transport"
}

// sendFunc issues request number seq. sentAt is when it was due: the
// scheduled time in open loop, the start time in closed loop.
type sendFunc func(ctx context.Context, seq int64, sentAt time.Time) benchOutcome

type loadConfig struct {
	concurrency int
	rate        float64 // 0 = closed loop
	duration    time.Duration
	warmup      time.Duration
	// onMeasure, when set, runs once when the measurement window opens
	// (after the warmup), before runLoad returns: a meter's first reading.
	onMeasure func()
}

// loadResult is a run's merged tally. Only requests that started (or were
// due) inside the measurement window count.
type loadResult struct {
	requests, ok, events, dropped int64
	errors                        map[string]int64
	latencies                     []time.Duration // successful requests, sorted
	window                        time.Duration   // the measured time: duration, or less if interrupted
	interrupted                   bool
}

// tally is one worker's record; workers never share one, so recording
// needs no lock.
type tally struct {
	lat                  []time.Duration
	requests, ok, events int64
	errors               map[string]int64
}

func (t *tally) record(o benchOutcome, lat time.Duration) {
	t.requests++
	if o.ok() {
		t.ok++
		t.events += int64(o.events)
		t.lat = append(t.lat, lat)
		return
	}
	if t.errors == nil {
		t.errors = map[string]int64{}
	}
	t.errors[errorKey(o)]++
}

// mergeTallies sums the workers' tallies and sorts all latency samples.
func mergeTallies(ts []*tally) loadResult {
	r := loadResult{errors: map[string]int64{}}
	n := 0
	for _, t := range ts {
		n += len(t.lat)
	}
	r.latencies = make([]time.Duration, 0, n)
	for _, t := range ts {
		r.requests += t.requests
		r.ok += t.ok
		r.events += t.events
		r.latencies = append(r.latencies, t.lat...)
		for k, v := range t.errors {
			r.errors[k] += v
		}
	}
	slices.Sort(r.latencies)
	return r
}

// dueAt is when request i of an open-loop run at rate per second is due:
// fixed intervals from start, computed from i (not accumulated) so timer
// lateness never drifts the schedule.
func dueAt(start time.Time, i int64, rate float64) time.Time {
	return start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
}

// runLoad drives send for warmup+duration, closed or open loop, and merges
// the result. Canceling ctx stops sending; requests in flight finish (they
// are bounded by the client's timeout) and are counted.
func runLoad(ctx context.Context, lc loadConfig, send sendFunc) loadResult {
	reqCtx := context.WithoutCancel(ctx)
	start := time.Now()
	measureFrom := start.Add(lc.warmup)
	end := measureFrom.Add(lc.duration)
	var canceledAt atomic.Pointer[time.Time]
	stopWatch := context.AfterFunc(ctx, func() { t := time.Now(); canceledAt.Store(&t) })
	defer stopWatch()

	tallies := make([]*tally, lc.concurrency)
	for i := range tallies {
		tallies[i] = &tally{}
	}
	var wg sync.WaitGroup
	var dropped int64
	if lc.onMeasure != nil {
		if lc.warmup <= 0 {
			lc.onMeasure()
		} else {
			wg.Go(func() {
				t := time.NewTimer(time.Until(measureFrom))
				defer t.Stop()
				select {
				case <-ctx.Done():
				case <-t.C:
				}
				lc.onMeasure()
			})
		}
	}
	if lc.rate <= 0 {
		var seq atomic.Int64
		for w := range lc.concurrency {
			wg.Go(func() {
				t := tallies[w]
				for ctx.Err() == nil {
					now := time.Now()
					if !now.Before(end) {
						return
					}
					o := send(reqCtx, seq.Add(1)-1, now)
					lat := time.Since(now)
					if !now.Before(measureFrom) {
						t.record(o, lat)
					}
				}
			})
		}
	} else {
		sem := make(chan struct{}, lc.concurrency)
		jobs := make(chan int64, lc.concurrency) // never blocks: sem bounds what is queued plus in flight
		for w := range lc.concurrency {
			wg.Go(func() {
				t := tallies[w]
				for i := range jobs {
					due := dueAt(start, i, lc.rate)
					o := send(reqCtx, i, due)
					lat := time.Since(due)
					<-sem
					if !due.Before(measureFrom) {
						t.record(o, lat)
					}
				}
			})
		}
		dropped = schedule(ctx, start, measureFrom, end, lc.rate, sem, jobs)
		close(jobs)
	}
	wg.Wait()

	r := mergeTallies(tallies)
	r.dropped = dropped
	stop := end
	if ctx.Err() != nil {
		at := time.Now() // the AfterFunc may not have run yet: then it was just now
		if c := canceledAt.Load(); c != nil {
			at = *c
		}
		if at.Before(end) {
			stop, r.interrupted = at, true
		}
	}
	if r.window = stop.Sub(measureFrom); r.window < 0 {
		r.window = 0
	}
	return r
}

// schedule hands out open-loop slots until end or ctx is done. A slot is
// taken by a free worker at once or dropped; slots due inside the
// measurement window and dropped are counted.
func schedule(ctx context.Context, start, measureFrom, end time.Time, rate float64, sem chan struct{}, jobs chan<- int64) (dropped int64) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		due := dueAt(start, i, rate)
		if !due.Before(end) {
			return dropped
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return dropped
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return dropped
		}
		select {
		case sem <- struct{}{}:
			jobs <- i
		default:
			if !due.Before(measureFrom) {
				dropped++
			}
		}
	}
}

// percentile is the nearest-rank percentile p (0–100] of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}
