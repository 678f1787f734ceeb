package faulttest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// loadGen POSTs {"type":"fault.event","payload":{"n":i}} from several
// goroutines, each event with its own idempotency key. A request that gets no
// answer, a 5xx or a 429 is sent again — the same bytes, the same key — for
// up to retryFor, so an event acknowledged after a restart is attributed to
// the request that created it (the server answers a repeat with the original
// id). Every acknowledged (202, or 200 replay) id is recorded by key.
type loadGen struct {
	t        *testing.T
	key      string
	bases    []string
	prefix   string
	retryFor time.Duration
	// retryCap bounds the wait before a retry, Retry-After included (1 s
	// by default: honoured, but the test has a budget).
	retryCap time.Duration
	client   *http.Client

	seq     atomic.Int64
	aborted atomic.Bool
	stopCh  chan struct{}
	once    sync.Once
	wg      sync.WaitGroup

	mu           sync.Mutex
	acked        map[string]string // idempotency key → event id
	ackTimes     []time.Time       // when each acknowledgement arrived
	ackedBy      map[string]int    // base URL → acknowledgements
	sent         int               // distinct requests (keys) sent at least once
	answers      map[string]int    // HTTP status, or dial / broken / timeout for no answer
	retries      int
	n500         int
	noRetryAfter int // 503s without Retry-After
	unexpected   int // answers that are neither success nor retryable
	gaveUp       int // still unanswered after retryFor
	problems     []string
}

func (c *cluster) newLoad(bases ...string) *loadGen {
	return &loadGen{
		t: c.t, key: c.apiKey, bases: bases, retryFor: c.k.retryFor, retryCap: time.Second,
		prefix: "fault-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second,
			DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		}},
		stopCh: make(chan struct{}), acked: map[string]string{}, ackedBy: map[string]int{}, answers: map[string]int{},
	}
}

// startLoad starts works work processes and load at the run's rate on
// every serve, until stopped: the load most faults are injected into.
func (c *cluster) startLoad(works int) *loadGen {
	c.t.Helper()
	c.startWorks(works)
	lg := c.newLoad(c.bases()...)
	lg.start(c.k.workers, c.k.rate, 0)
	return lg
}

// start runs workers goroutines offering rate events per second in all
// (0: back to back), until stop, or until limit events were taken (0: no limit).
func (lg *loadGen) start(workers int, rate float64, limit int64) {
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(workers) / rate * float64(time.Second))
	}
	for w := range workers {
		lg.wg.Add(1)
		go func() {
			defer lg.wg.Done()
			next := time.Now()
			if interval > 0 {
				next = next.Add(interval * time.Duration(w) / time.Duration(workers))
			}
			for {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						select {
						case <-time.After(d):
						case <-lg.stopCh:
							return
						}
					}
					next = next.Add(interval)
					if now := time.Now(); next.Before(now.Add(-interval)) {
						next = now // fell behind (an outage): do not burst to catch up
					}
				}
				select {
				case <-lg.stopCh:
					return
				default:
				}
				i := lg.seq.Add(1)
				if limit > 0 && i > limit {
					return
				}
				lg.send(i)
			}
		}()
	}
}

// stop ends the load: no new event is started, and the ones in flight are
// seen through (retried until answered or retryFor runs out).
func (lg *loadGen) stop() {
	lg.once.Do(func() { close(lg.stopCh) })
	lg.wg.Wait()
}

// abort ends the load at once, giving up on requests still being retried
// (deferred by scenarios, so a failing test does not wait out retryFor).
func (lg *loadGen) abort() {
	lg.aborted.Store(true)
	lg.stop()
}

// wait is stop for a load started with a limit.
func (lg *loadGen) wait() { lg.wg.Wait() }

