package cmd

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHostileTemplateInWorker: a tenant whose rule's template exhausts its
// budget on its own events, and whose older rule takes its printf format
// from the payload, gets those actions failed — explained, not sent, not
// retried — while its other actions and every other tenant's events are
// delivered by the same worker.
func TestHostileTemplateInWorker(t *testing.T) {
	t.Parallel()
	b := setupDelivery(t) // tenant A: a webhook rule on order.*

	evil := newTenant(t, b.sys, b.router) // another tenant, served by the same router and worker
	chID := evil.channel(t, b.rx.url+"/evil", b.rx.secret)

	// The attack of issue 12 is refused when saved...
	rec := evil.api(t, "POST", "/api/rules", `{"name":"crash","definition":{"match":{"type":"attack"},
		"actions":[{"channelId":"`+chID+`","template":"{{printf .payload.f 1}}"}]}}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "printf needs a format string in the template")
	rec = evil.api(t, "POST", "/api/rules/test", `{"definition":{"match":{},"actions":[{"channelId":"`+chID+`",
		"template":"{{printf \"`+strings.Repeat(`%9999999[1]d`, 340)+`\" 1}}"}]},"event":{"type":"x","payload":{}}}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())

	// ...so plant it as a version saved before the check existed.
	legacyID := createdID(t, evil.api(t, "POST", "/api/rules", `{"name":"legacy","definition":{"match":{"type":"attack"},
		"actions":[{"channelId":"`+chID+`","template":"harmless"}]}}`))
	_, err := b.sys.db.Exec(`UPDATE rule_versions SET definition = jsonb_set(definition, '{actions,0,template}', '"{{printf .payload.f 1}}"')
		WHERE rule_id = $1`, legacyID)
	require.NoError(t, err)

	// A template that passes every static check but exhausts its budget on
	// the payload sent with it, next to an action that is fine.
	rec = evil.api(t, "POST", "/api/rules", `{"name":"slow","definition":{"match":{"type":"attack"},"actions":[
		{"channelId":"`+chID+`","template":"{{range .payload.list}}{{if eq $.payload.a $.payload.b}}{{end}}{{end}}done"},
		{"channelId":"`+chID+`","template":"fine {{.payload.n}}"}]}}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())

	a := strings.Repeat("x", 60_000)
	payload := `{"n": 7, "f": "` + strings.Repeat(`%9999999[1]d`, 300) + `", "a": "` + a + `", "b": "` + a[1:] + `y",
		"list": [` + strings.Repeat("1,", 9_999) + `1]}`
	attackID := evil.ingest(t, `{"type":"attack","payload":`+payload+`}`)

	// Other tenants' events flow through the same worker meanwhile.
	var normal []string
	for i := range 5 {
		normal = append(normal, b.ingest(t, `{"type":"order.created","payload":{"orderId":"N-`+string(rune('0'+i))+`"}}`))
	}

	var got []deliveryRow
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("jobs: %v", jobErrors(t, b))
		}
	})
	require.Eventually(t, func() bool {
		got = evil.deliveryRows(t, attackID)
		if len(got) != 3 {
			return false
		}
		for _, d := range got {
			if d.Status == "pending" {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond, "deliveries: %+v", &got)
	reasons := map[string]string{}
	for _, d := range got {
		reason := ""
		if d.LastError != nil {
			reason = *d.LastError
		}
		reasons[d.Status+":"+d.Message] = reason
	}
	require.Contains(t, reasons, "succeeded:fine 7")
	var failed []string
	for _, d := range got {
		if d.Status == "failed" {
			require.Empty(t, d.Message, "nothing partial is sent")
			failed = append(failed, *d.LastError)
		}
	}
	require.Len(t, failed, 2)
	require.Contains(t, strings.Join(failed, "|"), "the template exceeded its execution budget")
	require.Contains(t, strings.Join(failed, "|"), "template refused: invalid template: printf needs a format string")

	// The event itself is processed, not failed: only its actions failed.
	ev := serveReq(b.router, "GET", "/api/events/"+attackID, "", "x-api-key", evil.tenant.APIKey)
	require.Contains(t, ev.Body.String(), `"status":"processed"`)

	// A failed, never-sent delivery is not retried into a loop.
	rec = evil.api(t, "GET", "/api/deliveries?eventId="+attackID+"&status=failed", "")
	var page struct{ Data []struct{ ID string } }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	require.NotEmpty(t, page.Data)
	rec = evil.api(t, "POST", "/api/deliveries/"+page.Data[0].ID+"/retry", "")
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), "delivery_unsendable")

	// Every other tenant's event was delivered.
	require.Eventually(t, func() bool {
		for _, id := range normal {
			ds := b.deliveryRows(t, id)
			if len(ds) != 1 || ds[0].Status != "succeeded" {
				return false
			}
		}
		return true
	}, 20*time.Second, 50*time.Millisecond)
}

func jobErrors(t *testing.T, b *deliveryBundle) []string {
	var errs []string
	require.NoError(t, b.sys.db.Select(&errs, `SELECT kind || ' ' || state || ' ' || coalesce(errors::text, '') FROM river_job`))
	return errs
}
