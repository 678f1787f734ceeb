package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/httpx/httpxtest"
	"github.com/signalops/signalops/platform/testdb"
)

type testBundle struct {
	db     *sqlx.DB
	router *echo.Echo
	mod    *auth.Module
	tenant authtest.Tenant
	owner  string // owner's bearer token
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := testdb.New(t)
	logger := slog.New(slog.DiscardHandler)
	router := httpx.NewRouter(logger, httpx.Options{})
	mod := auth.New(pool, logger, authtest.Options)
	api := httpx.NewGroup(router, "/api")
	mod.PublicRoutes(api)
	mod.AdminRoutes(httpx.NewGroup(router, "/api/admin"))
	mod.Routes(api.With(mod.TokenAuth()))
	// A probe route behind API-key auth, to see what a key can do.
	api.With(mod.APIKeyAuth()).GET("/probe", func(c echo.Context) error {
		return c.String(http.StatusOK, auth.TenantID(c.Request().Context()).String())
	})
	tenant := authtest.CreateTenant(t.Context(), t, pool, nil)
	return &testBundle{db: pool, router: router, mod: mod, tenant: tenant,
		owner: authtest.Token(t.Context(), t, pool, tenant.OwnerEmail)}
}

type resp struct{ *httptest.ResponseRecorder }

func (r resp) json(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body.Bytes(), v), r.Body.String())
}

func (r resp) code(t *testing.T) string {
	t.Helper()
	return httpxtest.Problem(t, r.ResponseRecorder).Code
}

func call(t *testing.T, h http.Handler, method, path, body string, headers ...string) resp {
	t.Helper()
	return resp{httpxtest.Do(h, method, path, body, headers...)}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)

	t.Run("TokenThenMe", func(t *testing.T) {
		r := call(t, b.router, "POST", "/api/auth/login", `{"email":"`+strings.ToUpper(b.tenant.OwnerEmail)+`","password":"`+authtest.Password+`"}`)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		var tok struct {
			AccessToken string `json:"accessToken"`
			TokenType   string `json:"tokenType"`
			ExpiresIn   int    `json:"expiresIn"`
		}
		r.json(t, &tok)
		require.Equal(t, "Bearer", tok.TokenType)
		require.Equal(t, 3600, tok.ExpiresIn)

		claims := jwt.MapClaims{}
		_, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, claims)
		require.NoError(t, err)
		require.Equal(t, b.tenant.OwnerID.String(), claims["sub"])
		require.Equal(t, b.tenant.ID.String(), claims["tid"])
		require.Equal(t, "owner", claims["role"])
		require.Equal(t, "signalops", claims["iss"])
		require.LessOrEqual(t, claims["exp"].(float64)-claims["iat"].(float64), float64(3600))

		me := call(t, b.router, "GET", "/api/me", "", httpxtest.Bearer(tok.AccessToken)...)
		require.Equal(t, http.StatusOK, me.Code, me.Body.String())
		var got struct {
			User   struct{ Email, Role string }
			Tenant struct{ ID uuid.UUID }
		}
		me.json(t, &got)
		require.Equal(t, b.tenant.OwnerEmail, got.User.Email)
		require.Equal(t, "owner", got.User.Role)
		require.Equal(t, b.tenant.ID, got.Tenant.ID)
		require.NotContains(t, me.Body.String(), "password")
	})

	t.Run("WrongPasswordAndUnknownEmailAnswerAlike", func(t *testing.T) {
		wrong := call(t, b.router, "POST", "/api/auth/login", `{"email":"`+b.tenant.OwnerEmail+`","password":"not the password"}`)
		unknown := call(t, b.router, "POST", "/api/auth/login", `{"email":"nobody@nowhere.test","password":"not the password"}`)
		require.Equal(t, http.StatusUnauthorized, wrong.Code)
		require.Equal(t, http.StatusUnauthorized, unknown.Code)
		var pw, pu httpx.Problem
		wrong.json(t, &pw)
		unknown.json(t, &pu)
		pw.RequestID, pu.RequestID = "", ""
		require.Equal(t, pw, pu)
		require.Equal(t, "invalid_credentials", pw.Code)
	})

	t.Run("BadBodies", func(t *testing.T) {
		for _, tt := range []struct{ body, code string }{
			{`{`, "invalid_json"},
			{`{"email":1,"password":"x"}`, "invalid_json"},
			{`{"email":"a@b.c","password":"x","extra":1}`, "invalid_json"},
			{`{"email":"","password":""}`, "invalid_credentials"},
		} {
			r := call(t, b.router, "POST", "/api/auth/login", tt.body)
			require.Equal(t, tt.code, r.code(t), tt.body)
		}
	})
}

