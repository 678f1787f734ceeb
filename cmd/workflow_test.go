package cmd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/platform/httpx"
)

// Notification workflows (SPEC §9, §10) through the production router and
// a real worker: fallback chains, digests, and the lineage that explains
// them on GET /api/events/{id}.

// eventView is GET /api/events/{id} with its lineage.
type eventView struct {
	Status     string
	ReceivedAt time.Time
	Matches    []struct {
		RuleID      string
		RuleVersion int
		Fired       bool
		Reason      *string
	}
	Deliveries []struct {
		ID         string
		RuleID     *string
		ChannelID  string
		Status     string
		Attempts   int
		FallbackOf *string
	}
}

func (b *tenantBundle) event(t *testing.T, id string) eventView {
	t.Helper()
	rec := serveReq(b.router, "GET", "/api/events/"+id, "", "x-api-key", b.tenant.APIKey)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var v eventView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	return v
}

func (b *tenantBundle) processed(t *testing.T, id string) eventView {
	t.Helper()
	var v eventView
	require.Eventually(t, func() bool { v = b.event(t, id); return v.Status == "processed" }, 10*time.Second, 20*time.Millisecond)
	return v
}

// deliveries is deliveryRows by channel id.
func (b *tenantBundle) deliveries(t *testing.T, eventID string) map[string]deliveryRow {
	t.Helper()
	rows := b.deliveryRows(t, eventID)
	out := make(map[string]deliveryRow, len(rows))
	for _, d := range rows {
		out[d.ChannelID] = d
	}
	return out
}

// deadDelivery is a DLQ entry of notify.deliver, as GET /api/dlq lists it.
type deadDelivery struct {
	State    string
	TenantID string
	Errors   []struct{ Error string }
}

// deadDeliveries is the tenant's DLQ entries of notify.deliver.
func (b *tenantBundle) deadDeliveries(t *testing.T) []deadDelivery {
	t.Helper()
	rec := b.api(t, "GET", "/api/dlq?kind=notify.deliver", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var dlq struct{ Data []deadDelivery }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &dlq))
	return dlq.Data
}

func (rc *receiver) body(t *testing.T, i int) map[string]any {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.Greater(t, len(rc.bodies), i)
	return rc.bodies[i]
}

