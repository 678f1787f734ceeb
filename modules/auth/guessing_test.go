package auth_test

import (
	"crypto/rand"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/httpx/httpxtest"
	"github.com/signalops/signalops/platform/testdb"
)

// from is a request header list that sets the client address (the router
// takes the TCP peer, which httptest sets from RemoteAddr).
func callFrom(t *testing.T, h http.Handler, addr, method, path, body string, headers ...string) resp {
	t.Helper()
	req := httpxtest.NewRequest(method, path, body, headers...)
	req.RemoteAddr = addr
	return resp{httpxtest.Serve(h, req)}
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomKey(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = base62[int(b[i])%62]
	}
	return auth.KeyPrefix + string(b)
}

// TestKeyGuessing: keys carry a MAC, so a forged key of the current format
// is refused without a lookup; older keys still work; refused keys are
// limited per client address, without slowing keys that carry a valid MAC.
func TestKeyGuessing(t *testing.T) {
	t.Parallel()
	b := setup(t)

	created := call(t, b.router, "POST", "/api/api-keys", `{"label":"ci","scopes":["events:write"]}`, httpxtest.Bearer(b.owner)...)
	require.Equal(t, http.StatusCreated, created.Code, created.Body.String())
	var key struct{ Key string }
	created.json(t, &key)
	require.Len(t, key.Key, len(auth.KeyPrefix)+43+6, "43 random digits and a 6-digit MAC")

	t.Run("ForgedKeysNeedNoLookup", func(t *testing.T) {
		// A second service over its own pool: once it has its MAC secret,
		// close the pool. A forged key is still refused (401), so its check
		// needs no database; an unknown key of the old format needs one.
		mainPool, url := testdb.NewWithURL(t)
		tenant := authtest.CreateTenant(t.Context(), t, mainPool, nil)
		pool, err := sqlx.Open("postgres", url)
		require.NoError(t, err)
		svc := auth.NewService(pool, slog.New(slog.DiscardHandler), authtest.Options)
		_, err = svc.AuthenticateKey(t.Context(), tenant.APIKey, "198.51.100.1")
		require.NoError(t, err)
		require.NoError(t, pool.Close())

		forged := randomKey(43 + 6)
		_, err = svc.AuthenticateKey(t.Context(), forged, "198.51.100.1")
		require.ErrorContains(t, err, "unknown, revoked or expired")
		real := tenant.APIKey
		tampered := real[:len(real)-1] + string(base62[(strings.IndexByte(base62, real[len(real)-1])+1)%62])
		_, err = svc.AuthenticateKey(t.Context(), tampered, "198.51.100.1")
		require.ErrorContains(t, err, "unknown, revoked or expired")
		_, err = svc.AuthenticateKey(t.Context(), randomKey(43), "198.51.100.1")
		require.Error(t, err)
		require.NotContains(t, err.Error(), "unknown, revoked or expired", "an old-format key is looked up")
	})

	t.Run("OldFormatKeysKeepWorking", func(t *testing.T) {
		// A key issued before keys carried a MAC: stored as its digest.
		old := randomKey(43)
		_, err := b.db.Exec(`INSERT INTO api_keys (id, tenant_id, label, prefix, digest, scopes)
			VALUES (gen_random_uuid(), $1, 'old', $2, sha256(convert_to($3, 'UTF8')), '{events:write}')`,
			b.tenant.ID, old[:14], old)
		require.NoError(t, err)
		r := callFrom(t, b.router, "203.0.113.50:1", "GET", "/api/probe", "", "x-api-key", old)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
	})

	t.Run("RefusedKeysAreLimitedPerAddress", func(t *testing.T) {
		const attacker = "[2001:db8:7:7::1]:4000"
		for i := range 20 {
			r := callFrom(t, b.router, attacker, "GET", "/api/probe", "", "x-api-key", randomKey(43))
			require.Equal(t, http.StatusUnauthorized, r.Code, "attempt %d", i)
		}
		// Another address in the same /64 shares the limit. (The bucket
		// refills 2/s while the lookups run, so a slow machine needs a few
		// more refusals before it is empty.)
		var r resp
		for range 200 {
			r = callFrom(t, b.router, "[2001:db8:7:7:ffff::2]:4000", "GET", "/api/probe", "", "x-api-key", randomKey(43))
			if r.Code != http.StatusUnauthorized {
				break
			}
		}
		require.Equal(t, http.StatusTooManyRequests, r.Code, r.Body.String())
		require.Equal(t, "rate_limited", r.code(t))
		require.NotEmpty(t, r.Header().Get("Retry-After"))
		// A producer with a real key behind the same address is not held.
		r = callFrom(t, b.router, attacker, "GET", "/api/probe", "", "x-api-key", key.Key)
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		// Other addresses are not affected.
		r = callFrom(t, b.router, "[2001:db8:7:8::1]:4000", "GET", "/api/probe", "", "x-api-key", randomKey(43))
		require.Equal(t, http.StatusUnauthorized, r.Code)
	})
}