func sign(t *testing.T, method jwt.SigningMethod, key any, c jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, c).SignedString(key)
	require.NoError(t, err)
	return s
}

func TestTokenAttacks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	secret := authtest.Options.JWTSecret
	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": b.tenant.OwnerID.String(), "tid": b.tenant.ID.String(), "role": "owner",
			"iss": "signalops", "aud": "signalops-api", "iat": now.Unix(), "exp": now.Add(30 * time.Minute).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }
	other := authtest.CreateTenant(t.Context(), t, b.db, nil)

	valid := sign(t, jwt.SigningMethodHS256, secret, good())
	require.Equal(t, http.StatusOK, call(t, b.router, "GET", "/api/me", "", httpxtest.Bearer(valid)...).Code, "the control token works")

	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), b.tenant.ID.String(), other.ID.String(), 1))) + "." + parts[2]
	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good())

	for _, tt := range []struct {
		name    string
		headers []string
	}{
		{"AlgNone", httpxtest.Bearer(none)},
		{"WrongSignature", httpxtest.Bearer(sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-!!"), good()))},
		{"OtherHMACAlgorithm", httpxtest.Bearer(sign(t, jwt.SigningMethodHS512, secret, good()))},
		{"Expired", httpxtest.Bearer(sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix())))},
		{"NoExpiry", httpxtest.Bearer(sign(t, jwt.SigningMethodHS256, secret, without("exp")))},
		{"LivesLongerThanAnHour", httpxtest.Bearer(sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(5*time.Hour).Unix())))},
		{"IssuedInTheFuture", httpxtest.Bearer(sign(t, jwt.SigningMethodHS256, secret, with("iat", now.Add(time.Hour).Unix())))},
		{"WrongAudience", httpxtest.Bearer(sign(t, jwt.SigningMethodHS256, secret, with("aud", "someone-else")))},
		{"WrongIssuer", httpxtest.Bearer(sign(t, jwt.SigningMethodHS256, secret, with("iss", "evil")))},
		{"TamperedTenant", httpxtest.Bearer(tampered)},
		{"UserOfAnotherTenant", httpxtest.Bearer(sign(t, jwt.SigningMethodHS256, secret, with("tid", other.ID.String())))},
		{"APIKeyAsBearer", httpxtest.Bearer(b.tenant.APIKey)},
		{"Garbage", httpxtest.Bearer("not.a.token")},
		{"BasicScheme", []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))}},
		{"NoToken", nil},
		{"APIKeyHeader", []string{"x-api-key", b.tenant.APIKey}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, b.router, "GET", "/api/me", "", tt.headers...)
			require.Equal(t, http.StatusUnauthorized, r.Code, r.Body.String())
			require.Contains(t, []string{"invalid_token", "missing_token"}, r.code(t))
		})
	}

	t.Run("TokenAsAPIKey", func(t *testing.T) {
		r := call(t, b.router, "GET", "/api/probe", "", "x-api-key", valid)
		require.Equal(t, http.StatusUnauthorized, r.Code)
		require.Equal(t, "invalid_api_key", r.code(t))
	})

	t.Run("DeletedUserLosesAccessAtOnce", func(t *testing.T) {
		id, email := authtest.CreateUser(t.Context(), t, b.db, b.tenant, auth.RoleAdmin)
		tok := authtest.Token(t.Context(), t, b.db, email)
		require.Equal(t, http.StatusOK, call(t, b.router, "GET", "/api/me", "", httpxtest.Bearer(tok)...).Code)
		require.Equal(t, http.StatusNoContent, call(t, b.router, "DELETE", "/api/users/"+id.String(), "", httpxtest.Bearer(b.owner)...).Code)
		require.Equal(t, http.StatusUnauthorized, call(t, b.router, "GET", "/api/me", "", httpxtest.Bearer(tok)...).Code)
	})
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	b := setup(t)

	r := call(t, b.router, "POST", "/api/api-keys", `{"label":"ci","scopes":["events:write"]}`, httpxtest.Bearer(b.owner)...)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	var created struct {
		ID     uuid.UUID
		Key    string
		Prefix string
		Scopes []string
	}
	r.json(t, &created)
	require.True(t, strings.HasPrefix(created.Key, "so_live_"))
	require.GreaterOrEqual(t, len(created.Key), len("so_live_")+43, "at least 32 random bytes")
	require.True(t, strings.HasPrefix(created.Key, created.Prefix))
	require.Equal(t, []string{"events:write"}, created.Scopes)

	var stored []byte
	require.NoError(t, b.db.Get(&stored, `SELECT digest FROM api_keys WHERE id = $1`, created.ID))
	require.Len(t, stored, 32, "only the SHA-256 digest is stored")

	list := call(t, b.router, "GET", "/api/api-keys", "", httpxtest.Bearer(b.owner)...)
	require.Equal(t, http.StatusOK, list.Code)
	require.NotContains(t, list.Body.String(), created.Key, "a listing never shows a key")
	require.Contains(t, list.Body.String(), created.Prefix)

	probe := func() int { return call(t, b.router, "GET", "/api/probe", "", "x-api-key", created.Key).Code }
	require.Equal(t, http.StatusOK, probe())
	require.Equal(t, http.StatusNoContent, call(t, b.router, "DELETE", "/api/api-keys/"+created.ID.String(), "", httpxtest.Bearer(b.owner)...).Code)
	require.Eventually(t, func() bool { return probe() == http.StatusUnauthorized }, 5*time.Second, 50*time.Millisecond,
		"revocation takes effect within 5 s")
	require.Equal(t, http.StatusNotFound, call(t, b.router, "DELETE", "/api/api-keys/"+created.ID.String(), "", httpxtest.Bearer(b.owner)...).Code,
		"revoking twice finds nothing to revoke")

	t.Run("LastUsedIsRecordedInBatches", func(t *testing.T) {
		require.Equal(t, http.StatusOK, call(t, b.router, "GET", "/api/probe", "", "x-api-key", b.tenant.APIKey).Code)
		var last *time.Time
		require.NoError(t, b.db.Get(&last, `SELECT last_used_at FROM api_keys WHERE tenant_id = $1 AND label = 'default'`, b.tenant.ID))
		require.Nil(t, last, "no write per request")
		b.mod.Service.FlushLastUsed(t.Context())
		require.NoError(t, b.db.Get(&last, `SELECT last_used_at FROM api_keys WHERE tenant_id = $1 AND label = 'default'`, b.tenant.ID))
		require.NotNil(t, last)
	})

	t.Run("ExpiredKey", func(t *testing.T) {
		_, raw, err := b.mod.Service.CreateAPIKey(t.Context(), b.tenant.ID, "short", auth.AllScopes, new(time.Now().Add(time.Second)))
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			return call(t, b.router, "GET", "/api/probe", "", "x-api-key", raw).Code == http.StatusUnauthorized
		}, 5*time.Second, 100*time.Millisecond)
	})

	t.Run("Invalid", func(t *testing.T) {
		for _, tt := range []struct {
			body   string
			status int
			field  string
		}{
			{`{"label":"","scopes":["events:write"]}`, 422, "label"},
			{`{"label":"x","scopes":[]}`, 422, "scopes"},
			{`{"label":"x","scopes":["events:delete"]}`, 422, "scopes[0]"},
			{`{"label":"x","scopes":["events:read"],"expiresAt":"2000-01-01T00:00:00Z"}`, 422, "expiresAt"},
			{`{"label":"x","scopes":"events:read"}`, 400, "scopes"},
		} {
			r := call(t, b.router, "POST", "/api/api-keys", tt.body, httpxtest.Bearer(b.owner)...)
			require.Equal(t, tt.status, r.Code, tt.body)
			var p httpx.Problem
			r.json(t, &p)
			require.Equal(t, tt.field, p.Errors[0].Field, tt.body)
		}
	})
}