func TestFallbackChains(t *testing.T) {
	t.Parallel()

	// The first channel answers 410 Gone (permanent): the second channel
	// gets the same message at once; the chain is visible on the event, in
	// the deliveries API, and nothing reaches the DLQ.
	t.Run("GoneThenSuccess", func(t *testing.T) {
		t.Parallel()
		b := setupTenant(t, nil)
		goneCalls, gone := b.brokenChannel(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
		rx, ok := b.receiverChannel(t)
		ruleID := b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+gone+`","template":"Order {{.payload.orderId}}","fallback":["`+ok+`"]}]}`)

		eventID := b.ingest(t, `{"type":"order.created","payload":{"orderId":"A-1"}}`)
		require.Eventually(t, func() bool { n, _ := rx.delivered(); return n == 1 }, 10*time.Second, 20*time.Millisecond)
		var ds map[string]deliveryRow
		require.Eventually(t, func() bool { ds = b.deliveries(t, eventID); return ds[ok].Status == "succeeded" }, 5*time.Second, 20*time.Millisecond)

		first, second := ds[gone], ds[ok]
		require.Equal(t, "failed", first.Status)
		require.Len(t, first.Attempts, 1, "410 is permanent: no retry")
		require.Equal(t, 410, *first.Attempts[0].StatusCode)
		require.Equal(t, []string{ok}, first.Fallback)
		require.Nil(t, first.FallbackOf)
		require.Equal(t, second.ID, *first.ReplacedBy)
		require.Equal(t, first.ID, *second.FallbackOf)
		require.Empty(t, second.Fallback)
		body := rx.body(t, 0)["data"].(map[string]any)
		require.Equal(t, "Order A-1", body["message"], "the same message")
		require.Equal(t, second.ID, body["deliveryId"], "the body names the delivery that sent it")

		ev := b.event(t, eventID)
		require.Len(t, ev.Matches, 1)
		require.True(t, ev.Matches[0].Fired)
		require.Nil(t, ev.Matches[0].Reason)
		require.Len(t, ev.Deliveries, 2)
		for _, d := range ev.Deliveries {
			require.Equal(t, ruleID, *d.RuleID)
			require.Equal(t, 1, d.Attempts)
			if d.ChannelID == ok {
				require.Equal(t, "succeeded", d.Status)
				require.Equal(t, first.ID, *d.FallbackOf)
			} else {
				require.Equal(t, "failed", d.Status)
				require.Nil(t, d.FallbackOf)
			}
		}

		rec := b.api(t, "POST", "/api/deliveries/"+first.ID+"/retry", "")
		require.Equal(t, http.StatusConflict, rec.Code, "a replaced delivery is not sent again: %s", rec.Body.String())
		require.Contains(t, rec.Body.String(), "delivery_replaced")
		require.Empty(t, b.deadDeliveries(t), "a chain that succeeded leaves nothing in the DLQ")
		time.Sleep(300 * time.Millisecond) // room for a wrong second send to show up
		n, dup := rx.delivered()
		require.Equal(t, 1, n)
		require.False(t, dup)
		require.Equal(t, int32(1), goneCalls.Load())
	})

	// The first channel times out on every attempt: after its retries
	// (NOTIFY_RETRY_SCHEDULE) the second one is tried.
	t.Run("TimeoutsThenSuccess", func(t *testing.T) {
		t.Parallel()
		b := setupTenant(t, func(cfg *config.Config) { cfg.Notify.Timeout = 300 * time.Millisecond })
		hangCalls, hang := b.brokenChannel(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done(): // the sender gave up
			case <-time.After(5 * time.Second):
			}
		})
		rx, ok := b.receiverChannel(t)
		b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+hang+`","template":"Order {{.payload.orderId}}","fallback":["`+ok+`"]}]}`)

		eventID := b.ingest(t, `{"type":"order.created","payload":{"orderId":"B-2"}}`)
		require.Eventually(t, func() bool { n, _ := rx.delivered(); return n == 1 }, 20*time.Second, 20*time.Millisecond)
		var ds map[string]deliveryRow
		require.Eventually(t, func() bool { ds = b.deliveries(t, eventID); return ds[ok].Status == "succeeded" }, 5*time.Second, 20*time.Millisecond)
		first := ds[hang]
		require.Equal(t, "failed", first.Status)
		require.Len(t, first.Attempts, 3, "one try and one retry per NOTIFY_RETRY_SCHEDULE entry, then the fallback")
		for _, a := range first.Attempts {
			require.False(t, a.Succeeded)
			require.Nil(t, a.StatusCode, "no answer: a timeout")
		}
		require.Equal(t, first.ID, *ds[ok].FallbackOf)
		require.Equal(t, int32(3), hangCalls.Load())
		require.Empty(t, b.deadDeliveries(t))
	})

	// Every channel of the chain fails: the chain lands in the DLQ once,
	// as its last delivery, whose error carries the chain's.
	t.Run("ExhaustedChainToDLQOnce", func(t *testing.T) {
		t.Parallel()
		b := setupTenant(t, nil)
		_, down := b.brokenChannel(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		_, gone := b.brokenChannel(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
		b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+down+`","template":"x","fallback":["`+gone+`"]}]}`)

		eventID := b.ingest(t, `{"type":"order.created","payload":{}}`)
		var ds map[string]deliveryRow
		require.Eventually(t, func() bool { ds = b.deliveries(t, eventID); return ds[gone].Status == "failed" }, 20*time.Second, 20*time.Millisecond)
		require.Len(t, ds[down].Attempts, 3)
		require.Equal(t, ds[gone].ID, *ds[down].ReplacedBy)
		var dead []deadDelivery
		require.Eventually(t, func() bool { dead = b.deadDeliveries(t); return len(dead) > 0 }, 5*time.Second, 20*time.Millisecond)
		time.Sleep(300 * time.Millisecond) // room for a wrong second entry
		dead = b.deadDeliveries(t)
		require.Len(t, dead, 1, "one DLQ entry for the whole chain")
		require.Equal(t, "cancelled", dead[0].State, "410 is permanent")
		last := dead[0].Errors[len(dead[0].Errors)-1].Error
		require.Contains(t, last, "410")
		require.Contains(t, last, "earlier in the fallback chain")
		require.Contains(t, last, ds[down].ID)
		require.Contains(t, last, "503")
	})
}

