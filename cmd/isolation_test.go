package cmd

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/cmd/console"
	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/docs"
	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/modules/rules"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/httpx/httpxtest"
	"github.com/signalops/signalops/platform/pg"
)

// notTenantScoped lists every route that is deliberately outside a tenant,
// with why. Any other route must appear in the isolation walk.
var notTenantScoped = map[string]string{
	"GET /healthz":                 "operations",
	"GET /readyz":                  "operations",
	"GET /metrics":                 "operations",
	"GET /api/openapi.json":        "public document",
	"POST /api/auth/login":         "public: credentials name the tenant",
	"POST /api/admin/tenants":      "operator API (ADMIN_TOKEN), across tenants",
	"GET /api/admin/tenants":       "operator API",
	"GET /api/admin/tenants/:id":   "operator API",
	"PATCH /api/admin/tenants/:id": "operator API",
}

// toolRoute reports the routes of the tools mounted beside the API, each
// with its own guard and outside the OpenAPI document: Swagger UI (public),
// River UI (operator basic auth), the profiles under /debug/pprof
// (operator bearer token) and the console (its session calls the API; its
// own tests walk it for isolation and roles).
func toolRoute(r *echo.Route) bool {
	return strings.HasPrefix(r.Path, docs.UIPath) || strings.HasPrefix(r.Path, RiverUIPath) ||
		r.Path == console.Prefix || strings.HasPrefix(r.Path, console.Prefix+"/") ||
		strings.HasPrefix(r.Path, httpx.PprofPath+"/") || r.Method == "echo_route_any"
}

func newTestSystem(t *testing.T) *system {
	t.Helper()
	sys, _ := wireTest(t, nil, func(cfg *config.Config) { cfg.AdminToken = authtest.Options.AdminToken })
	return sys
}

// serveReq serves one request (httpxtest.NewRequest). A request for the
// event stream leaves after 300 ms, having read the status and whatever
// came by then: a stream answers until its client leaves.
func serveReq(h http.Handler, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	req := httpxtest.NewRequest(method, path, body, headers...)
	if stream := "/api" + events.StreamPath; path == stream || strings.HasPrefix(path, stream+"?") {
		ctx, cancel := context.WithTimeout(req.Context(), 300*time.Millisecond)
		defer cancel()
		req = req.WithContext(ctx)
	}
	return httpxtest.Serve(h, req)
}

