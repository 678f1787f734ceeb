package cmd

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
)

// BenchmarkConsolePages times each console page, signed in, for a tenant
// with 100,000 processed events (1 % of them fired a webhook; a few
// deliveries failed into the DLQ):
//
//	go test -run '^$' -bench BenchmarkConsolePages -benchtime 60x ./cmd/
//
// Seeding takes about a minute. The bar is < 100 ms per page.
func BenchmarkConsolePages(b *testing.B) {
	ctx := b.Context()
	sys, dbURL := wireTest(b, nil, nil)
	pool := sys.db
	srv := httptest.NewServer(sys.router())
	b.Cleanup(srv.Close)
	hooks := &consoleHooks{}
	hookSrv := httptest.NewServer(hooks)
	b.Cleanup(hookSrv.Close)
	tenant := authtest.CreateTenant(ctx, b, pool, &authtest.TenantOpts{Plan: new("enterprise")})

	br := newBrowser(b, srv)
	br.signIn(tenant.OwnerEmail)
	br.get("/console/channels/new?kind=webhook")
	resp, body := br.post("/console/channels", url.Values{"kind": {"webhook"}, "name": {"receiver"}, "config.url": {hookSrv.URL}})
	require.Equal(b, http.StatusCreated, resp.StatusCode, body)
	channel := regexp.MustCompile(`/console/channels/([0-9a-f-]{36})`).FindStringSubmatch(body)[1]
	br.get("/console/rules/new")
	resp, _ = br.post("/console/rules", url.Values{"name": {"big"}, "enabled": {"on"}, "type": {"order.big"},
		"channelId": {channel}, "template": {"big order {{.payload.n}}"}})
	require.Equal(b, http.StatusSeeOther, resp.StatusCode)
	rule := strings.TrimPrefix(resp.Header.Get("Location"), "/console/rules/")

	// 100,000 events in batches of 500: 1 % order.big (a delivery each, 10
	// of them failing for good), sources spread over three values plus a
	// rare one.
	const total, batch = 100_000, 500
	for i := 0; i < total; i += batch {
		var items []string
		for j := i; j < i+batch; j++ {
			typ, src, extra := "order.created", []string{"shop", "pos", "app"}[j%3], ""
			if j%100 == 0 {
				typ = "order.big"
			}
			if j%10_000 == 0 {
				extra, src = `,"note":"fail-me"`, "legacy"
			}
			items = append(items, fmt.Sprintf(`{"type":%q,"source":%q,"payload":{"n":%d%s}}`, typ, src, j, extra))
		}
		rec := serveReq(sys.router(), "POST", "/api/events/batch", `{"events":[`+strings.Join(items, ",")+`]}`, "x-api-key", tenant.APIKey)
		require.Equal(b, http.StatusOK, rec.Code, rec.Body.String())
	}
	startWorker(b, sys, dbURL)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var pending, deliveries int
		require.NoError(b, pool.Get(&pending, `SELECT count(*) FROM events WHERE status = 'accepted'`))
		require.NoError(b, pool.Get(&deliveries, `SELECT count(*) FROM deliveries WHERE status = 'pending'`))
		if pending == 0 && deliveries == 0 {
			break
		}
		require.True(b, time.Now().Before(deadline), "%d events, %d deliveries still pending", pending, deliveries)
		time.Sleep(500 * time.Millisecond)
	}
	var stored int
	require.NoError(b, pool.Get(&stored, `SELECT count(*) FROM events WHERE tenant_id = $1`, tenant.ID))
	require.GreaterOrEqual(b, stored, total)
	var event string
	require.NoError(b, pool.Get(&event, `SELECT event_id FROM deliveries WHERE tenant_id = $1 ORDER BY id DESC LIMIT 1`, tenant.ID))
	// A window of about two seconds in the middle of the seeding: a time
	// filter that selects a slice of the events, not all or none.
	var mid time.Time
	require.NoError(b, pool.Get(&mid, `SELECT received_at FROM events WHERE tenant_id = $1 ORDER BY id OFFSET $2 LIMIT 1`, tenant.ID, total/2))
	window := url.Values{"since": {mid.UTC().Add(-time.Second).Format("2006-01-02T15:04:05")},
		"until": {mid.UTC().Add(time.Second).Format("2006-01-02T15:04:05")}}.Encode()
	_, body = br.get("/console/events")
	next := regexp.MustCompile(`href="/console/events(\?[^"]*cursor=[^"]*)" rel="next"`).FindStringSubmatch(body)
	require.NotNil(b, next)

	for _, page := range []struct{ name, path string }{
		{"Overview", "/console/"},
		{"Events", "/console/events"},
		{"EventsPage2", "/console/events" + strings.ReplaceAll(next[1], "&amp;", "&")},
		{"EventsByType", "/console/events?type=order.big"},
		{"EventsByRareSource", "/console/events?source=legacy"},
		{"EventsInTimeWindow", "/console/events?" + window},
		{"EventsByTypeInTimeWindow", "/console/events?type=order.big&" + window},
		{"EventDetail", "/console/events/" + event},
		{"Rules", "/console/rules"},
		{"RuleDetail", "/console/rules/" + rule},
		{"Channels", "/console/channels"},
		{"ChannelDetail", "/console/channels/" + channel},
		{"Deliveries", "/console/deliveries"},
		{"DeliveriesFailed", "/console/deliveries?status=failed"},
		{"DLQ", "/console/dlq"},
		{"DLQByChannel", "/console/dlq?kind=notify.deliver&channelId=" + channel},
		{"Keys", "/console/keys"},
		{"Users", "/console/users"},
	} {
		b.Run(page.name, func(b *testing.B) {
			var took []time.Duration
			for b.Loop() {
				start := time.Now()
				resp, body := br.get(page.path)
				took = append(took, time.Since(start))
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d %s", page.path, resp.StatusCode, body)
				}
				// A person's pace, not a load test: a page makes up to six
				// API calls, and the tenant's management rate limit
				// (enterprise: 200/s, burst 400) would otherwise answer 429.
				b.StopTimer()
				time.Sleep(40 * time.Millisecond)
				b.StartTimer()
			}
			// The median and p95 say more than the mean on a machine whose
			// other tenants take the CPU in bursts.
			slices.Sort(took)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(took[len(took)/2]), "ms-median")
			b.ReportMetric(ms(took[(len(took)*95)/100]), "ms-p95")
		})
	}
}
