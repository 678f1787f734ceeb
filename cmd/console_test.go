package cmd

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/cmd/console"
	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/docs"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/platform/pg"
)

// consoleCSP is the console's Content-Security-Policy: its own script and
// stylesheet, nothing inline, no other origin, no framing.
const consoleCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func TestConsole(t *testing.T) {
	t.Parallel()
	f := newConsoleFixture(t)
	// Sign-ins are limited to 10 per client address: the owner's session
	// serves several subtests.
	owner := newBrowser(t, f.srv)
	owner.signIn(f.a.OwnerEmail)

	t.Run("SignInSessionAndSignOut", func(t *testing.T) {
		br := newBrowser(t, f.srv)
		resp, body := br.get("/console/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, `<label for="email">Email</label>`)
		require.Contains(t, body, `<label for="password">Password</label>`)
		require.Contains(t, body, `<button type="submit">Sign in</button>`)

		resp, body = br.post("/console/sign-in", url.Values{"email": {f.a.OwnerEmail}, "password": {"wrong password"}})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		require.Contains(t, body, "The email or password is wrong.")
		require.Nil(t, cookieNamed(resp, "signalops_session"))

		resp, _ = br.post("/console/sign-in", url.Values{"csrf": {"forged"}, "email": {f.a.OwnerEmail}, "password": {authtest.Password}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "sign-in needs the form's token")

		// A deep link while signed out comes back after sign-in.
		resp, _ = br.get("/console/rules/" + f.ruleA)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/?next="+url.QueryEscape("/console/rules/"+f.ruleA), resp.Header.Get("Location"))
		br.get(resp.Header.Get("Location"))
		resp, _ = br.post("/console/sign-in", url.Values{"email": {f.a.OwnerEmail}, "password": {authtest.Password}, "next": {"/console/rules/" + f.ruleA}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, "/console/rules/"+f.ruleA, resp.Header.Get("Location"))
		ck := cookieNamed(resp, "signalops_session")
		require.NotNil(t, ck)
		require.True(t, ck.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
		require.Equal(t, "/console/", ck.Path)
		require.False(t, ck.Secure, "plain HTTP here")
		require.InDelta(t, 3600, ck.MaxAge, 5, "the session expires with the token")

		resp, body = br.get("/console/")
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Contains(t, body, "<h1>Overview</h1>")
		csp := resp.Header.Get("Content-Security-Policy")
		require.Contains(t, csp, "script-src 'self'")
		require.Contains(t, csp, "frame-ancestors 'none'")
		require.NotContains(t, csp, "unsafe-inline")
		require.NotContains(t, body, "<script>", "no inline script")
		require.NotContains(t, body, " style=", "no inline style")
		require.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

		resp, _ = br.post("/console/sign-out", nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		require.Equal(t, -1, cookieNamed(resp, "signalops_session").MaxAge)
		resp, _ = br.get("/console/rules")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, "signed out")
	})

	t.Run("SecureCookieBehindTLS", func(t *testing.T) {
		get := httptest.NewRequest(http.MethodGet, "/console/", nil)
		get.TLS = &tls.ConnectionState{}
		rec := httptest.NewRecorder()
		f.sys.router().ServeHTTP(rec, get)
		login := cookieNamed(&http.Response{Header: rec.Header()}, "signalops_login")
		require.NotNil(t, login)
		require.True(t, login.Secure)
		form := url.Values{"csrf": {login.Value}, "email": {f.a.OwnerEmail}, "password": {authtest.Password}}
		post := httptest.NewRequest(http.MethodPost, "/console/sign-in", strings.NewReader(form.Encode()))
		post.TLS = &tls.ConnectionState{}
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		post.AddCookie(login)
		rec = httptest.NewRecorder()
		f.sys.router().ServeHTTP(rec, post)
		require.Equal(t, http.StatusSeeOther, rec.Code, rec.Body.String())
		ck := cookieNamed(&http.Response{Header: rec.Header()}, "signalops_session")
		require.NotNil(t, ck)
		require.True(t, ck.Secure)
		require.True(t, ck.HttpOnly)
		require.Equal(t, http.SameSiteStrictMode, ck.SameSite)
	})

	t.Run("EndedSessionAndOpenRedirect", func(t *testing.T) {
		br := newBrowser(t, f.srv)
		u, _ := url.Parse(f.srv.URL + "/console/")
		br.c.Jar.SetCookies(u, []*http.Cookie{{Name: "signalops_session", Value: "not.a.token", Path: "/console/"}})
		resp, _ := br.get("/console/events")
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body := br.get(resp.Header.Get("Location"))
		require.Contains(t, body, "Your session ended. Please sign in again.")

		// (safeNext's own test covers more shapes; sign-ins are rate limited
		// per client address, 10 at once.)
		for _, next := range []string{"//evil.example/x", "https://evil.example/console/"} {
			br := newBrowser(t, f.srv)
			br.get("/console/")
			resp, body := br.post("/console/sign-in", url.Values{"email": {f.a.OwnerEmail}, "password": {authtest.Password}, "next": {next}})
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
			require.Equal(t, "/console/", resp.Header.Get("Location"), next)
		}
	})

	t.Run("EveryStateChangeNeedsTheCSRFToken", func(t *testing.T) {
		br := owner
		br.get("/console/keys")
		count := func() (n int) {
			require.NoError(t, f.sys.db.Get(&n, `SELECT count(*) FROM api_keys WHERE tenant_id = $1`, f.a.ID))
			return n
		}
		before := count()
		resp, _ := br.post("/console/keys", url.Values{"csrf": {""}, "label": {"x"}, "scopes": {"events:write"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		resp, _ = br.post("/console/keys", url.Values{"csrf": {"forged"}, "label": {"x"}, "scopes": {"events:write"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		br.get("/console/keys")
		resp, _ = br.post("/console/keys", url.Values{"label": {"x"}, "scopes": {"events:write"}}, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example")
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "a cross-site form post is refused even with a token")
		require.Equal(t, before, count(), "nothing changed")

		// Every POST route refuses a missing token before doing anything.
		for _, r := range f.sys.router().Routes() {
			if r.Method != http.MethodPost || !strings.HasPrefix(r.Path, console.Prefix+"/") {
				continue
			}
			path := regexp.MustCompile(`:\w+`).ReplaceAllString(r.Path, f.ruleA)
			resp, _ := br.post(path, url.Values{"csrf": {""}})
			require.Contains(t, []int{http.StatusForbidden, http.StatusSeeOther}, resp.StatusCode, r.Path)
			if resp.StatusCode == http.StatusSeeOther { // sign-out: no token, no effect
				require.Equal(t, "/sign-out", strings.TrimPrefix(r.Path, console.Prefix))
			}
		}
		var enabled bool
		require.NoError(t, f.sys.db.Get(&enabled, `SELECT enabled FROM rules WHERE id = $1`, f.ruleA))
		require.True(t, enabled)
	})

	t.Run("AnotherTenantsIdsAnswer404", func(t *testing.T) {
		br := newBrowser(t, f.srv)
		br.signIn(f.b.OwnerEmail)
		// B has nothing yet: its overview walks it to a first notification.
		_, body := br.get("/console/")
		require.Contains(t, body, "Get started: your first notification")
		require.Contains(t, body, `<a href="/console/channels/new">Create a channel</a>`)
		require.Contains(t, body, "curl -sS -X POST "+f.srv.URL+"/api/events")
		require.NotContains(t, body, "Done: ")
		_, body = owner.get("/console/")
		require.NotContains(t, body, "Get started", "A has a channel, a rule and events")
		idOf := map[string]string{
			"/console/events/:id":           f.eventA,
			"/console/events/:id/test":      f.eventA,
			"/console/rules/:id":            f.ruleA,
			"/console/rules/:id/enabled":    f.ruleA,
			"/console/rules/:id/test":       f.ruleA,
			"/console/rules/:id/backtest":   f.ruleA,
			"/console/rules/:id/rollback":   f.ruleA,
			"/console/rules/:id/delete":     f.ruleA,
			"/console/channels/:id":         f.channelA,
			"/console/channels/:id/test":    f.channelA,
			"/console/channels/:id/delete":  f.channelA,
			"/console/deliveries/:id/retry": f.deliveryA,
			"/console/dlq/:id/retry":        strconv.FormatInt(f.deadJobA, 10),
			"/console/dlq/:id/discard":      strconv.FormatInt(f.deadJobA, 10),
			"/console/keys/:id/revoke":      f.keyA,
			"/console/users/:id/role":       f.userA,
			"/console/users/:id/remove":     f.userA,
			"/console/static/:name":         "",
			"/console/*":                    "",
			"/console/events/stream":        "",
			"/console/deliveries/retry-all": "",
			"/console/dlq/retry-all":        "",
			"/console/rules/new":            "",
			"/console/channels/new":         "",
			"/console/sign-in":              "",
			"/console/sign-out":             "",
			"/console/":                     "",
			"/console/events":               "",
			"/console/rules":                "",
			"/console/channels":             "",
			"/console/deliveries":           "",
			"/console/dlq":                  "",
			"/console/keys":                 "",
			"/console/users":                "",
			"/console":                      "",
		}
		walked := 0
		for _, r := range f.sys.router().Routes() {
			if !strings.HasPrefix(r.Path, console.Prefix) {
				continue
			}
			id, ok := idOf[r.Path]
			require.True(t, ok, "console route %s %s is not in the isolation walk: add it", r.Method, r.Path)
			if id == "" {
				continue
			}
			path := strings.Replace(r.Path, ":id", id, 1)
			form := url.Values{"version": {"1"}, "enabled": {"false"}, "role": {"viewer"}, "ruleId": {f.ruleA},
				"event": {`{"type":"secret.x","payload":{}}`}, "since": {"2020-01-01T00:00"}, "until": {"2030-01-01T00:00"},
				"definition": {`{"match":{"type":"x"},"actions":[]}`}, "name": {"stolen"}}
			var resp *http.Response
			var body string
			if r.Method == http.MethodGet {
				resp, body = br.get(path)
			} else {
				br.get("/console/rules") // a fresh token of B's session
				resp, body = br.post(path, form)
			}
			walked++
			require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s as tenant B", r.Method, r.Path)
			for _, s := range f.secretsOfA {
				require.NotContains(t, body, s, "%s %s as tenant B leaked tenant A's data", r.Method, r.Path)
			}
		}
		require.GreaterOrEqual(t, walked, 19)
		// Filters naming A's ids select nothing of A's, and "retry all
		// matching" retries only B's own (none).
		for _, path := range []string{"/console/dlq?channelId=" + f.channelA, "/console/deliveries?channelId=" + f.channelA + "&eventId=" + f.eventA,
			"/console/deliveries?status=failed&eventId=" + f.eventA} {
			resp, body := br.get(path)
			require.Equal(t, http.StatusOK, resp.StatusCode, path)
			for _, s := range f.secretsOfA {
				if s != f.channelA && s != f.eventA { // echoed back in B's own filter fields
					require.NotContains(t, body, s, "%s as tenant B leaked tenant A's data", path)
				}
			}
		}
		for _, form := range []url.Values{{"channelId": {f.channelA}}, {}} {
			br.get("/console/dlq")
			resp, _ := br.post("/console/dlq/retry-all", form)
			require.Equal(t, http.StatusSeeOther, resp.StatusCode)
			_, body := br.get(resp.Header.Get("Location"))
			require.Contains(t, body, "Nothing to retry: no entry matches.")
		}
		br.get("/console/deliveries?status=failed")
		resp, _ := br.post("/console/deliveries/retry-all", url.Values{"channelId": {f.channelA}, "eventId": {f.eventA}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = br.get(resp.Header.Get("Location"))
		require.Contains(t, body, "0 retried.")
		// Nothing of A's changed.
		var enabled bool
		var revoked, deleted *string
		require.NoError(t, f.sys.db.Get(&enabled, `SELECT enabled FROM rules WHERE id = $1`, f.ruleA))
		require.True(t, enabled)
		require.NoError(t, f.sys.db.Get(&revoked, `SELECT revoked_at::text FROM api_keys WHERE id = $1`, f.keyA))
		require.Nil(t, revoked)
		require.NoError(t, f.sys.db.Get(&deleted, `SELECT deleted_at::text FROM channels WHERE id = $1`, f.channelA))
		require.Nil(t, deleted)
		var state string
		require.NoError(t, f.sys.db.Get(&state, `SELECT state FROM river_job WHERE id = $1`, f.deadJobA))
		require.Equal(t, "discarded", state)
		var status string
		require.NoError(t, f.sys.db.Get(&status, `SELECT status FROM deliveries WHERE id = $1`, f.deliveryA))
		require.Equal(t, "failed", status)
	})

	t.Run("NoInlineScriptStyleOrHandlersOnAnyPage", func(t *testing.T) {
		inline := regexp.MustCompile(`(?i)<script(\s[^>]*)?>[^<]|\sstyle=|\son[a-z]+=|javascript:`)
		fresh := newBrowser(t, f.srv)
		resp, body := fresh.get("/console/")
		require.False(t, inline.MatchString(body), "sign-in: %s", inline.FindString(body))
		require.Equal(t, http.StatusOK, resp.StatusCode)
		for _, path := range []string{"/console/", "/console/events", "/console/events/" + f.eventA, "/console/rules",
			"/console/rules/new", "/console/rules/" + f.ruleA, "/console/channels", "/console/channels/new",
			"/console/channels/new?kind=webhook", "/console/channels/" + f.channelA, "/console/deliveries",
			"/console/deliveries?status=failed", "/console/dlq", "/console/keys", "/console/users", "/console/no-such-page"} {
			resp, body := owner.get(path)
			require.Contains(t, []int{http.StatusOK, http.StatusNotFound}, resp.StatusCode, path)
			require.Equal(t, consoleCSP, resp.Header.Get("Content-Security-Policy"), path)
			require.False(t, inline.MatchString(body), "%s: %s", path, inline.FindString(body))
			require.Contains(t, body, `<script src="/console/static/console.js?v=`, path)
		}
	})

	t.Run("ViewerReadsOnly", func(t *testing.T) {
		br := newBrowser(t, f.srv)
		br.signIn(f.viewerA)
		for path, absent := range map[string][]string{
			"/console/":                         {">API keys<", ">Users<", "Get started"},
			"/console/rules":                    {"New rule"},
			"/console/rules/" + f.ruleA:         {"Save as a new version", "Run dry run", "Disable rule", "Delete rule", "Roll back", "<textarea"},
			"/console/channels":                 {"New channel"},
			"/console/channels/" + f.channelA:   {"Send a test message", "Save channel", "Delete channel", "<input id=\"ch-"},
			"/console/events/" + f.eventA:       {"Retry delivery", "Test this event against the rule"},
			"/console/deliveries?status=failed": {"Retry all matching", ">Retry<"},
			"/console/dlq":                      {"Retry entry", "Discard entry", "Retry all matching"},
		} {
			resp, body := br.get(path)
			require.Equal(t, http.StatusOK, resp.StatusCode, path)
			for _, s := range absent {
				require.NotContains(t, body, s, "%s shows %q to a viewer", path, s)
			}
		}
		_, body := br.get("/console/rules/" + f.ruleA)
		require.Contains(t, body, "A-ONLY-RULE", "a viewer reads")
		resp, _ := br.get("/console/keys")
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		br.get("/console/rules")
		resp, _ = br.post("/console/rules/"+f.ruleA+"/enabled", url.Values{"enabled": {"false"}})
		require.Equal(t, http.StatusForbidden, resp.StatusCode, "the API refuses a viewer's change")
		var enabled bool
		require.NoError(t, f.sys.db.Get(&enabled, `SELECT enabled FROM rules WHERE id = $1`, f.ruleA))
		require.True(t, enabled)
	})

	t.Run("SecretsOnlyInTheResponseThatCreatedThem", func(t *testing.T) {
		br := owner
		br.get("/console/channels/new?kind=webhook")
		resp, body := br.post("/console/channels", url.Values{"kind": {"webhook"}, "name": {"hooked"}, "config.url": {"https://hooked.example/x"}})
		require.Equal(t, http.StatusCreated, resp.StatusCode, body)
		secret := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`).FindString(html.UnescapeString(body))
		require.NotEmpty(t, secret)
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
		id := regexp.MustCompile(`/console/channels/([0-9a-f-]{36})`).FindStringSubmatch(body)[1]
		for _, path := range []string{"/console/channels", "/console/channels/" + id, "/console/rules/new"} {
			_, body := br.get(path)
			require.NotContains(t, html.UnescapeString(body), secret, path)
			require.NotRegexp(t, `whsec_[A-Za-z0-9+/=]{8}`, html.UnescapeString(body), path)
		}

		br.get("/console/keys")
		resp, body = br.post("/console/keys", url.Values{"label": {"ci"}, "scopes": {"events:write", "events:read"}})
		require.Equal(t, http.StatusCreated, resp.StatusCode, body)
		key := regexp.MustCompile(`so_live_[A-Za-z0-9]{20,}`).FindString(body)
		require.NotEmpty(t, key)
		_, body = br.get("/console/keys")
		require.NotContains(t, body, key)
		require.Contains(t, body, key[:14], "the list shows the prefix")
	})

	t.Run("FieldErrorsAtTheirJSONPath", func(t *testing.T) {
		br := owner
		br.get("/console/rules/" + f.ruleA)
		resp, body := br.post("/console/rules/"+f.ruleA, url.Values{"name": {"A-ONLY-RULE"},
			"definition": {`{"match":{"type":"secret.*","all":[{"field":"payload.n","op":"gtx","value":1}]},"actions":[{"channelId":"` + f.channelA + `","template":"x"}]}`}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, html.UnescapeString(body), `Line 7, <code>definition.match.all[0].op</code>: unknown operator "gtx"`)
		resp, body = br.post("/console/rules/"+f.ruleA, url.Values{"name": {"A-ONLY-RULE"}, "definition": {"{\n  \"match\": {\n    \"type\": oops\n}"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, "line 3: invalid character")
	})

	t.Run("Workflows", func(t *testing.T) {
		br := owner
		hooks := &consoleHooks{}
		hookSrv := httptest.NewServer(hooks)
		t.Cleanup(hookSrv.Close)
		loc := func(resp *http.Response) string { return resp.Header.Get("Location") }

		// A channel of every kind through its own form; a test message.
		for kind, form := range map[string]url.Values{
			"telegram": {"config.chatId": {"@ops_alerts"}, "secrets.botToken": {"123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi"}},
			"whatsapp": {"config.phoneNumberId": {"1234567890"}, "config.to": {"+4915112345678"}, "config.template.name": {"alert"},
				"config.template.language": {"en_US"}, "secrets.accessToken": {"EAAG-token"}},
			"email": {"config.to": {"a@example.test, b@example.test"}, "config.subject": {"Alert"}},
		} {
			br.get("/console/channels/new?kind=" + kind)
			form.Set("kind", kind)
			form.Set("name", kind+" channel")
			resp, body := br.post("/console/channels", form)
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
			_, body = br.get(loc(resp))
			require.Contains(t, body, "<h1>Channel "+kind+" channel</h1>")
			require.NotContains(t, body, "123456:ABC", "a secret is never shown")
			require.NotContains(t, body, "EAAG-token")
		}
		br.get("/console/channels/new?kind=email")
		resp, body := br.post("/console/channels", url.Values{"kind": {"email"}, "name": {"bad"}, "config.to": {"not an address"}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode)
		require.Contains(t, body, `aria-invalid="true"`, "the field error lands on its input")

		br.get("/console/channels/new?kind=webhook")
		resp, body = br.post("/console/channels", url.Values{"kind": {"webhook"}, "name": {"hooks"}, "config.url": {hookSrv.URL + "/h"}})
		require.Equal(t, http.StatusCreated, resp.StatusCode, body)
		channel := regexp.MustCompile(`/console/channels/([0-9a-f-]{36})`).FindStringSubmatch(body)[1]
		br.get("/console/channels/" + channel)
		_, body = br.post("/console/channels/"+channel+"/test", nil)
		require.Contains(t, body, "<strong>Sent.</strong> Status 204")
		require.Equal(t, int32(1), hooks.calls.Load())
		resp, _ = br.post("/console/channels/"+channel, url.Values{"name": {"hooks renamed"}, "config.url": {hookSrv.URL + "/h2"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = br.get("/console/channels/" + channel)
		require.Contains(t, body, "hooks renamed")
		require.Contains(t, body, hookSrv.URL+"/h2")

		// A rule: edit (version 2), diff, disable, backtest, rollback.
		br.get("/console/rules/new")
		resp, _ = br.post("/console/rules", url.Values{"name": {"flow"}, "enabled": {"on"}, "type": {"flow.*"},
			"channelId": {channel}, "template": {"flow {{.payload.n}}"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		rule := loc(resp)
		rec := serveReq(f.sys.router(), "POST", "/api/events", `{"type":"flow.started","source":"flows","payload":{"n":1}}`, "x-api-key", f.a.APIKey)
		require.Equal(t, http.StatusAccepted, rec.Code)
		br.get(rule)
		resp, _ = br.post(rule, url.Values{"name": {"flow"}, "definition": {`{"match":{"type":"flow.*","all":[{"field":"payload.n","op":"gte","value":1}]},"actions":[{"channelId":"` + channel + `","template":"flow {{.payload.n}}"}]}`}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = br.get(rule + "?from=1&to=2")
		require.Contains(t, body, "Saved as version 2.")
		require.Regexp(t, `<ins><span class="sr-only">added: </span>\+ +"all": \[</ins>`, html.UnescapeString(body))
		_, _ = br.post(rule+"/enabled", url.Values{"enabled": {"false"}})
		_, body = br.get(rule)
		require.Contains(t, body, "Enable rule")
		now := time.Now().UTC()
		_, body = br.post(rule+"/backtest", url.Values{"since": {now.Add(-time.Hour).Format("2006-01-02T15:04")}, "until": {now.Add(time.Hour).Format("2006-01-02T15:04")}})
		require.Contains(t, body, "<strong>1 matched, 1 would have fired</strong>")
		require.Contains(t, body, "flow 1")
		_, body = br.post(rule+"/test", url.Values{"event": {`{"type":"flow.x","payload":{"n":7}}`}})
		require.Contains(t, body, "<q>flow 7</q>", "a dry run shows the message it would send")
		_, body = br.post(rule+"/test", url.Values{"event": {`{"type":"flow.x","payload":{"n":0}}`}})
		require.Contains(t, body, "<strong>Not matched.</strong> match.all[0]: payload.n gte 1: got 0")
		event := regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f-]{27}`).FindString(rec.Body.String())
		br.get("/console/events/" + event)
		_, body = br.post("/console/events/"+event+"/test", url.Values{"ruleId": {strings.TrimPrefix(rule, "/console/rules/")}})
		require.Contains(t, body, "<strong>Matched.</strong>")
		resp, _ = br.post(rule+"/rollback", url.Values{"version": {"1"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = br.get(rule)
		require.Contains(t, body, "version 3 has the definition of version 1")

		// Events: filters by type, source and time.
		_, body = br.get("/console/events?type=flow.started")
		require.Contains(t, body, "<td>flow.started</td>")
		require.NotContains(t, body, "secret.thing")
		_, body = br.get("/console/events?source=flows&since=" + url.QueryEscape(now.Add(-time.Hour).Format("2006-01-02T15:04")))
		require.Contains(t, body, "<td>flows</td>")
		_, body = br.get("/console/events?since=" + url.QueryEscape(now.Add(time.Hour).Format("2006-01-02T15:04")))
		require.Contains(t, body, "No events match these filters.")
		resp, body = br.get("/console/events?type=" + url.QueryEscape("not a type"))
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Contains(t, body, "must be an event type")

		// Deliveries and the DLQ: retry all matching, discard.
		_, err := f.sys.db.Exec(`UPDATE deliveries SET status = 'failed' WHERE tenant_id = $1 AND channel_id = $2`, f.a.ID, f.channelA)
		require.NoError(t, err)
		br.get("/console/deliveries?status=failed")
		resp, _ = br.post("/console/deliveries/retry-all", url.Values{"channelId": {f.channelA}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		_, body = br.get(loc(resp))
		require.Contains(t, body, "1 retried.")
		// A delivery of the second channel too, to tell the filter's work.
		require.NoError(t, pg.InTx(t.Context(), f.sys.db, func(tx *sqlx.Tx) error {
			return f.sys.notify.Service.EnqueueTx(t.Context(), tx, []notify.NewDelivery{{TenantID: f.a.ID,
				RuleID: uuid.MustParse(strings.TrimPrefix(rule, "/console/rules/")), RuleVersion: 1, ChannelID: uuid.MustParse(channel),
				Message: "flow 1", Event: notify.EventSnapshot{ID: uuid.MustParse(event), Type: "flow.started"}}})
		}))
		_, err = f.sys.db.Exec(`UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE kind = 'notify.deliver' AND args->>'tenant_id' = $1`, f.a.ID.String())
		require.NoError(t, err)
		var deadOfA, deadOfHooks int
		require.NoError(t, f.sys.db.Get(&deadOfA, `SELECT count(*) FROM river_job WHERE state = 'discarded' AND args->>'channel_id' = $1`, f.channelA))
		require.NoError(t, f.sys.db.Get(&deadOfHooks, `SELECT count(*) FROM river_job WHERE state = 'discarded' AND args->>'channel_id' = $1`, channel))
		require.Equal(t, 1, deadOfA)
		require.Equal(t, 1, deadOfHooks)
		calledBefore := map[string]bool{}
		f.mu.Lock()
		for call := range f.apiCalls {
			calledBefore[call] = true
		}
		f.mu.Unlock()
		// The page's filter selects the entries, and "retry all matching"
		// retries those (POST /api/dlq/retry with the same filter), no more.
		_, body = br.get("/console/dlq?kind=notify.deliver&channelId=" + f.channelA)
		require.Equal(t, 1, strings.Count(body, ">Retry entry "), "only channel A's entry is listed")
		require.Contains(t, body, `<input type="hidden" name="channelId" value="`+f.channelA+`">`)
		_, body = br.get("/console/dlq?since=" + url.QueryEscape(now.Add(time.Hour).Format("2006-01-02T15:04")))
		require.Contains(t, body, "The dead-letter queue is empty for these filters.")
		resp, _ = br.post("/console/dlq/retry-all", url.Values{"kind": {"notify.deliver"}, "channelId": {f.channelA}})
		require.Equal(t, "/console/dlq?channelId="+f.channelA+"&kind=notify.deliver", loc(resp))
		_, body = br.get(loc(resp))
		require.Contains(t, body, "1 entry is queued to run again.")
		require.Contains(t, body, "The dead-letter queue is empty for these filters.")
		resp, _ = br.post("/console/dlq/retry-all", url.Values{"channelId": {channel}, "since": {now.Add(-time.Hour).Format("2006-01-02T15:04")}})
		_, body = br.get(loc(resp))
		require.Contains(t, body, "1 entry is queued to run again.")
		f.mu.Lock()
		for call := range f.apiCalls {
			require.False(t, regexp.MustCompile(`^POST /api/dlq/\d+/retry$`).MatchString(call) && !calledBefore[call],
				"retry all matching is one bulk call, not a loop: %s", call)
		}
		require.True(t, f.apiCalls["POST /api/dlq/retry"])
		f.mu.Unlock()
		var dead int64
		_, err = f.sys.db.Exec(`UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE kind = 'notify.deliver' AND args->>'tenant_id' = $1`, f.a.ID.String())
		require.NoError(t, err)
		require.NoError(t, f.sys.db.Get(&dead, `SELECT min(id) FROM river_job WHERE state = 'discarded' AND args->>'tenant_id' = $1`, f.a.ID.String()))
		br.get("/console/dlq")
		resp, _ = br.post(fmt.Sprintf("/console/dlq/%d/discard", dead), nil)
		_, body = br.get(loc(resp))
		require.Contains(t, body, fmt.Sprintf("Entry %d discarded.", dead))

		// The live tail relays the API's stream.
		streamCtx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(streamCtx, http.MethodGet, f.srv.URL+"/console/events/stream?type=flow.started", nil)
		require.NoError(t, err)
		req.Header.Set("Last-Event-ID", "00000000-0000-7000-8000-000000000000")
		sresp, err := br.c.Do(req)
		require.NoError(t, err)
		require.Equal(t, "text/event-stream", sresp.Header.Get("Content-Type"))
		got, _ := io.ReadAll(sresp.Body) // until the deadline
		_ = sresp.Body.Close()
		require.Contains(t, string(got), "id: "+event, "resumed from the start, the tail sends the stored event")

		// Users: add, change role, remove.
		br.get("/console/users")
		resp, _ = br.post("/console/users", url.Values{"email": {"new@a.test"}, "password": {"long enough pw"}, "role": {"viewer"}})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode)
		var newUser string
		require.NoError(t, f.sys.db.Get(&newUser, `SELECT id FROM users WHERE email = 'new@a.test'`))
		br.get("/console/users")
		resp, _ = br.post("/console/users/"+newUser+"/role", url.Values{"role": {"admin"}})
		_, body = br.get(loc(resp))
		require.Contains(t, body, "Role changed: new@a.test is now admin.")
		resp, _ = br.post("/console/users/"+f.a.OwnerID.String()+"/role", url.Values{"role": {"viewer"}})
		_, body = br.get(loc(resp))
		require.Contains(t, body, "Not changed: You cannot change your own role.")
		resp, _ = br.post("/console/users/"+newUser+"/remove", nil)
		_, body = br.get(loc(resp))
		require.Contains(t, body, "User removed.")
		require.NotContains(t, body, "new@a.test")
	})

	t.Run("CallsOnlyDocumentedAPIRoutes", func(t *testing.T) {
		var doc struct {
			Paths map[string]map[string]any `json:"paths"`
		}
		require.NoError(t, json.Unmarshal(docs.OpenAPI, &doc))
		f.mu.Lock()
		defer f.mu.Unlock()
		require.NotEmpty(t, f.apiCalls)
		var called []string
		for call := range f.apiCalls {
			method, path, _ := strings.Cut(call, " ")
			path, _, _ = strings.Cut(path, "?")
			found := false
			if ops, ok := doc.Paths[path]; ok { // a literal path before a template that also matches it
				if _, ok := ops[strings.ToLower(method)]; ok {
					found = true
					called = append(called, method+" "+path)
				}
			}
			for tmpl, ops := range doc.Paths {
				if found {
					break
				}
				re := "^" + regexp.MustCompile(`\\\{\w+\\\}`).ReplaceAllString(regexp.QuoteMeta(tmpl), `[^/]+`) + "$"
				if _, ok := ops[strings.ToLower(method)]; ok && regexp.MustCompile(re).MatchString(path) {
					found, tmpl = true, method+" "+tmpl
					called = append(called, tmpl)
					break
				}
			}
			require.True(t, found, "the console called %s, which docs/openapi.json does not document", call)
		}
		slices.Sort(called)
		t.Logf("API routes the console called: %v", slices.Compact(called))
	})
}

// TestConsoleRefusesPrivateWebhookURLs: a server that refuses webhooks to
// private addresses (WEBHOOK_ALLOW_PRIVATE off, the default) says so on
// the webhook form, and a URL on localhost is refused there, with the
// setting named, instead of creating a channel whose every delivery fails.
func TestConsoleRefusesPrivateWebhookURLs(t *testing.T) {
	t.Parallel()
	sys, _ := wireTest(t, nil, func(cfg *config.Config) { cfg.Notify.WebhookAllowPrivate = false })
	pool := sys.db
	srv := httptest.NewServer(sys.router())
	t.Cleanup(srv.Close)
	tenant := authtest.CreateTenant(t.Context(), t, pool, nil)
	br := newBrowser(t, srv)
	br.signIn(tenant.OwnerEmail)
	channels := func() (n int) {
		require.NoError(t, pool.Get(&n, `SELECT count(*) FROM channels WHERE tenant_id = $1`, tenant.ID))
		return n
	}

	_, body := br.get("/console/channels/new?kind=webhook")
	require.Contains(t, body, "This server sends only to public addresses, not to localhost or a private network.")
	for _, target := range []string{"http://localhost:3001/hook", "http://127.0.0.1:3001/hook", "http://192.168.1.20/hook"} {
		resp, body := br.post("/console/channels", url.Values{"kind": {"webhook"}, "name": {"local"}, "config.url": {target}})
		require.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, target)
		require.Contains(t, body, "restart it with WEBHOOK_ALLOW_PRIVATE=true", target)
		require.Contains(t, body, `aria-invalid="true"`, "the error is on the URL field")
		require.Contains(t, body, `value="`+target+`"`, "the form keeps what was typed")
	}
	require.Zero(t, channels(), "nothing was created")
	resp, body := br.post("/console/channels", url.Values{"kind": {"webhook"}, "name": {"public"}, "config.url": {"https://hooks.example.com/x"}})
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)
	require.Equal(t, 1, channels())
}
