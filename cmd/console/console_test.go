package console

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"
)

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"/console/rules/1?x=2", "/console/rules/1?x=2"},
		{"/console/", "/console/"},
		{"", "/console/"},
		{"//evil.example/console/", "/console/"},
		{"https://evil.example/console/", "/console/"},
		{"/api/me", "/console/"},
		{`/console\..\api`, "/console/"},
		{"/consolex", "/console/"},
		{"/console/../api/me", "/console/"},
		{"/console/rules/../events", "/console/events"},
		{"javascript:alert(1)", "/console/"},
	} {
		require.Equal(t, tt.want, safeNext(tt.in), tt.in)
	}
}

func TestIndentWithPaths(t *testing.T) {
	t.Parallel()
	text, lines, err := indentWithPaths([]byte(`{"match":{"type":"a.*","all":[{"field":"payload.n","op":"gtx","value":1}]},"actions":[]}`), "definition")
	require.NoError(t, err)
	require.Equal(t, `{
  "match": {
    "type": "a.*",
    "all": [
      {
        "field": "payload.n",
        "op": "gtx",
        "value": 1
      }
    ]
  },
  "actions": []
}`, text)
	require.Equal(t, 7, lines["definition.match.all[0].op"])
	require.Equal(t, 12, lines["definition.actions"])
	require.Equal(t, 5, lineOf(lines, "definition.match.all[0].missing"), "a missing member is shown on its object")

	ed := editorFor("{\n  \"match\": oops\n}", "definition",
		&apiError{Errors: []fieldError{{Field: "definition", Message: "is not valid JSON"}}})
	require.Equal(t, 2, ed.Problems[0].Line, "a syntax error is placed at its line")
}

func TestLineDiff(t *testing.T) {
	t.Parallel()
	d, ok := lineDiff("a\nb\nc", "a\nx\nc\nd")
	require.True(t, ok)
	require.Equal(t, []diffLine{{"=", "a"}, {"-", "b"}, {"+", "x"}, {"=", "c"}, {"+", "d"}}, d)
	_, ok = lineDiff(strings.Repeat("x\n", 2000), strings.Repeat("y\n", 2000))
	require.False(t, ok, "too long to compare")
}

func TestChart(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ n, want int64 }{{0, 4}, {3, 4}, {7, 8}, {100, 100}, {101, 200}, {999, 1000}, {12_345, 20_000}} {
		require.Equal(t, tt.want, niceCeil(tt.n), tt.n)
	}
	var days []struct {
		Date  string `json:"date"`
		Count int64  `json:"count"`
	}
	require.NoError(t, json.Unmarshal([]byte(`[{"date":"2026-11-01","count":0},{"date":"2026-11-02","count":1},{"date":"2026-11-03","count":1000}]`), &days))
	c := newChart(days, "2026-11-03")
	require.Len(t, c.Bars, 3)
	require.Equal(t, int64(1001), c.Total)
	require.Equal(t, 0, c.Bars[0].H)
	require.Equal(t, 1, c.Bars[1].H, "a day with events is never invisible")
	require.Equal(t, c.BaseY-chartTop, c.Bars[2].H, "the busiest day reaches the top")
	require.True(t, c.Bars[2].Today)
	require.Equal(t, "1k", c.Ticks[4].Label)
}