// TestTenantIsolation walks every tenant-scoped route of the production
// router and calls it with tenant B's credentials on tenant A's resources:
// each answers 404 (or a 4xx that is not about A), never A's data.
func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sys := newTestSystem(t)
	router := sys.router()
	a := authtest.CreateTenant(ctx, t, sys.db, &authtest.TenantOpts{Plan: new("enterprise")})
	// Enterprise: the management rate limit leaves room for the walk.
	b := authtest.CreateTenant(ctx, t, sys.db, &authtest.TenantOpts{Plan: new("enterprise")})
	aToken := authtest.Token(ctx, t, sys.db, a.OwnerEmail)
	bToken := authtest.Token(ctx, t, sys.db, b.OwnerEmail)

	rec := serveReq(router, "POST", "/api/events", `{"type":"secret.thing","payload":{"marker":"A-ONLY-PAYLOAD"}}`, "x-api-key", a.APIKey)
	require.Equal(t, http.StatusAccepted, rec.Code)
	eventA := regexp.MustCompile(`[0-9a-f-]{36}`).FindString(rec.Body.String())
	var keyA uuid.UUID
	require.NoError(t, sys.db.Get(&keyA, `SELECT id FROM api_keys WHERE tenant_id = $1`, a.ID))
	userA, userAEmail := authtest.CreateUser(ctx, t, sys.db, a, auth.RoleViewer)
	channelA, _, err := sys.notify.Service.CreateChannel(ctx, a.ID, notify.ChannelInput{Name: new("A-ONLY-CHANNEL"), Kind: "webhook",
		Config: []byte(`{"url":"https://a-only.example/hook"}`), Secrets: []byte(`{}`)})
	require.NoError(t, err)
	ruleA, err := sys.rules.Service.Create(ctx, auth.Principal{TenantID: a.ID}, rules.Input{
		Name: new("A-ONLY-RULE"), Definition: []byte(`{"match":{"type":"secret.*"},"actions":[{"channelId":"` + channelA.ID.String() + `","template":"x"}]}`)})
	require.NoError(t, err)
	require.NoError(t, pg.InTx(ctx, sys.db, func(tx *sqlx.Tx) error {
		return sys.notify.Service.EnqueueTx(ctx, tx, []notify.NewDelivery{{TenantID: a.ID, RuleID: ruleA.ID, RuleVersion: 1,
			ChannelID: channelA.ID, Message: "A-ONLY-MESSAGE", Event: notify.EventSnapshot{ID: uuid.MustParse(eventA), Type: "secret.thing"}}})
	}))
	_, _, err = sys.events.Service.PutType(ctx, auth.Principal{TenantID: a.ID}, "secret.thing", events.TypeInput{
		Description: "A-ONLY-TYPE", Schema: []byte(`{"properties":{"A-ONLY-SCHEMA":{"type":"string"}}}`)})
	require.NoError(t, err)
	var deliveryA uuid.UUID
	require.NoError(t, sys.db.Get(&deliveryA, `SELECT id FROM deliveries WHERE tenant_id = $1`, a.ID))
	var deadJobA int64
	require.NoError(t, sys.db.Get(&deadJobA, `UPDATE river_job SET state = 'discarded', finalized_at = now()
		WHERE kind = 'notify.deliver' AND args->>'tenant_id' = $1 RETURNING id`, a.ID.String()))
	_, err = sys.db.Exec(`UPDATE deliveries SET status = 'failed' WHERE id = $1`, deliveryA)
	require.NoError(t, err)

	resourceOf := map[string]string{
		"/api/events/:id":           eventA,
		"/api/api-keys/:id":         keyA.String(),
		"/api/users/:id":            userA.String(),
		"/api/rules/:id":            ruleA.ID.String(),
		"/api/rules/:id/versions":   ruleA.ID.String(),
		"/api/rules/:id/rollback":   ruleA.ID.String(),
		"/api/channels/:id":         channelA.ID.String(),
		"/api/channels/:id/test":    channelA.ID.String(),
		"/api/deliveries/:id/retry": deliveryA.String(),
		"/api/dlq/:id/retry":        strconv.FormatInt(deadJobA, 10),
		"/api/dlq/:id":              strconv.FormatInt(deadJobA, 10),
	}
	// Routes that take tenant A's ids in their body rather than their path.
	bodyOf := map[string]string{
		"POST /api/rules/test":         `{"ruleId":"` + ruleA.ID.String() + `","event":{"type":"secret.x","payload":{}}}`,
		"POST /api/rules/backtest":     `{"ruleId":"` + ruleA.ID.String() + `"}`,
		"POST /api/rules/:id/rollback": `{"version":1}`,
		"PUT /api/rules/:id":           `{"enabled":false}`,
		"PUT /api/channels/:id":        `{"name":"stolen"}`,
		"PATCH /api/users/:id":         `{"role":"owner"}`,
	}
	// Event types are named, not numbered: B calls them by A's type's name.
	for _, route := range []string{"/api/event-types/:type", "/api/event-types/:type/versions", "/api/event-types/:type/rollback"} {
		resourceOf[route] = "secret.thing"
	}
	bodyOf["PUT /api/event-types/:type"] = `{"description":"B's own"}`
	bodyOf["POST /api/event-types/:type/rollback"] = `{"version":1}`
	secretsOfA := []string{"A-ONLY-TYPE", "A-ONLY-SCHEMA", eventA, keyA.String(), userA.String(), userAEmail, a.OwnerEmail, a.ID.String(), "A-ONLY-PAYLOAD", "A-ONLY-RULE", "A-ONLY-CHANNEL", "A-ONLY-MESSAGE", "a-only.example", channelA.ID.String(), deliveryA.String()}
	param := regexp.MustCompile(`:\w+`)

	walked := 0
	var controls [][3]string // method, route, path
	for _, r := range router.Routes() {
		route := r.Method + " " + r.Path
		if _, ok := notTenantScoped[route]; ok || toolRoute(r) {
			continue
		}
		path := r.Path
		if param.MatchString(path) {
			id, ok := resourceOf[r.Path]
			require.True(t, ok, "route %s has an id parameter but no tenant-A resource in the isolation walk: add one", route)
			path = param.ReplaceAllString(path, id)
		}
		body, aimed := bodyOf[route]
		if !aimed {
			body = `{}`
		}
		// A type's name is the caller's own namespace: B's PUT of A's type's
		// name creates B's own type. Each call starts with B having none,
		// so every other call by that name must answer 404.
		typeByName := strings.HasPrefix(r.Path, "/api/event-types/:type")
		for _, creds := range [][]string{{"Authorization", "Bearer " + bToken}, {"x-api-key", b.APIKey}} {
			if typeByName {
				_, err := sys.db.Exec(`DELETE FROM event_types WHERE tenant_id = $1`, b.ID)
				require.NoError(t, err)
			}
			rec := serveReq(router, r.Method, path, body, creds...)
			if rec.Code == http.StatusUnauthorized {
				continue // this route does not take this kind of credential
			}
			walked++
			if typeByName && r.Method == http.MethodPut {
				require.Equal(t, http.StatusCreated, rec.Code, "%s as tenant B creates B's own type: %s", route, rec.Body.String())
			} else if param.MatchString(r.Path) || (aimed && strings.Contains(body, "ruleId")) {
				require.Equal(t, http.StatusNotFound, rec.Code, "%s as tenant B: %s", route, rec.Body.String())
			}
			require.NotEqual(t, http.StatusForbidden, rec.Code, "%s: another tenant's id answers 404, never 403", route)
			// A problem's instance echoes the caller's own path; anything else
			// naming A's resources would be a leak.
			body := strings.ReplaceAll(rec.Body.String(), `"instance":"`+path+`"`, "")
			for _, s := range secretsOfA {
				require.NotContains(t, body, s, "%s as tenant B leaked tenant A's data", route)
			}
		}
		if r.Method == http.MethodGet || r.Method == http.MethodDelete {
			controls = append(controls, [3]string{r.Method, r.Path, path})
		}
	}
	typeA, err := sys.events.Service.GetType(ctx, a.ID, "secret.thing")
	require.NoError(t, err)
	require.Equal(t, [2]any{1, "A-ONLY-TYPE"}, [2]any{typeA.Version, typeA.Description}, "B's calls left A's type as it was")

	// Control: the same calls as tenant A reach the resources, so the 404s
	// above were about tenancy, not a wrong id. Deletions go last.
	slices.SortStableFunc(controls, func(x, y [3]string) int { return strings.Compare(y[0], x[0]) })
	for _, c := range controls {
		cred := []string{"Authorization", "Bearer " + aToken}
		if c[1] == "/api/events/:id" {
			cred = []string{"x-api-key", a.APIKey}
		}
		rec := serveReq(router, c[0], c[2], "", cred...)
		require.Less(t, rec.Code, 300, "%s %s as tenant A: %s", c[0], c[1], rec.Body.String())
	}
	require.Greater(t, walked, 5)
}