// TestLoginGuessing: failed logins are limited per account as well as per
// address, and the owner still signs in from an address that signed in
// before.
func TestLoginGuessing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	login := func(addr, password string) resp {
		return callFrom(t, b.router, addr, "POST", "/api/auth/login",
			`{"email":"`+b.tenant.OwnerEmail+`","password":"`+password+`"}`)
	}

	const home = "192.0.2.10:5000"
	require.Equal(t, http.StatusOK, login(home, authtest.Password).Code)

	// An attacker rotating addresses: 10 guesses, then the account slows.
	for i := range 10 {
		r := login("203.0.113."+strconv.Itoa(i+1)+":1", "guess "+strconv.Itoa(i))
		require.Equal(t, http.StatusUnauthorized, r.Code, "guess %d", i)
	}
	r := login("203.0.113.99:1", "guess 99")
	require.Equal(t, http.StatusTooManyRequests, r.Code, r.Body.String())
	require.Equal(t, "rate_limited", r.code(t))
	require.NotEmpty(t, r.Header().Get("Retry-After"))
	r = login("203.0.113.98:1", authtest.Password)
	require.Equal(t, http.StatusTooManyRequests, r.Code, "the right password from a new address waits too")

	// The owner, from where they signed in before, is not locked out.
	r = login(home, authtest.Password)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())

	// Another account is not affected.
	_, other := authtest.CreateUser(t.Context(), t, b.db, b.tenant, auth.RoleViewer)
	r = callFrom(t, b.router, "203.0.113.97:1", "POST", "/api/auth/login", `{"email":"`+other+`","password":"`+authtest.Password+`"}`)
	require.Equal(t, http.StatusOK, r.Code, r.Body.String())
}

// TestEmailsPerTenant: creating a user never reveals another tenant's
// users; the same address in two tenants signs in to the one its password
// opens, and names the tenant when both passwords are the same.
func TestEmailsPerTenant(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := authtest.CreateTenant(t.Context(), t, b.db, nil)
	otherOwner := authtest.Token(t.Context(), t, b.db, other.OwnerEmail)

	// The other tenant's owner address, created in ours: 201, not 409.
	r := call(t, b.router, "POST", "/api/users", `{"email":"`+other.OwnerEmail+`","password":"a different pw","role":"viewer"}`, httpxtest.Bearer(b.owner)...)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	r = call(t, b.router, "POST", "/api/users", `{"email":"`+strings.ToUpper(other.OwnerEmail)+`","password":"a different pw","role":"viewer"}`, httpxtest.Bearer(b.owner)...)
	require.Equal(t, http.StatusConflict, r.Code, "unique within a tenant")
	require.Equal(t, "email_taken", r.code(t))

	tenantOf := func(r resp) string {
		t.Helper()
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		var tok struct{ AccessToken string }
		r.json(t, &tok)
		me := call(t, b.router, "GET", "/api/me", "", httpxtest.Bearer(tok.AccessToken)...)
		var got struct{ Tenant struct{ Slug string } }
		me.json(t, &got)
		return got.Tenant.Slug
	}
	require.Equal(t, b.tenant.Slug, tenantOf(call(t, b.router, "POST", "/api/auth/login", `{"email":"`+other.OwnerEmail+`","password":"a different pw"}`)))
	require.Equal(t, other.Slug, tenantOf(call(t, b.router, "POST", "/api/auth/login", `{"email":"`+other.OwnerEmail+`","password":"`+authtest.Password+`"}`)))

	// Same address, same password in both: the tenant must be named.
	r = call(t, b.router, "POST", "/api/users", `{"email":"`+b.tenant.OwnerEmail+`","password":"`+authtest.Password+`","role":"viewer"}`, httpxtest.Bearer(otherOwner)...)
	require.Equal(t, http.StatusCreated, r.Code, r.Body.String())
	r = call(t, b.router, "POST", "/api/auth/login", `{"email":"`+b.tenant.OwnerEmail+`","password":"`+authtest.Password+`"}`)
	require.Equal(t, http.StatusConflict, r.Code)
	require.Equal(t, "tenant_required", r.code(t))
	require.Equal(t, other.Slug, tenantOf(call(t, b.router, "POST", "/api/auth/login",
		`{"email":"`+b.tenant.OwnerEmail+`","password":"`+authtest.Password+`","tenant":"`+other.Slug+`"}`)))
	r = call(t, b.router, "POST", "/api/auth/login", `{"email":"`+b.tenant.OwnerEmail+`","password":"`+authtest.Password+`","tenant":"no-such-tenant"}`)
	require.Equal(t, http.StatusUnauthorized, r.Code)
	require.Equal(t, "invalid_credentials", r.code(t))
}