// TestLineageAndHealthRender renders the event and channel pages from API
// bodies in the shape SPEC §8 and §9 give (matches with fired/reason,
// deliveries with fallbackOf, channels with health): the pages show them
// as soon as the API sends them.
func TestLineageAndHealthRender(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Secret: []byte("k"), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	render := func(name string, p any) string {
		c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/", nil), httptest.NewRecorder())
		rec := c.Response().Writer.(*httptest.ResponseRecorder)
		require.NoError(t, s.renderPage(c, http.StatusOK, name, view{Title: "t", Me: &me{}, CanWrite: true, P: p}))
		return rec.Body.String()
	}

	var ev eventDetail
	require.NoError(t, json.Unmarshal([]byte(`{"id":"e1","type":"order.created","payload":{},"status":"processed",
		"matches":[{"ruleId":"r1","ruleVersion":2,"fired":false,"reason":"threshold 2 of 3 within 1m"},{"ruleId":"r2","ruleVersion":1,"fired":true,"reason":null}],
		"deliveries":[{"id":"d2","channelId":"c1","status":"failed","ruleId":"r2","attempts":3,"fallbackOf":"d1aaaaaaaa"}]}`), &ev))
	d := eventDetailData{Event: ev.event}
	for _, m := range ev.Matches {
		d.Matches = append(d.Matches, matchRow{RuleID: m.RuleID, Version: m.RuleVersion, Fired: m.Fired, Reason: m.Reason})
	}
	d.Deliveries = []deliveryRow{{delivery: delivery{ID: "d2", ChannelID: "c1", Status: "failed"}, FallbackOf: ev.Deliveries[0].FallbackOf}}
	body := render("event", d)
	require.Contains(t, body, `<span class="status s-pending">not fired</span>: threshold 2 of 3 within 1m`)
	require.Contains(t, body, `<span class="status s-succeeded">fired</span>`)
	require.Contains(t, body, "fallback of delivery <code>d1aaaaaa</code>")
	require.Contains(t, body, "Retry delivery")

	var ch channel
	require.NoError(t, json.Unmarshal([]byte(`{"id":"c1","name":"hook","kind":"webhook","config":{"url":"https://x.example"},
		"health":{"state":"open","consecutiveFailures":10,"openedAt":"2026-11-03T10:00:00Z","nextProbeAt":"2026-11-03T10:00:30Z",
		"lastError":"endpoint responded 503 Service Unavailable","pausedUntil":null}}`), &ch))
	fields, label, _ := kindFields("webhook")
	body = render("channel", channelPage{channelForm: channelForm{Channel: &ch, Kind: ch.Kind, KindLabel: label, Name: ch.Name, Fields: fields}, Health: ch.Health})
	require.Contains(t, body, `<span class="status c-open">failing (circuit open)</span>`)
	require.Contains(t, body, "<dd>10</dd>")
	require.Contains(t, body, "<dt>Next probe</dt><dd>2026-11-03 10:00:30 UTC</dd>")
	require.Contains(t, body, "<q>endpoint responded 503 Service Unavailable</q>")
	require.Contains(t, body, `href="/console/dlq?channelId=c1"`)
}

// TestPrivateWebhookURL: when the server refuses webhooks to private
// addresses, the form says so for a URL that names one (or localhost);
// a host name is judged only when a delivery resolves it.
func TestPrivateWebhookURL(t *testing.T) {
	t.Parallel()
	public := func(a netip.Addr) bool { return !a.IsLoopback() && !a.IsPrivate() && !a.IsUnspecified() }
	refusing := &Console{opts: Options{WebhookAddrAllowed: public}}
	allowing := &Console{}
	for _, tt := range []struct {
		url     string
		refused bool
	}{
		{"http://localhost:8080/hook", true},
		{"http://LOCALHOST./hook", true},
		{"http://api.localhost/hook", true},
		{"http://127.0.0.1:9000/x", true},
		{"http://10.1.2.3/x", true},
		{"http://[::1]:8080/x", true},
		{"http://0.0.0.0/x", true},
		{"https://hooks.example.com/x", false},
		{"https://93.184.216.34/x", false},
		{"not a url at all", false}, // the API says what is wrong with it
	} {
		t.Run(tt.url, func(t *testing.T) {
			msg := refusing.privateURL(tt.url)
			require.Equal(t, tt.refused, msg != "", msg)
			if tt.refused {
				require.Contains(t, msg, "WEBHOOK_ALLOW_PRIVATE=true")
			}
			require.Empty(t, allowing.privateURL(tt.url), "WEBHOOK_ALLOW_PRIVATE=true lets every address through")
		})
	}
}

// TestSignInAsksForTheTenant: when the API answers 409 tenant_required
// (an address and password that sign in to several tenants), the form
// asks for the tenant and sends it with the next attempt.
func TestSignInAsksForTheTenant(t *testing.T) {
	t.Parallel()
	s, err := New(Options{Secret: []byte("k"), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	e := echo.New()
	var got []map[string]string
	e.POST("/api/auth/login", func(c echo.Context) error {
		var body map[string]string
		require.NoError(t, c.Bind(&body))
		got = append(got, body)
		if body["tenant"] == "" {
			return c.JSONBlob(http.StatusConflict, []byte(`{"status":409,"code":"tenant_required","detail":"Name the tenant."}`))
		}
		return c.JSON(http.StatusOK, map[string]any{"accessToken": "t", "tokenType": "Bearer", "expiresIn": 3600})
	})
	s.Routes(e)

	post := func(form string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/console/sign-in", strings.NewReader(form+"&csrf=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: loginCookie, Value: "x"})
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec
	}
	rec := post("email=a%40b.test&password=pw")
	require.Equal(t, http.StatusConflict, rec.Code)
	require.Contains(t, rec.Body.String(), `<label for="tenant">Tenant</label>`)
	require.NotContains(t, got[0], "tenant", "no tenant is sent until one is asked for")
	rec = post("email=a%40b.test&password=pw&tenant=acme")
	require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
	require.Equal(t, "acme", got[1]["tenant"])
}