func TestUsers(t *testing.T) {
	t.Parallel()
	b := setup(t)

	r := call(t, b.router, "POST", "/api/users", `{"email":"ann@example.test","password":"long enough pw","role":"viewer"}`, httpxtest.Bearer(b.owner)...)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	var ann struct{ ID uuid.UUID }
	r.json(t, &ann)
	require.NotContains(t, r.Body.String(), "password")

	dup := call(t, b.router, "POST", "/api/users", `{"email":"ANN@example.test","password":"long enough pw","role":"viewer"}`, httpxtest.Bearer(b.owner)...)
	require.Equal(t, http.StatusConflict, dup.Code)
	require.Equal(t, "email_taken", dup.code(t))

	adminID, adminEmail := authtest.CreateUser(t.Context(), t, b.db, b.tenant, auth.RoleAdmin)
	admin := authtest.Token(t.Context(), t, b.db, adminEmail)
	r = call(t, b.router, "POST", "/api/users", `{"email":"o2@example.test","password":"long enough pw","role":"owner"}`, httpxtest.Bearer(admin)...)
	require.Equal(t, http.StatusForbidden, r.Code)
	require.Equal(t, "insufficient_role", r.code(t))
	r = call(t, b.router, "DELETE", "/api/users/"+b.tenant.OwnerID.String(), "", httpxtest.Bearer(admin)...)
	require.Equal(t, http.StatusForbidden, r.Code, "an admin cannot remove an owner")
	r = call(t, b.router, "DELETE", "/api/users/"+b.tenant.OwnerID.String(), "", httpxtest.Bearer(b.owner)...)
	require.Equal(t, "cannot_delete_self", r.code(t))
	r = call(t, b.router, "DELETE", "/api/users/"+adminID.String(), "", httpxtest.Bearer(b.owner)...)
	require.Equal(t, http.StatusNoContent, r.Code)

	list := call(t, b.router, "GET", "/api/users", "", httpxtest.Bearer(b.owner)...)
	require.Equal(t, http.StatusOK, list.Code)
	require.Contains(t, list.Body.String(), "ann@example.test")
	require.NotContains(t, list.Body.String(), adminEmail)
	require.NotContains(t, list.Body.String(), "$2a$", "no password hashes")
}

