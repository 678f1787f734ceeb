package cmd

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/httpx"
)

// hostileServe serves h with the production http.Server settings
// (httpx.Server), adjusted by tune, on a loopback listener.
func hostileServe(t *testing.T, h http.Handler, tune func(*http.Server)) string {
	t.Helper()
	srv := httpx.Server("127.0.0.1:0", h)
	if tune != nil {
		tune(srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// rawGet sends target verbatim (no client-side path cleaning) and returns
// the status and body.
func rawGet(t *testing.T, addr, target string, headers ...string) (int, string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n"
	for i := 0; i+1 < len(headers); i += 2 {
		req += headers[i] + ": " + headers[i+1] + "\r\n"
	}
	_, err = io.WriteString(conn, req+"\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, target)
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp.StatusCode, string(body)
}

// TestServerTimeouts: the production server bounds slow and oversized
// clients. httpx.Server's settings are asserted; the slowloris runs against
// a copy with a 1 s ReadHeaderTimeout to stay fast.
func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	sys := newTestSystem(t)
	router := sys.router()

	prod := httpx.Server(":0", router)
	require.Positive(t, prod.ReadHeaderTimeout)
	require.LessOrEqual(t, prod.ReadHeaderTimeout, 10*time.Second)
	require.Positive(t, prod.ReadTimeout)
	require.Positive(t, prod.WriteTimeout)
	require.Positive(t, prod.IdleTimeout)
	require.Positive(t, prod.MaxHeaderBytes)
	require.LessOrEqual(t, prod.MaxHeaderBytes, 1<<20)

	t.Run("HugeHeaderIs431", func(t *testing.T) {
		t.Parallel()
		addr := hostileServe(t, router, nil)
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
		require.NoError(t, err)
		req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)

		// Many small headers adding up count too.
		req, err = http.NewRequest(http.MethodGet, "http://"+addr+"/healthz", nil)
		require.NoError(t, err)
		for i := range 2000 {
			req.Header.Add("X-Api-Key", fmt.Sprintf("so_live_%040d", i))
		}
		resp2, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp2.Body.Close()
		require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp2.StatusCode)

		// A normal request on the same server still works.
		status, _ := rawGet(t, addr, "/healthz")
		require.Equal(t, http.StatusOK, status)
	})

	t.Run("SlowlorisHeadersAreCutOff", func(t *testing.T) {
		t.Parallel()
		const readHeaderTimeout = time.Second
		addr := hostileServe(t, router, func(s *http.Server) { s.ReadHeaderTimeout = readHeaderTimeout })
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		start := time.Now()

		// Trickle a request line and headers that never end, one byte at a
		// time, faster than the timeout: the deadline is for the whole header.
		go func() {
			msg := "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 1000)
			for i := range len(msg) {
				if _, err := conn.Write([]byte{msg[i]}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(readHeaderTimeout+2*time.Second)))
		_, err = io.Copy(io.Discard, conn) // returns when the server closes (EOF, or a reset)
		require.False(t, isTimeout(err), "the server closed the connection before the client gave up: %v", err)
		require.Less(t, time.Since(start), readHeaderTimeout+2*time.Second)
	})

	t.Run("SlowBodyIsCutOffWithout5xx", func(t *testing.T) {
		t.Parallel()
		const readTimeout = time.Second
		addr := hostileServe(t, router, func(s *http.Server) { s.ReadTimeout = readTimeout })
		tenant := authtest.CreateTenant(t.Context(), t, sys.db, nil)
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		start := time.Now()
		_, err = io.WriteString(conn, "POST /api/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"+
			"X-Api-Key: "+tenant.APIKey+"\r\nContent-Length: 100000\r\n\r\n{")
		require.NoError(t, err)
		go func() {
			for range 100 {
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(readTimeout+2*time.Second)))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil { // an answer is allowed, a server error is not
			resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, "a slow client is not a server error (nor the database unreachable)")
		} else {
			require.False(t, isTimeout(err), "the server cut the connection off: %v", err)
		}
		require.Less(t, time.Since(start), readTimeout+2*time.Second)
		var n int
		require.NoError(t, sys.db.Get(&n, `SELECT count(*) FROM events`))
		require.Zero(t, n)
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestStaticPathTraversal: Swagger UI (and River UI) serve embedded assets
// only; no path reaches the file system.
func TestStaticPathTraversal(t *testing.T) {
	t.Parallel()
	sys := newTestSystem(t)
	router := sys.router()
	addr := hostileServe(t, router, nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("op:"+authtest.Options.AdminToken))

	var paths []string
	for _, prefix := range []string{"/api/docs/", "/admin/river/", "/api/openapi.json/"} {
		for _, p := range []string{
			"../../etc/passwd",
			"../../../../../../../../etc/passwd",
			"%2e%2e/%2e%2e/etc/passwd",
			"%2e%2e%2f%2e%2e%2fetc%2fpasswd",
			"..%2f..%2fgo.mod",
			"..%2f..%2f..%2fgo.mod",
			"..%5c..%5cgo.mod",
			"%252e%252e/%252e%252e/go.mod",
			"....//....//go.mod",
			"..;/..;/go.mod",
			"%c0%ae%c0%ae/%c0%ae%c0%ae/go.mod",
			"/etc/passwd",
			"//etc/passwd",
			"file:///etc/passwd",
			"../cmd/serve.go",
			"..%00/go.mod",
			"swagger-ui.css/../../../go.mod",
			"?../../go.mod",
		} {
			paths = append(paths, prefix+p)
		}
	}
	paths = append(paths, "/api/docs/..", "/api/docs/../../..", "/../../etc/passwd", "/%2e%2e/go.mod", "/go.mod", "/main.go", "/etc/passwd")

	requireClean := func(t *testing.T, target string, status int, body string) {
		t.Helper()
		require.Less(t, status, 500, target)
		for _, leak := range []string{"root:", "module github.com", "package cmd", "package main", "SECRET_KEY"} {
			require.NotContains(t, body, leak, "%s leaked a file (status %d)", target, status)
		}
	}
	for _, target := range paths {
		// Through the router, as a request object…
		if req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n"))); err == nil {
			req.Header.Set("Authorization", basic)
			rec := httptest.NewRecorder()
			router.ServeHTTP(rec, req)
			requireClean(t, target, rec.Code, rec.Body.String())
		}
		// …and over the wire, byte for byte.
		status, body := rawGet(t, addr, target, "Authorization", basic)
		requireClean(t, target, status, body)
	}

	// The UI itself is served, so the assertions above are not vacuous.
	status, body := rawGet(t, addr, "/api/docs/")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, "swagger")
}

// TestSQLMetacharactersInFilters sends SQL and encoding tricks in every
// filter, cursor and path id: each answers 200 with only the caller's data,
// or 400/404 with a problem — never a 5xx — and the database is unchanged.
func TestSQLMetacharactersInFilters(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sys := newTestSystem(t)
	router := sys.router()
	enterprise := &authtest.TenantOpts{Plan: new("enterprise")} // the rate limit leaves room for the walk
	a := authtest.CreateTenant(ctx, t, sys.db, enterprise)
	b := authtest.CreateTenant(ctx, t, sys.db, enterprise)
	aToken := authtest.Token(ctx, t, sys.db, a.OwnerEmail)
	bToken := authtest.Token(ctx, t, sys.db, b.OwnerEmail)

	// Data of both tenants; B's carries a marker that must never show.
	for _, tn := range []struct {
		key, token, marker string
	}{{a.APIKey, aToken, "A-DATA"}, {b.APIKey, bToken, "B-ONLY-MARKER"}} {
		rec := serveReq(router, "POST", "/api/events", `{"type":"order.created","source":"`+tn.marker+`","payload":{"m":"`+tn.marker+`"}}`, "x-api-key", tn.key)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		chID := createdID(t, serveReq(router, "POST", "/api/channels", `{"name":"`+tn.marker+`","kind":"webhook","config":{"url":"https://example.com/`+tn.marker+`"}}`,
			"Authorization", "Bearer "+tn.token))
		rec = serveReq(router, "POST", "/api/rules", `{"name":"`+tn.marker+`","definition":{"match":{"type":"order.*"},"actions":[{"channelId":"`+chID+`","template":"`+tn.marker+`"}]}}`,
			"Authorization", "Bearer "+tn.token)
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	}
	evil := []string{
		`' OR 1=1--`,
		`1; DROP TABLE events; --`,
		`'); DELETE FROM tenants; --`,
		`' UNION SELECT id, tenant_id, key_hash FROM api_keys --`,
		`'||pg_sleep(3)||'`,
		`%_\$1@tenant*"`,
		"\x00", "a\x00' OR 1=1--", "\xff\xfe", "\xed\xa0\x80",
		strings.Repeat("'", 5000),
		"2026-01-01T00:00:00Z' OR '1'='1",
		"-1", "99999999999999999999",
		base64.RawURLEncoding.EncodeToString([]byte(`' OR 1=1--`)),
		base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef")),
		base64.URLEncoding.EncodeToString([]byte(`{"id":1,"kind":"' OR 1=1--","queue":"x","sort_field":"finalized_at\" OR 1=1--","time":"2026-01-01T00:00:00Z"}`)),
	}
	type endpoint struct {
		method, path string
		params       []string // query parameters to poison; "" = the path id (%s)
		jwt          bool     // a bearer token, else an API key
	}
	filters := []string{"type", "since", "until", "cursor", "limit"}
	endpoints := []endpoint{
		{"GET", "/api/events", filters, false},
		{"GET", "/api/events", filters, true},
		{"GET", "/api/deliveries", []string{"status", "eventId", "channelId", "cursor", "limit"}, true},
		{"GET", "/api/rules", []string{"cursor", "limit"}, true},
		{"GET", "/api/channels", []string{"cursor", "limit"}, true},
		{"GET", "/api/api-keys", []string{"cursor", "limit"}, true},
		{"GET", "/api/dlq", []string{"kind", "cursor", "limit"}, true},
		{"GET", "/api/events/%s", []string{""}, false},
		{"GET", "/api/rules/%s", []string{""}, true},
		{"GET", "/api/rules/%s/versions", []string{""}, true},
		{"DELETE", "/api/rules/%s", []string{""}, true},
		{"GET", "/api/channels/%s", []string{""}, true},
		{"DELETE", "/api/channels/%s", []string{""}, true},
		{"POST", "/api/deliveries/%s/retry", []string{""}, true},
		{"POST", "/api/dlq/%s/retry", []string{""}, true},
		{"DELETE", "/api/dlq/%s", []string{""}, true},
		{"DELETE", "/api/api-keys/%s", []string{""}, true},
	}
	// Tenants A and C take turns calling, so the walk stays under the
	// management rate limit of each.
	c := authtest.CreateTenant(ctx, t, sys.db, enterprise)
	cToken := authtest.Token(ctx, t, sys.db, c.OwnerEmail)
	auths := make([][2]string, len(endpoints))
	for i, ep := range endpoints {
		key, token := a.APIKey, aToken
		if i%2 == 1 {
			key, token = c.APIKey, cToken
		}
		auths[i] = [2]string{"x-api-key", key}
		if ep.jwt {
			auths[i] = [2]string{"Authorization", "Bearer " + token}
		}
	}
	before := hostileRowCounts(t, sys.db)
	for i, ep := range endpoints {
		for _, param := range ep.params {
			for _, v := range evil {
				target := ep.path + "?" + url.Values{param: {v}}.Encode()
				if param == "" {
					target = strings.Replace(ep.path, "%s", url.PathEscape(v), 1)
				}
				req := httptest.NewRequest(ep.method, "/", nil)
				req.URL, _ = url.ParseRequestURI(target)
				req.RequestURI = target
				req.Header.Set(auths[i][0], auths[i][1])
				rec := httptest.NewRecorder()
				router.ServeHTTP(rec, req)

				desc := ep.method + " " + target
				assert.NotContains(t, rec.Body.String(), "B-ONLY-MARKER", desc)
				assert.NotContains(t, strings.ToLower(rec.Body.String()), "syntax error", desc)
				assert.NotContains(t, rec.Body.String(), "SQLSTATE", desc)
				switch rec.Code {
				case http.StatusOK:
				case http.StatusBadRequest, http.StatusNotFound:
					assert.Equal(t, httpx.ProblemContentType, rec.Header().Get(echo.HeaderContentType), desc)
				default:
					t.Errorf("%s: status %d: %s", desc, rec.Code, rec.Body.String())
				}
			}
		}
	}
	require.Equal(t, before, hostileRowCounts(t, sys.db), "the database is unchanged")
}

// hostileRowCounts counts the rows of every table a request could touch.
func hostileRowCounts(t *testing.T, db *sqlx.DB) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, table := range []string{"tenants", "users", "api_keys", "events", "rules", "rule_versions", "rule_matches",
		"channels", "deliveries", "delivery_attempts", "usage_counters", "river_job"} {
		var n int
		require.NoError(t, db.Get(&n, `SELECT count(*) FROM `+table))
		out[table] = n
	}
	return out
}

// TestWebhookSSRFProductionPolicy: with WEBHOOK_ALLOW_PRIVATE off, neither a
// channel test send nor a delivery reaches loopback, link-local (cloud
// metadata), private or unspecified addresses, however the URL spells them;
// a delivery refused so fails permanently, on its first attempt.
func TestWebhookSSRFProductionPolicy(t *testing.T) {
	t.Parallel()
	sys, dbURL := wireTest(t, nil, func(cfg *config.Config) {
		cfg.AdminToken = authtest.Options.AdminToken
		cfg.Notify.WebhookAllowPrivate = false // the production policy
		cfg.Notify.Timeout = 3 * time.Second
	})
	tn := newTenant(t, sys, sys.router())

	// Local targets that count every connection they get: each must stay at 0.
	var hits atomic.Int64
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(local.Close)
	port := local.Listener.Addr().(*net.TCPAddr).Port
	v6 := "http://[::1]:9/" // nothing listens: the refusal must come before any connect
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: local.Config.Handler}}
		srv.Start()
		t.Cleanup(srv.Close)
		v6 = srv.URL + "/"
	}
	smtpLn, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { smtpLn.Close() })
	go func() {
		for {
			c, err := smtpLn.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			c.Close()
		}
	}()

	targets := []string{
		local.URL + "/hook",
		fmt.Sprintf("http://localhost:%d/hook", port),
		v6,
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", port),
		fmt.Sprintf("http://[::ffff:7f00:1]:%d/", port),
		fmt.Sprintf("http://0.0.0.0:%d/", port),
		fmt.Sprintf("http://127.0.0.2:%d/", port),
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://10.0.0.1/",
		"http://192.168.0.1/",
		"http://100.100.100.200/latest/meta-data/",
	}
	var channelIDs []string
	createChannel := func(body string) string {
		id := createdID(t, tn.api(t, "POST", "/api/channels", body))
		channelIDs = append(channelIDs, id)
		return id
	}

	t.Run("ChannelTestSend", func(t *testing.T) {
		for i, target := range targets {
			id := createChannel(fmt.Sprintf(`{"name":"ssrf-%d","kind":"webhook","config":{"url":%q}}`, i, target))
			rec := tn.api(t, "POST", "/api/channels/"+id+"/test", "")
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var res struct {
				OK    bool
				Error string
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
			require.False(t, res.OK, target)
			require.Contains(t, res.Error, "not allowed", target)
			require.Contains(t, res.Error, "(permanent)", target)
		}
		id := createChannel(fmt.Sprintf(`{"name":"ssrf-smtp","kind":"email","config":{"to":["a@example.com"],"from":"b@example.com","smtpUrl":"smtp://%s"}}`, smtpLn.Addr()))
		rec := tn.api(t, "POST", "/api/channels/"+id+"/test", "")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		require.Contains(t, rec.Body.String(), "not allowed")
		require.Zero(t, hits.Load(), "no refused target was ever connected to")
	})

	t.Run("DeliveryFailsPermanentlyAtOnce", func(t *testing.T) {
		startWorker(t, sys, dbURL)
		var actions []string
		for _, id := range channelIDs {
			actions = append(actions, `{"channelId":"`+id+`","template":"ssrf"}`)
		}
		rec := tn.api(t, "POST", "/api/rules", `{"name":"ssrf","definition":{"match":{"type":"ssrf.*"},"actions":[`+strings.Join(actions, ",")+`]}}`)
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		eventID := tn.ingest(t, `{"type":"ssrf.probe","payload":{}}`)

		type delivery struct {
			Status    string
			LastError *string
			Attempts  []struct {
				Succeeded  bool
				StatusCode *int
				Error      *string
			}
		}
		var ds []delivery
		require.Eventually(t, func() bool {
			rec := tn.api(t, "GET", "/api/deliveries?limit=200&eventId="+eventID, "")
			var page struct{ Data []delivery }
			if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &page) != nil || len(page.Data) != len(channelIDs) {
				return false
			}
			for _, d := range page.Data {
				if d.Status == "pending" {
					return false
				}
			}
			ds = page.Data
			return true
		}, 15*time.Second, 50*time.Millisecond)
		for _, d := range ds {
			require.Equal(t, "failed", d.Status)
			require.Len(t, d.Attempts, 1, "a refused destination is permanent: no retries")
			require.Nil(t, d.Attempts[0].StatusCode, "no request was made")
			require.NotNil(t, d.LastError)
			require.Contains(t, *d.LastError, "not allowed")
		}
		require.Zero(t, hits.Load(), "no refused target was ever connected to")
	})
}