func TestDigests(t *testing.T) {
	t.Parallel()
	shortWindows := func(cfg *config.Config) { cfg.Rules.DigestMinWindow = time.Second }

	// Five events in a 2 s window arrive as one message listing all five,
	// oldest first; each event's match names the digest's delivery.
	t.Run("FiveEventsOneMessage", func(t *testing.T) {
		t.Parallel()
		b := setupTenant(t, shortWindows)
		rx, ch := b.receiverChannel(t)
		b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+ch+`",
			"template":"{{.count}} orders:{{range .events}} {{.payload.orderId}}{{end}}","digest":{"window":"2s","max":50}}]}`)

		var ids []string
		for i := range 5 {
			ids = append(ids, b.ingest(t, fmt.Sprintf(`{"type":"order.created","source":"shop","payload":{"orderId":"o%d","amount":%d.50}}`, i+1, i)))
		}
		require.Eventually(t, func() bool { n, _ := rx.delivered(); return n == 1 }, 20*time.Second, 50*time.Millisecond)
		data := rx.body(t, 0)["data"].(map[string]any)
		require.Equal(t, "5 orders: o1 o2 o3 o4 o5", data["message"])
		require.Equal(t, 5.0, data["count"])
		require.Equal(t, ids[0], data["eventId"], "a digest's eventId is its first event")
		require.NotContains(t, data, "event", "a digest has events, not one event")
		evs := data["events"].([]any)
		require.Len(t, evs, 5)
		for i, e := range evs {
			e := e.(map[string]any)
			require.Equal(t, ids[i], e["id"], "oldest first")
			require.Equal(t, "order.created", e["type"])
			require.Equal(t, "shop", e["source"])
			require.NotEmpty(t, e["occurredAt"])
			require.Equal(t, fmt.Sprintf("o%d", i+1), e["payload"].(map[string]any)["orderId"])
		}
		digestDelivery := data["deliveryId"].(string)
		for _, id := range ids {
			ev := b.event(t, id)
			require.Len(t, ev.Matches, 1)
			require.False(t, ev.Matches[0].Fired, "collected, not sent on its own")
			require.Equal(t, "collected into digest "+digestDelivery, *ev.Matches[0].Reason)
		}
		first := b.event(t, ids[0])
		require.Len(t, first.Deliveries, 1)
		require.Equal(t, digestDelivery, first.Deliveries[0].ID)
		require.Empty(t, b.event(t, ids[4]).Deliveries)
		time.Sleep(500 * time.Millisecond) // room for a wrong second message
		n, dup := rx.delivered()
		require.Equal(t, 1, n)
		require.False(t, dup)
		var flushed int
		require.NoError(t, b.sys.db.Get(&flushed, `SELECT count(*) FROM rule_digests WHERE state = 'flushed' AND count = 5`))
		require.Equal(t, 1, flushed)
	})

	// max closes a digest early (a 1 h window goes out at once), the next
	// firing opens another, and a digest falls back like any delivery.
	t.Run("MaxFlushesEarlyAndFallsBack", func(t *testing.T) {
		t.Parallel()
		b := setupTenant(t, nil)
		_, gone := b.brokenChannel(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
		rx, ok := b.receiverChannel(t)
		b.rule(t, `{"match":{"type":"order.*"},"actions":[{"channelId":"`+gone+`","template":"{{.count}} new",
			"fallback":["`+ok+`"],"digest":{"window":"1h","max":2}}]}`)

		e1 := b.ingest(t, `{"type":"order.created","payload":{"n":1}}`)
		b.processed(t, e1)
		e2 := b.ingest(t, `{"type":"order.created","payload":{"n":2}}`)
		b.processed(t, e2)
		e3 := b.ingest(t, `{"type":"order.created","payload":{"n":3}}`)
		b.processed(t, e3)
		require.Eventually(t, func() bool { n, _ := rx.delivered(); return n == 1 }, 10*time.Second, 20*time.Millisecond)
		data := rx.body(t, 0)["data"].(map[string]any)
		require.Equal(t, "2 new", data["message"])
		require.Len(t, data["events"], 2)

		// The receiver counts a delivery before its outcome is committed.
		var ds map[string]deliveryRow
		require.Eventually(t, func() bool { ds = b.deliveries(t, e1); return ds[ok].Status == "succeeded" },
			10*time.Second, 20*time.Millisecond)
		require.Equal(t, "failed", ds[gone].Status)
		require.Equal(t, ds[gone].ID, *ds[ok].FallbackOf)
		require.Equal(t, "collected into digest "+ds[gone].ID, *b.event(t, e2).Matches[0].Reason,
			"the reason names the digest's delivery; its fallback is on the event's deliveries")
		third := *b.event(t, e3).Matches[0].Reason
		require.True(t, strings.HasPrefix(third, "collected into digest "))
		require.NotEqual(t, "collected into digest "+ds[gone].ID, third, "a full digest takes no more")
		var open int
		require.NoError(t, b.sys.db.Get(&open, `SELECT count(*) FROM rule_digests WHERE state = 'open' AND count = 1`))
		require.Equal(t, 1, open, "the third event waits in a new digest for its window")
	})
}