func TestChangeRole(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	annID, annEmail := authtest.CreateUser(ctx, t, b.db, b.tenant, auth.RoleViewer)
	adminID, adminEmail := authtest.CreateUser(ctx, t, b.db, b.tenant, auth.RoleAdmin)
	admin := authtest.Token(ctx, t, b.db, adminEmail)
	patch := func(token string, id uuid.UUID, body string) resp {
		return call(t, b.router, "PATCH", "/api/users/"+id.String(), body, httpxtest.Bearer(token)...)
	}

	r := patch(admin, annID, `{"role":"member"}`)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	var got struct{ Email, Role string }
	r.json(t, &got)
	require.Equal(t, auth.RoleMember, got.Role)
	require.Equal(t, annEmail, got.Email)
	// The new role is the one the next request runs with.
	ann := authtest.Token(ctx, t, b.db, annEmail)
	require.Equal(t, http.StatusForbidden, call(t, b.router, "GET", "/api/users", "", httpxtest.Bearer(ann)...).Code)
	patch(admin, annID, `{"role":"admin"}`)
	require.Equal(t, http.StatusOK, call(t, b.router, "GET", "/api/users", "", httpxtest.Bearer(ann)...).Code)

	for _, tt := range []struct {
		name, token string
		id          uuid.UUID
		body        string
		status      int
		code        string
	}{
		{"UnknownRole", admin, annID, `{"role":"god"}`, 422, "validation_failed"},
		{"OwnSelf", admin, adminID, `{"role":"viewer"}`, 409, "cannot_change_own_role"},
		{"AdminGrantsOwner", admin, annID, `{"role":"owner"}`, 403, "insufficient_role"},
		{"AdminDemotesOwner", admin, b.tenant.OwnerID, `{"role":"viewer"}`, 403, "insufficient_role"},
		{"UnknownUser", admin, uuid.New(), `{"role":"viewer"}`, 404, "user_not_found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := patch(tt.token, tt.id, tt.body)
			require.Equal(t, tt.status, r.Code, r.Body.String())
			require.Equal(t, tt.code, r.code(t))
		})
	}

	// An owner may hand the role on; the last owner may not drop it.
	r = patch(b.owner, annID, `{"role":"owner"}`)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	r = patch(ann, b.tenant.OwnerID, `{"role":"admin"}`)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	r = patch(b.owner, annID, `{"role":"admin"}`)
	require.Equal(t, http.StatusForbidden, r.Code, "the former owner is an admin now")
	var owners int
	require.NoError(t, b.db.Get(&owners, `SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'owner'`, b.tenant.ID))
	require.Equal(t, 1, owners)

	// Two owners demoting each other at once: one wins, and an owner is left.
	r = patch(ann, b.tenant.OwnerID, `{"role":"owner"}`)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	codes := make(chan int, 2)
	go func() { codes <- patch(ann, b.tenant.OwnerID, `{"role":"viewer"}`).Code }()
	go func() { codes <- patch(b.owner, annID, `{"role":"viewer"}`).Code }()
	won := 0
	for range 2 {
		if <-codes == http.StatusOK {
			won++
		}
	}
	require.Equal(t, 1, won)
	require.NoError(t, b.db.Get(&owners, `SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'owner'`, b.tenant.ID))
	require.Equal(t, 1, owners)
}