// TestHostileManagementBodies: JSON PostgreSQL's jsonb refuses (or inflates)
// in rule definitions and channels is a 4xx problem, never a 500, and
// changes nothing.
func TestHostileManagementBodies(t *testing.T) {
	t.Parallel()
	sys := newTestSystem(t)
	tn := newTenant(t, sys, sys.router())
	channelID := createdID(t, tn.api(t, "POST", "/api/channels", `{"name":"c","kind":"webhook","config":{"url":"https://example.com/hook"}}`))
	def := func(template, value string) string {
		return `{"match":{"type":"a","all":[{"field":"payload.n","op":"eq","value":` + value + `}]},"actions":[{"channelId":"` + channelID + `","template":"` + template + `"}]}`
	}
	ruleID := createdID(t, tn.api(t, "POST", "/api/rules", `{"name":"r","definition":`+def("ok", "1")+`}`))
	before := hostileRowCounts(t, sys.db)

	for _, tt := range []struct {
		name, definition string
	}{
		{"LoneSurrogateInTemplate", def(`x \ud800`, "1")},
		{"LoneSurrogateInValue", def("x", `"\udc00"`)},
		{"NULInValue", def("x", `"\u0000"`)},
		{"NumberTooBig", def("x", "1e200000")},
		{"NumberTooPrecise", def("x", "1e-20000")},
		{"NumberExpansion", def("x", "["+strings.TrimSuffix(strings.Repeat("1e9999,", 50), ",")+"]")},
		{"DeepValue", def("x", strings.Repeat("[", 5000)+strings.Repeat("]", 5000))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, req := range []struct{ method, path, body string }{
				{"POST", "/api/rules", `{"name":"r2","definition":` + tt.definition + `}`},
				{"PUT", "/api/rules/" + ruleID, `{"name":"r","enabled":true,"definition":` + tt.definition + `}`},
				{"POST", "/api/rules/test", `{"definition":` + tt.definition + `,"event":{"type":"a","payload":{"n":1}}}`},
			} {
				rec := tn.api(t, req.method, req.path, req.body)
				require.GreaterOrEqual(t, rec.Code, 400, "%s %s: %s", req.method, req.path, rec.Body.String())
				require.Less(t, rec.Code, 500, "%s %s: %s", req.method, req.path, rec.Body.String())
				require.Equal(t, httpx.ProblemContentType, rec.Header().Get(echo.HeaderContentType))
			}
		})
	}
	for _, body := range []string{
		`{"name":"\ud800","kind":"webhook","config":{"url":"https://example.com/\ud800"}}`,
		`{"name":"n","kind":"webhook","config":{"url":"https://example.com/"},"secrets":{"signingSecret":"whsec_\ud800\u0000"}}`,
		`{"name":"n","kind":"email","config":{"to":["a@example.com"],"subject":"\udc00"}}`,
		`{"name":"n","kind":"telegram","config":{"chatId":1e200000},"secrets":{"botToken":"1:` + strings.Repeat("a", 30) + `"}}`,
	} {
		rec := tn.api(t, "POST", "/api/channels", body)
		require.Less(t, rec.Code, 500, "%s: %s", body, rec.Body.String())
		if rec.Code == http.StatusCreated {
			require.Equal(t, http.StatusNoContent, tn.api(t, "DELETE", "/api/channels/"+createdID(t, rec), "").Code)
		}
	}
	after := hostileRowCounts(t, sys.db)
	after["channels"] = before["channels"] // channels created above were deleted (soft or hard)
	require.Equal(t, before, after, "refused bodies change nothing")
}