// TestLineageReasons: threshold and cooldown reasons read back from
// GET /api/events/{id}, events processed by the worker one after another.
func TestLineageReasons(t *testing.T) {
	t.Parallel()
	b := setupTenant(t, nil)
	rx, ch := b.receiverChannel(t)
	threshold := b.rule(t, `{"match":{"type":"login.failed"},"threshold":{"count":3,"within":"1m","groupBy":"payload.user"},
		"actions":[{"channelId":"`+ch+`","template":"3 failed logins: {{.payload.user}}"}]}`)
	cooldown := b.rule(t, `{"match":{"type":"login.failed"},"cooldown":"1h","actions":[{"channelId":"`+ch+`","template":"failed login"}]}`)

	var evs []eventView
	for range 3 {
		evs = append(evs, b.processed(t, b.ingest(t, `{"type":"login.failed","payload":{"user":"u1"}}`)))
	}
	type verdict struct {
		fired  bool
		reason string
	}
	of := func(ev eventView, ruleID string) verdict {
		for _, m := range ev.Matches {
			if m.RuleID == ruleID {
				v := verdict{fired: m.Fired}
				if m.Reason != nil {
					v.reason = *m.Reason
				}
				return v
			}
		}
		t.Fatalf("no match of rule %s in %+v", ruleID, ev)
		return verdict{}
	}
	until := "cooldown until " + evs[0].ReceivedAt.Add(time.Hour).UTC().Format(time.RFC3339)
	for i, want := range []struct{ threshold, cooldown verdict }{
		{verdict{false, "threshold 1 of 3 within 1m"}, verdict{true, ""}},
		{verdict{false, "threshold 2 of 3 within 1m"}, verdict{false, until}},
		{verdict{true, ""}, verdict{false, until}},
	} {
		require.Equal(t, want.threshold, of(evs[i], threshold), "event %d, threshold rule", i+1)
		require.Equal(t, want.cooldown, of(evs[i], cooldown), "event %d, cooldown rule", i+1)
	}
	require.Eventually(t, func() bool { n, _ := rx.delivered(); return n == 2 }, 10*time.Second, 20*time.Millisecond)
}