// TestRolePolicy checks every management route against the role it needs,
// for each role: below it 403, at or above it never 403.
func TestRolePolicy(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sys := newTestSystem(t)
	router := sys.router()
	// Enterprise: its management rate limit leaves room for this walk.
	tenant := authtest.CreateTenant(ctx, t, sys.db, &authtest.TenantOpts{Plan: new("enterprise")})

	need := map[string]string{
		"GET /api/me":                    auth.RoleViewer,
		"GET /api/events":                auth.RoleViewer,
		"GET /api/events/:id":            auth.RoleViewer,
		"GET /api/events/stream":         auth.RoleViewer,
		"GET /api/api-keys":              auth.RoleAdmin,
		"POST /api/api-keys":             auth.RoleAdmin,
		"DELETE /api/api-keys/:id":       auth.RoleAdmin,
		"GET /api/users":                 auth.RoleAdmin,
		"POST /api/users":                auth.RoleAdmin,
		"PATCH /api/users/:id":           auth.RoleAdmin,
		"DELETE /api/users/:id":          auth.RoleAdmin,
		"POST /api/events":               "(api key only)",
		"POST /api/events/batch":         "(api key only)",
		"GET /api/rules":                 auth.RoleViewer,
		"GET /api/rules/:id":             auth.RoleViewer,
		"GET /api/rules/:id/versions":    auth.RoleViewer,
		"POST /api/rules":                auth.RoleMember,
		"PUT /api/rules/:id":             auth.RoleMember,
		"DELETE /api/rules/:id":          auth.RoleMember,
		"POST /api/rules/:id/rollback":   auth.RoleMember,
		"POST /api/rules/test":           auth.RoleMember,
		"POST /api/rules/backtest":       auth.RoleMember,
		"GET /api/channels":              auth.RoleViewer,
		"GET /api/channels/:id":          auth.RoleViewer,
		"POST /api/channels":             auth.RoleMember,
		"PUT /api/channels/:id":          auth.RoleMember,
		"DELETE /api/channels/:id":       auth.RoleMember,
		"POST /api/channels/:id/test":    auth.RoleMember,
		"GET /api/deliveries":            auth.RoleViewer,
		"GET /api/usage":                 auth.RoleViewer,
		"GET /api/dlq":                   auth.RoleViewer,
		"POST /api/dlq/retry":            auth.RoleMember,
		"POST /api/dlq/:id/retry":        auth.RoleMember,
		"DELETE /api/dlq/:id":            auth.RoleMember,
		"GET /api/usage/history":         auth.RoleViewer,
		"POST /api/deliveries/:id/retry": auth.RoleMember,
	}
	for route, role := range map[string]string{
		"GET /api/event-types": auth.RoleViewer, "GET /api/event-types/:type": auth.RoleViewer,
		"GET /api/event-types/:type/versions": auth.RoleViewer, "PUT /api/event-types/:type": auth.RoleMember,
		"DELETE /api/event-types/:type": auth.RoleMember, "POST /api/event-types/:type/rollback": auth.RoleMember,
	} {
		need[route] = role
	}
	rank := map[string]int{auth.RoleViewer: 1, auth.RoleMember: 2, auth.RoleAdmin: 3, auth.RoleOwner: 4}
	tokens := map[string]string{}
	for role := range rank {
		_, email := authtest.CreateUser(ctx, t, sys.db, tenant, role)
		tokens[role] = authtest.Token(ctx, t, sys.db, email)
	}
	param := regexp.MustCompile(`:\w+`)
	for _, r := range router.Routes() {
		route := r.Method + " " + r.Path
		if _, ok := notTenantScoped[route]; ok || toolRoute(r) {
			continue
		}
		min, ok := need[route]
		require.True(t, ok, "route %s has no role in the policy table: add it", route)
		path := param.ReplaceAllString(r.Path, uuid.NewString())
		for role, tok := range tokens {
			rec := serveReq(router, r.Method, path, `{}`, "Authorization", "Bearer "+tok)
			switch {
			case min == "(api key only)":
				require.Equal(t, http.StatusUnauthorized, rec.Code, "%s with a user token", route)
			case rank[role] < rank[min]:
				require.Equal(t, http.StatusForbidden, rec.Code, "%s as %s: %s", route, role, rec.Body.String())
			default:
				require.NotEqual(t, http.StatusForbidden, rec.Code, "%s as %s: %s", route, role, rec.Body.String())
			}
		}
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sys, _ := wireTest(t, nil, func(cfg *config.Config) { cfg.RateLimit.IngestRate, cfg.RateLimit.IngestBurst = 0.01, 2 })
	pool, router := sys.db, sys.router()
	tenant := authtest.CreateTenant(ctx, t, pool, nil)

	for i := range 2 {
		rec := serveReq(router, "POST", "/api/events", `{"type":"a","payload":{}}`, "x-api-key", tenant.APIKey)
		require.Equal(t, http.StatusAccepted, rec.Code)
		require.Equal(t, "2", rec.Header().Get("RateLimit-Limit"))
		require.Equal(t, []string{"1", "0"}[i], rec.Header().Get("RateLimit-Remaining"))
		require.NotEmpty(t, rec.Header().Get("RateLimit-Reset"))
	}
	rec := serveReq(router, "POST", "/api/events", `{"type":"a","payload":{}}`, "x-api-key", tenant.APIKey)
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Contains(t, rec.Body.String(), `"code":"rate_limited"`)
	require.Equal(t, "100", rec.Header().Get("Retry-After"), "one token at 0.01/s")
	require.Equal(t, "0", rec.Header().Get("RateLimit-Remaining"))
	var n int
	require.NoError(t, pool.Get(&n, `SELECT count(*) FROM events`))
	require.Equal(t, 2, n, "a limited request stores nothing")

	// Another key of the same tenant has its own bucket.
	_, other, err := sys.auth.Service.CreateAPIKey(ctx, tenant.ID, "second", auth.AllScopes, nil)
	require.NoError(t, err)
	rec = serveReq(router, "POST", "/api/events", `{"type":"a","payload":{}}`, "x-api-key", other)
	require.Equal(t, http.StatusAccepted, rec.Code)

	// Login attempts are limited per client address.
	// Attempts are spent faster than one per 6 s, so the burst of 10 runs
	// out; how many it takes depends on how slow bcrypt is on this machine.
	limited := 0
	for i := 0; i < 40 && limited == 0; i++ {
		if serveReq(router, "POST", "/api/auth/login", `{"email":"x@y.test","password":"wrong password"}`).Code == http.StatusTooManyRequests {
			limited = i + 1
		}
	}
	require.GreaterOrEqual(t, limited, 11, "the first 10 attempts are never limited")
}
