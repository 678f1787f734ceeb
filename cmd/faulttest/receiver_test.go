package faulttest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signalops/signalops/cmd/bench"
)

// receiver is the webhook endpoint of every scenario. It verifies the
// Standard Webhooks signature with bench's receiver code (not the code under
// test) and counts valid deliveries by webhook-id and by event id.
type receiver struct {
	secret []byte
	srv    *httptest.Server
	// failing makes it answer every request 503 (a receiver that is down
	// but reachable); failedPosts counts those requests.
	failing     atomic.Bool
	failedPosts atomic.Int64

	mu      sync.Mutex
	byHook  map[string]int // webhook-id → valid deliveries
	byEvent map[string]int // data.eventId → valid deliveries (single-event ones)
	// digested: event id → webhook-ids of the valid digest deliveries whose
	// data.events listed it (a digest's retry has the same webhook-id).
	digested map[string]map[string]bool
	posts    int
	invalid  int
	why      []string // the first few reasons a delivery was refused
}

func newReceiver(t *testing.T) *receiver {
	rx := &receiver{secret: randomBytes(t, 32), byHook: map[string]int{}, byEvent: map[string]int{},
		digested: map[string]map[string]bool{}}
	rx.srv = httptest.NewServer(rx)
	t.Cleanup(rx.srv.Close)
	return rx
}

func (rx *receiver) url() string { return rx.srv.URL }

func (rx *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	rx.mu.Lock()
	rx.posts++
	rx.mu.Unlock()
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if rx.failing.Load() {
		rx.failedPosts.Add(1)
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	eventID, digest, reason := rx.verify(r.Header, body)
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if reason != "" {
		rx.invalid++
		if len(rx.why) < 5 {
			rx.why = append(rx.why, reason)
		}
		http.Error(w, reason, http.StatusUnauthorized)
		return
	}
	hook := r.Header.Get("webhook-id")
	rx.byHook[hook]++
	if digest == nil {
		rx.byEvent[eventID]++
	}
	for _, id := range digest {
		if rx.digested[id] == nil {
			rx.digested[id] = map[string]bool{}
		}
		rx.digested[id][hook] = true
	}
	w.WriteHeader(http.StatusNoContent)
}

// verify checks one delivery and returns its event id and, for a digest,
// the ids of the events it lists; or why it is refused.
func (rx *receiver) verify(h http.Header, body []byte) (string, []string, string) {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return "", nil, "missing webhook-* headers"
	}
	if !bench.VerifyWebhookSignature(rx.secret, id, ts, body, sigs, time.Now(), 5*time.Minute) {
		return "", nil, "bad signature for " + id + ", or webhook-timestamp " + ts + " not a time within 5 minutes"
	}
	var msg struct {
		Type string
		Data struct {
			EventID    string
			DeliveryID string
			Count      *int
			Events     []struct{ ID string }
		}
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return "", nil, "body is not JSON: " + err.Error()
	}
	if msg.Type != "fault.event" || msg.Data.EventID == "" {
		return "", nil, fmt.Sprintf("unexpected body: type %q eventId %q", msg.Type, msg.Data.EventID)
	}
	// webhook-id is "msg_" + the delivery id's hex digits: stable across retries.
	if want := "msg_" + strings.ReplaceAll(msg.Data.DeliveryID, "-", ""); id != want {
		return "", nil, fmt.Sprintf("webhook-id %s does not name delivery %s", id, msg.Data.DeliveryID)
	}
	if msg.Data.Count == nil {
		return msg.Data.EventID, nil, ""
	}
	if *msg.Data.Count != len(msg.Data.Events) || len(msg.Data.Events) == 0 || msg.Data.Events[0].ID != msg.Data.EventID {
		return "", nil, fmt.Sprintf("digest %s: count %d, %d events, eventId %s", id, *msg.Data.Count, len(msg.Data.Events), msg.Data.EventID)
	}
	ids := make([]string, len(msg.Data.Events))
	for i, e := range msg.Data.Events {
		ids[i] = e.ID
	}
	return msg.Data.EventID, ids, ""
}

// rxStats is a snapshot of the receiver.
type rxStats struct {
	posts, invalid int
	why            []string
	byEvent        map[string]int
	duplicates     int // deliveries beyond the first, per webhook-id
	dupHooks       int // webhook-ids seen more than once
}

func (rx *receiver) stats() rxStats {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	s := rxStats{posts: rx.posts, invalid: rx.invalid, why: append([]string(nil), rx.why...), byEvent: make(map[string]int, len(rx.byEvent))}
	for k, v := range rx.byEvent {
		s.byEvent[k] = v
	}
	for _, n := range rx.byHook {
		if n > 1 {
			s.duplicates += n - 1
			s.dupHooks++
		}
	}
	return s
}

// digestHooks is, per event id, how many distinct digest deliveries
// (webhook-ids) listed it.
func (rx *receiver) digestHooks() map[string]int {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	out := make(map[string]int, len(rx.digested))
	for id, hooks := range rx.digested {
		out[id] = len(hooks)
	}
	return out
}

// distinctEvents is how many event ids got at least one valid delivery.
func (rx *receiver) distinctEvents() int {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return len(rx.byEvent)
}
