package cmd

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
)

// TestRetention: an event's retention comes from its tenant's plan and
// travels to its matches and deliveries; when maintenance drops the event's
// partition, its matches, deliveries, attempts and idempotency key go too.
// The worker runs events.partitions as soon as it starts.
func TestRetention(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t)
	ctx := t.Context()
	db := b.sys.db

	require.Eventually(t, func() bool {
		var n int
		require.NoError(t, db.Get(&n, `SELECT count(*) FROM river_job WHERE kind = 'events.partitions' AND state = 'completed'`))
		return n == 1
	}, 15*time.Second, 50*time.Millisecond, "the leader runs maintenance on start")

	rec := serveReq(b.router, "POST", "/api/events", `{"type":"order.created","payload":{"orderId":"A-1"}}`,
		"x-api-key", b.tenant.APIKey, "idempotency-key", "order-A-1")
	eventID := acceptedID(t, rec)
	require.Eventually(t, func() bool { n, _ := b.rx.delivered(); return n == 1 }, 10*time.Second, 20*time.Millisecond)
	require.Eventually(t, func() bool {
		ds := b.deliveryRows(t, eventID)
		return len(ds) == 1 && ds[0].Status == "succeeded"
	}, 5*time.Second, 20*time.Millisecond)

	rows := func() map[string]int {
		out := map[string]int{}
		for table, q := range map[string]string{
			"events":            `SELECT count(*) FROM events WHERE id = $1 AND retention_days = 365`,
			"event_idempotency": `SELECT count(*) FROM event_idempotency WHERE event_id = $1 AND retention_days = 365`,
			"rule_matches":      `SELECT count(*) FROM rule_matches WHERE event_id = $1 AND retention_days = 365`,
			"deliveries":        `SELECT count(*) FROM deliveries WHERE event_id = $1 AND retention_days = 365`,
			"delivery_attempts": `SELECT count(*) FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE event_id = $1)`,
		} {
			var n int
			require.NoError(t, db.Get(&n, q, eventID))
			out[table] = n
		}
		return out
	}
	require.Equal(t, map[string]int{"events": 1, "event_idempotency": 1, "rule_matches": 1, "deliveries": 1, "delivery_attempts": 1},
		rows(), "an enterprise event keeps 365 days, and so does what it caused")

	// Plans set the retention of new events.
	for plan, days := range map[string]int{"free": 30, "pro": 90} {
		other := authtest.CreateTenant(ctx, t, db, &authtest.TenantOpts{Plan: new(plan)})
		id := acceptedID(t, serveReq(b.router, "POST", "/api/events", `{"type":"x","payload":{}}`, "x-api-key", other.APIKey))
		var got int
		require.NoError(t, db.Get(&got, `SELECT retention_days FROM events WHERE id = $1`, id))
		require.Equal(t, days, got, plan)
	}

	// 400 days later.
	rep, err := b.sys.events.Service.Maintain(ctx, time.Now().Add(400*24*time.Hour))
	require.NoError(t, err)
	require.NotEmpty(t, rep.Dropped)
	require.Equal(t, map[string]int{"events": 0, "event_idempotency": 0, "rule_matches": 0, "deliveries": 0, "delivery_attempts": 0}, rows())
	rec = serveReq(b.router, "GET", "/api/events/"+eventID, "", "x-api-key", b.tenant.APIKey)
	require.Equal(t, http.StatusNotFound, rec.Code)
	rec = serveReq(b.router, "POST", "/api/events", `{"type":"order.created","payload":{"orderId":"A-1"}}`,
		"x-api-key", b.tenant.APIKey, "idempotency-key", "order-A-1")
	require.Equal(t, http.StatusAccepted, rec.Code, "the key went with its event")
}