// TestWorkflowValidation: invalid fallback chains and digests are 422 with
// the member's path, and nothing is stored.
func TestWorkflowValidation(t *testing.T) {
	t.Parallel()
	b := setupTenant(t, nil)
	_, a := b.brokenChannel(t, func(http.ResponseWriter, *http.Request) {})
	_, c := b.brokenChannel(t, func(http.ResponseWriter, *http.Request) {})
	const unknown = "0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8a"
	action := func(extra string) string {
		return `{"match":{"type":"x"},"actions":[{"channelId":"` + a + `","template":"t"` + extra + `}]}`
	}
	ids := func(list ...string) string { return `["` + strings.Join(list, `","`) + `"]` }
	for _, tt := range []struct {
		name, definition, field, message string
	}{
		{"UnknownFallbackChannel", action(`,"fallback":` + ids(c, unknown)), "definition.actions[0].fallback[1]", "no such channel"},
		{"CycleToOwnChannel", action(`,"fallback":` + ids(c, a)), "definition.actions[0].fallback[1]", "cycle"},
		{"Duplicate", action(`,"fallback":` + ids(c, c)), "definition.actions[0].fallback[1]", "duplicate"},
		{"ChainOverFive", action(`,"fallback":` + ids(c, unknown, "0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8b",
			"0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8c", "0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8d")), "definition.actions[0].fallback", "at most 5"},
		{"FallbackNotAList", action(`,"fallback":"` + c + `"`), "definition.actions[0].fallback", "must be an array"},
		{"FallbackNotAUUID", action(`,"fallback":["telegram"]`), "definition.actions[0].fallback[0]", "must be a UUID"},
		{"WindowTooShort", action(`,"digest":{"window":"30s"}`), "definition.actions[0].digest.window", "between 1m and 24h"},
		{"WindowTooLong", action(`,"digest":{"window":"25h"}`), "definition.actions[0].digest.window", "between 1m and 24h"},
		{"WindowMissing", action(`,"digest":{"max":10}`), "definition.actions[0].digest.window", "is required"},
		{"WindowNotADuration", action(`,"digest":{"window":"soon"}`), "definition.actions[0].digest.window", "invalid duration"},
		{"MaxTooSmall", action(`,"digest":{"window":"10m","max":1}`), "definition.actions[0].digest.max", "from 2 to 1000"},
		{"MaxTooLarge", action(`,"digest":{"window":"10m","max":1001}`), "definition.actions[0].digest.max", "from 2 to 1000"},
		{"MaxNotANumber", action(`,"digest":{"window":"10m","max":"50"}`), "definition.actions[0].digest.max", "from 2 to 1000"},
		{"UnknownDigestKey", action(`,"digest":{"window":"10m","every":5}`), "definition.actions[0].digest.every", "unknown field"},
		{"DigestNotAnObject", action(`,"digest":"10m"`), "definition.actions[0].digest", "must be an object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := b.api(t, "POST", "/api/rules", `{"name":"bad","definition":`+tt.definition+`}`)
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
			var p httpx.Problem
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			require.Equal(t, "invalid_rule", p.Code)
			found := false
			for _, f := range p.Errors {
				if f.Field == tt.field {
					found = true
					require.Contains(t, f.Message, tt.message)
				}
			}
			require.True(t, found, "no error at %s: %+v", tt.field, p.Errors)
		})
	}

	// A valid chain and digest are stored; the same problems in an update
	// leave the rule at its version.
	id := b.rule(t, action(`,"fallback":`+ids(c)+`,"digest":{"window":"10m","max":50}`))
	rec := b.api(t, "PUT", "/api/rules/"+id, `{"definition":`+action(`,"fallback":`+ids(unknown))+`}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `definition.actions[0].fallback[0]`)
	var n, version int
	require.NoError(t, b.sys.db.Get(&n, `SELECT count(*) FROM rules`))
	require.Equal(t, 1, n, "no invalid rule was stored")
	require.NoError(t, b.sys.db.Get(&version, `SELECT version FROM rules`))
	require.Equal(t, 1, version)
}