// ackWindow returns the last acknowledgement before t and the first after
// it (zero times when there is none).
func (lg *loadGen) ackWindow(t time.Time) (last, next time.Time) {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	for _, at := range lg.ackTimes {
		if at.Before(t) && at.After(last) {
			last = at
		}
		if !at.Before(t) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return last, next
}

func (lg *loadGen) ackedCount() int {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	return len(lg.acked)
}

func (lg *loadGen) send(i int64) {
	key := fmt.Sprintf("%s-%07d", lg.prefix, i)
	body := []byte(fmt.Sprintf(`{"type":"fault.event","payload":{"n":%d}}`, i))
	base := lg.bases[int(i)%len(lg.bases)]
	lg.mu.Lock()
	lg.sent++
	lg.mu.Unlock()
	deadline := time.Now().Add(lg.retryFor)
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		status, id, retryAfter, answer := lg.post(base, key, body)
		lg.mu.Lock()
		lg.answers[answer]++
		if attempt > 1 {
			lg.retries++
		}
		retry := false
		switch {
		case status == http.StatusAccepted || status == http.StatusOK:
			if id == "" {
				lg.unexpected++
				lg.note("%s: %d without an id", key, status)
				break
			}
			lg.acked[key] = id
			lg.ackedBy[base]++
			lg.ackTimes = append(lg.ackTimes, time.Now())
		case status == http.StatusServiceUnavailable:
			if retryAfter == "" {
				lg.noRetryAfter++
				lg.note("%s: 503 without Retry-After", key)
			}
			retry = true
		case status == http.StatusInternalServerError:
			lg.n500++
			lg.note("%s: 500 (attempt %d)", key, attempt)
			retry = true
		case status == http.StatusTooManyRequests || status == http.StatusBadGateway || status == http.StatusGatewayTimeout:
			retry = true
		case status == 0: // no answer: the process died, refused the connection, or timed out
			retry = true
		default:
			lg.unexpected++
			lg.note("%s: unexpected %d", key, status)
		}
		if retry && lg.aborted.Load() {
			retry = false
		}
		if retry && time.Now().After(deadline) {
			lg.gaveUp++
			lg.note("%s: still unanswered after %s (last: %s)", key, lg.retryFor, answer)
			retry = false
		}
		lg.mu.Unlock()
		if !retry {
			return
		}
		wait := backoff
		if s, err := strconv.Atoi(retryAfter); err == nil && s > 0 {
			wait = time.Duration(s) * time.Second
		}
		time.Sleep(min(wait, lg.retryCap))
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// post sends one attempt and classifies the outcome.
func (lg *loadGen) post(base, key string, body []byte) (status int, id, retryAfter, answer string) {
	req, err := http.NewRequest(http.MethodPost, base+"/api/events", bytes.NewReader(body))
	if err != nil {
		return 0, "", "", "request: " + err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-api-key", lg.key)
	req.Header.Set("idempotency-key", key)
	resp, err := lg.client.Do(req)
	if err != nil {
		var op *net.OpError
		var ne net.Error
		switch {
		case errors.As(err, &op) && op.Op == "dial":
			return 0, "", "", "dial"
		case errors.As(err, &ne) && ne.Timeout():
			return 0, "", "", "timeout"
		default:
			return 0, "", "", "broken" // the connection died with the request on it
		}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		var out struct{ ID string }
		_ = json.Unmarshal(b, &out)
		id = out.ID
	}
	return resp.StatusCode, id, resp.Header.Get("Retry-After"), strconv.Itoa(resp.StatusCode)
}

// note keeps the first few problems; lg.mu is held.
func (lg *loadGen) note(format string, args ...any) {
	if len(lg.problems) < 10 {
		lg.problems = append(lg.problems, fmt.Sprintf(format, args...))
	}
}

// answerSummary is "202=1234 503=12 dial=40".
func (lg *loadGen) answerSummary() string {
	lg.mu.Lock()
	defer lg.mu.Unlock()
	keys := make([]string, 0, len(lg.answers))
	for k := range lg.answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, lg.answers[k])
	}
	return strings.Join(parts, " ")
}