func TestOperatorAPI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	op := httpxtest.Bearer(authtest.Options.AdminToken)

	for _, h := range [][]string{nil, httpxtest.Bearer("wrong"), httpxtest.Bearer(b.owner), {"x-api-key", b.tenant.APIKey}} {
		r := call(t, b.router, "GET", "/api/admin/tenants", "", h...)
		require.Equal(t, http.StatusUnauthorized, r.Code)
		require.Equal(t, "invalid_admin_token", r.code(t))
	}

	r := call(t, b.router, "POST", "/api/admin/tenants", `{"slug":"globex","name":"Globex","plan":"pro","softLimit":5,"hardLimit":8,"owner":{"email":"boss@globex.test","password":"`+authtest.Password+`"}}`, op...)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	var created struct {
		ID        uuid.UUID
		Plan      string
		SoftLimit *int64
		APIKey    string
	}
	r.json(t, &created)
	require.Equal(t, "pro", created.Plan)
	require.Equal(t, int64(5), *created.SoftLimit)
	require.Equal(t, http.StatusOK, call(t, b.router, "GET", "/api/probe", "", "x-api-key", created.APIKey).Code)

	dup := call(t, b.router, "POST", "/api/admin/tenants", `{"slug":"globex","name":"Again"}`, op...)
	require.Equal(t, http.StatusConflict, dup.Code)
	require.Equal(t, "slug_taken", dup.code(t))

	got := call(t, b.router, "GET", "/api/admin/tenants/"+created.ID.String(), "", op...)
	require.Equal(t, http.StatusOK, got.Code)
	require.Equal(t, http.StatusNotFound, call(t, b.router, "GET", "/api/admin/tenants/"+uuid.NewString(), "", op...).Code)

	r = call(t, b.router, "PATCH", "/api/admin/tenants/"+created.ID.String(), `{"status":"suspended","softLimit":null}`, op...)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	require.Contains(t, r.Body.String(), `"softLimit":null`)
	require.Contains(t, r.Body.String(), `"hardLimit":8`)
	require.Eventually(t, func() bool {
		p := call(t, b.router, "GET", "/api/probe", "", "x-api-key", created.APIKey)
		return p.Code == http.StatusForbidden && p.code(t) == "tenant_suspended"
	}, 5*time.Second, 50*time.Millisecond, "a suspended tenant's keys get 403 within 5 s")
	login := call(t, b.router, "POST", "/api/auth/login", `{"email":"boss@globex.test","password":"`+authtest.Password+`"}`)
	require.Equal(t, http.StatusForbidden, login.Code)

	r = call(t, b.router, "PATCH", "/api/admin/tenants/"+created.ID.String(), `{"status":"active"}`, op...)
	require.Equal(t, http.StatusOK, r.Code)
	require.Eventually(t, func() bool {
		return call(t, b.router, "GET", "/api/probe", "", "x-api-key", created.APIKey).Code == http.StatusOK
	}, 5*time.Second, 50*time.Millisecond)

	// A weight sets the tenant's share of the workers (SPEC §8); null gives
	// it back its plan's.
	r = call(t, b.router, "PATCH", "/api/admin/tenants/"+created.ID.String(), `{"weight":5}`, op...)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	require.Contains(t, r.Body.String(), `"weight":5`)
	before := call(t, b.router, "GET", "/api/admin/tenants/"+created.ID.String(), "", op...).Body.String()
	require.Contains(t, before, `"weight":5`)

	for _, tt := range []struct {
		body, field string
		status      int
	}{
		{`{"status":"deleted"}`, "status", http.StatusUnprocessableEntity},
		{`{"plan":"gold"}`, "plan", http.StatusUnprocessableEntity},
		{`{"softLimit":9}`, "softLimit", http.StatusUnprocessableEntity},
		{`{"hardLimit":-1}`, "hardLimit", http.StatusUnprocessableEntity},
		{`{"weight":0}`, "weight", http.StatusUnprocessableEntity},
		{`{"weight":101}`, "weight", http.StatusUnprocessableEntity},
		{`{"weight":"heavy"}`, "weight", http.StatusBadRequest},
		{`{"weight":2.5}`, "weight", http.StatusBadRequest},
		{`{"status":"suspended","weight":0}`, "weight", http.StatusUnprocessableEntity},
	} {
		r := call(t, b.router, "PATCH", "/api/admin/tenants/"+created.ID.String(), tt.body, op...)
		require.Equal(t, tt.status, r.Code, tt.body)
		var p httpx.Problem
		r.json(t, &p)
		require.Equal(t, tt.field, p.Errors[0].Field, tt.body)
		after := call(t, b.router, "GET", "/api/admin/tenants/"+created.ID.String(), "", op...).Body.String()
		require.Equal(t, before, after, "%s changed the tenant", tt.body)
	}

	r = call(t, b.router, "PATCH", "/api/admin/tenants/"+created.ID.String(), `{"weight":null}`, op...)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	require.Contains(t, r.Body.String(), `"weight":null`)

	list := call(t, b.router, "GET", "/api/admin/tenants?limit=1", "", op...)
	var page struct {
		Data       []json.RawMessage
		NextCursor *string
	}
	list.json(t, &page)
	require.Len(t, page.Data, 1)
	require.NotNil(t, page.NextCursor)
}
