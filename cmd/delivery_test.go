package cmd

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/cmd/bench"
)

// receiver is a webhook endpoint that checks Standard Webhooks signatures
// as bench's receivers do (not with the code under test).
type receiver struct {
	t       *testing.T
	secret  []byte
	url     string // its server's
	failing atomic.Bool
	mu      sync.Mutex
	got     map[string]int // webhook-id → valid deliveries accepted
	bodies  []map[string]any
	calls   atomic.Int32
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.calls.Add(1)
	body, _ := io.ReadAll(r.Body)
	id, ts, sigs := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature")
	if !bench.VerifyWebhookSignature(rc.secret, id, ts, body, sigs, time.Now(), 5*time.Minute) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if rc.failing.Load() {
		http.Error(w, "down", http.StatusInternalServerError)
		return
	}
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	rc.mu.Lock()
	rc.got[id]++
	rc.bodies = append(rc.bodies, m)
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) delivered() (total int, dup bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.got {
		total += n
		dup = dup || n > 1
	}
	return total, dup
}

// deliveryBundle is a tenant whose one rule sends order.* events to a
// signature-checking receiver.
type deliveryBundle struct {
	*tenantBundle
	rx *receiver
}

func setupDelivery(t *testing.T) *deliveryBundle {
	t.Helper()
	b := &deliveryBundle{tenantBundle: setupTenant(t, nil)}
	rx, channelID := b.receiverChannel(t)
	b.rx = rx
	b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+channelID+`","template":"Order {{.payload.orderId}}"}]}`)
	return b
}

func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)

	eventID := b.ingest(t, `{"type":"order.created","source":"shop","payload":{"orderId":"A-1"}}`)
	require.Eventually(t, func() bool { n, _ := b.rx.delivered(); return n == 1 }, 10*time.Second, 20*time.Millisecond)

	b.rx.mu.Lock()
	body := b.rx.bodies[0]
	b.rx.mu.Unlock()
	require.Equal(t, "order.created", body["type"])
	data := body["data"].(map[string]any)
	require.Equal(t, eventID, data["eventId"])
	require.Equal(t, "Order A-1", data["message"])
	require.Equal(t, "shop", data["event"].(map[string]any)["source"])
	require.NotEmpty(t, data["deliveryId"])

	require.Eventually(t, func() bool {
		ds := b.deliveryRows(t, eventID)
		return len(ds) == 1 && ds[0].Status == "succeeded"
	}, 5*time.Second, 20*time.Millisecond)
	rec := serveReq(b.router, "GET", "/api/events/"+eventID, "", "x-api-key", b.tenant.APIKey)
	require.Contains(t, rec.Body.String(), `"status":"succeeded"`)
	require.Contains(t, rec.Body.String(), `"ruleVersion":1`)

	ds := b.deliveryRows(t, eventID)
	rec = b.api(t, "POST", "/api/deliveries/"+ds[0].ID+"/retry", "")
	require.Equal(t, http.StatusConflict, rec.Code, "a succeeded delivery is never sent again")
	require.Contains(t, rec.Body.String(), "delivery_succeeded")
	_, dup := b.rx.delivered()
	require.False(t, dup)
}

// TestFailingReceiverToDLQAndBack: a receiver that always fails drives the
// delivery through its retries into the DLQ (a discarded job); once it
// recovers, a retry delivers exactly once.
func TestFailingReceiverToDLQAndBack(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	b.rx.failing.Store(true)

	eventID := b.ingest(t, `{"type":"order.created","payload":{"orderId":"B-2"}}`)
	var d deliveryRow
	require.Eventually(t, func() bool {
		ds := b.deliveryRows(t, eventID)
		if len(ds) == 1 {
			d = ds[0]
		}
		return d.Status == "failed"
	}, 15*time.Second, 50*time.Millisecond)
	require.Len(t, d.Attempts, 3, "one try and one retry per NOTIFY_RETRY_SCHEDULE entry")
	for _, a := range d.Attempts {
		require.False(t, a.Succeeded)
		require.Equal(t, 500, *a.StatusCode)
	}
	var state string
	require.Eventually(t, func() bool {
		_ = b.sys.db.Get(&state, `SELECT state FROM river_job WHERE kind = 'notify.deliver'`)
		return state == "discarded"
	}, 5*time.Second, 20*time.Millisecond, "exhausted deliveries land in the DLQ")

	dead := b.deadDeliveries(t)
	require.Len(t, dead, 1)
	require.Equal(t, "discarded", dead[0].State)
	require.Equal(t, b.tenant.ID.String(), dead[0].TenantID)
	require.Len(t, dead[0].Errors, 3, "the error of every attempt")

	b.rx.failing.Store(false)
	rec := b.api(t, "POST", "/api/deliveries/"+d.ID+"/retry", "")
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.Eventually(t, func() bool { n, _ := b.rx.delivered(); return n == 1 }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool { return b.deliveryRows(t, eventID)[0].Status == "succeeded" }, 5*time.Second, 20*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // room for a wrong second send to show up
	n, dup := b.rx.delivered()
	require.Equal(t, 1, n)
	require.False(t, dup)
}

// TestDeliveryToDeletedChannel: a rule whose channel was deleted still
// fires, and its delivery fails permanently (no send, no retry), saying
// why; the job is cancelled, not retried.
func TestDeliveryToDeletedChannel(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	rec := b.api(t, "GET", "/api/channels", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var page struct{ Data []struct{ ID string } }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	require.Len(t, page.Data, 1)
	rec = b.api(t, "DELETE", "/api/channels/"+page.Data[0].ID, "")
	require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())

	eventID := b.ingest(t, `{"type":"order.created","payload":{"orderId":"A-2"}}`)
	var got struct {
		Data []struct {
			Status    string
			LastError *string
		}
	}
	require.Eventually(t, func() bool {
		rec := b.api(t, "GET", "/api/deliveries?eventId="+eventID, "")
		got.Data = nil
		_ = json.Unmarshal(rec.Body.Bytes(), &got)
		return len(got.Data) == 1 && got.Data[0].Status == "failed"
	}, 10*time.Second, 20*time.Millisecond, "the delivery never failed: %+v", got)
	require.NotNil(t, got.Data[0].LastError)
	require.Contains(t, *got.Data[0].LastError, "was deleted")
	n, _ := b.rx.delivered()
	require.Zero(t, n, "nothing was sent")
	require.Eventually(t, func() bool {
		var state string
		require.NoError(t, b.sys.db.Get(&state, `SELECT state FROM river_job WHERE kind = 'notify.deliver'`))
		return state == "cancelled"
	}, 5*time.Second, 20*time.Millisecond)
}
