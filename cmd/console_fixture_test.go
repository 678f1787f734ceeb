package cmd

import (
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/cmd/console"
	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/modules/rules"
	"github.com/signalops/signalops/platform/pg"
)

// The console tests' fixtures: a browser that keeps cookies and the CSRF
// token, and a system with two tenants, tenant A owning one of everything.

// browser is a cookie-keeping HTTP client of the console that does not
// follow redirects, so each answer can be checked.
type browser struct {
	t    testing.TB
	srv  *httptest.Server
	c    *http.Client
	csrf string // from the last page that had a form
}

func newBrowser(t testing.TB, srv *httptest.Server) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &browser{t: t, srv: srv, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	resp, err := b.c.Do(req)
	require.NoError(b.t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	_ = resp.Body.Close()
	if m := csrfField.FindStringSubmatch(string(body)); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	return resp, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	require.NoError(b.t, err)
	return b.do(req)
}

// post submits a form as a same-origin page would, with the CSRF token of
// the last page unless form sets one.
func (b *browser) post(path string, form url.Values, headers ...string) (*http.Response, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(form.Encode()))
	require.NoError(b.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.srv.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return b.do(req)
}

func (b *browser) signIn(email string) {
	b.t.Helper()
	resp, _ := b.get("/console/")
	require.Equal(b.t, http.StatusOK, resp.StatusCode)
	resp, body := b.post("/console/sign-in", url.Values{"email": {email}, "password": {authtest.Password}, "next": {"/console/"}})
	require.Equal(b.t, http.StatusSeeOther, resp.StatusCode, body)
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// consoleFixture is a system with two tenants; tenant A has one of every
// resource, all reachable from the console.
type consoleFixture struct {
	sys        *system
	srv        *httptest.Server
	a, b       authtest.Tenant
	eventA     string
	channelA   string
	ruleA      string
	deliveryA  string
	deadJobA   int64
	keyA       string
	userA      string
	viewerA    string
	mu         sync.Mutex
	apiCalls   map[string]bool // "GET /api/rules/…" the console made
	secretOfA  string          // the webhook channel's signing secret
	secretsOfA []string
}

func newConsoleFixture(t *testing.T) *consoleFixture {
	t.Helper()
	ctx := t.Context()
	f := &consoleFixture{sys: newTestSystem(t), apiCalls: map[string]bool{}}
	sys := f.sys
	// The console as wired, recording every API call it makes.
	var err error
	sys.console, err = console.New(console.Options{Secret: consoleSecret(sys.cfg.JWTSecret), Logger: slog.New(slog.DiscardHandler),
		RecordAPI: func(method, path string) {
			f.mu.Lock()
			f.apiCalls[method+" "+path] = true
			f.mu.Unlock()
		}})
	require.NoError(t, err)
	f.srv = httptest.NewServer(sys.router())
	t.Cleanup(f.srv.Close)
	// Enterprise: the walks below call many routes in a second.
	f.a = authtest.CreateTenant(ctx, t, sys.db, &authtest.TenantOpts{Plan: new("enterprise")})
	f.b = authtest.CreateTenant(ctx, t, sys.db, &authtest.TenantOpts{Plan: new("enterprise")})

	rec := serveReq(sys.router(), "POST", "/api/events", `{"type":"secret.thing","payload":{"marker":"A-ONLY-PAYLOAD"}}`, "x-api-key", f.a.APIKey)
	require.Equal(t, http.StatusAccepted, rec.Code)
	f.eventA = regexp.MustCompile(`[0-9a-f-]{36}`).FindString(rec.Body.String())
	require.NoError(t, sys.db.Get(&f.keyA, `SELECT id FROM api_keys WHERE tenant_id = $1`, f.a.ID))
	userA, _ := authtest.CreateUser(ctx, t, sys.db, f.a, auth.RoleMember)
	f.userA = userA.String()
	_, f.viewerA = authtest.CreateUser(ctx, t, sys.db, f.a, auth.RoleViewer)
	ch, secret, err := sys.notify.Service.CreateChannel(ctx, f.a.ID, notify.ChannelInput{Name: new("A-ONLY-CHANNEL"), Kind: "webhook",
		Config: []byte(`{"url":"https://a-only.example/hook"}`), Secrets: []byte(`{}`)})
	require.NoError(t, err)
	f.channelA, f.secretOfA = ch.ID.String(), secret
	rule, err := sys.rules.Service.Create(ctx, auth.Principal{TenantID: f.a.ID}, rules.Input{
		Name: new("A-ONLY-RULE"), Definition: []byte(`{"match":{"type":"secret.*"},"actions":[{"channelId":"` + f.channelA + `","template":"x"}]}`)})
	require.NoError(t, err)
	f.ruleA = rule.ID.String()
	require.NoError(t, pg.InTx(ctx, sys.db, func(tx *sqlx.Tx) error {
		return sys.notify.Service.EnqueueTx(ctx, tx, []notify.NewDelivery{{TenantID: f.a.ID, RuleID: rule.ID, RuleVersion: 1,
			ChannelID: ch.ID, Message: "A-ONLY-MESSAGE", Event: notify.EventSnapshot{ID: uuid.MustParse(f.eventA), Type: "secret.thing"}}})
	}))
	require.NoError(t, sys.db.Get(&f.deliveryA, `SELECT id FROM deliveries WHERE tenant_id = $1`, f.a.ID))
	require.NoError(t, sys.db.Get(&f.deadJobA, `UPDATE river_job SET state = 'discarded', finalized_at = now()
		WHERE kind = 'notify.deliver' AND args->>'tenant_id' = $1 RETURNING id`, f.a.ID.String()))
	_, err = sys.db.Exec(`UPDATE deliveries SET status = 'failed', last_error = 'A-ONLY-ERROR' WHERE id = $1`, f.deliveryA)
	require.NoError(t, err)
	f.secretsOfA = []string{f.eventA, f.keyA, f.userA, f.a.OwnerEmail, "A-ONLY-PAYLOAD", "A-ONLY-RULE", "A-ONLY-CHANNEL",
		"A-ONLY-MESSAGE", "A-ONLY-ERROR", "a-only.example", f.channelA, f.deliveryA, f.secretOfA}
	return f
}
