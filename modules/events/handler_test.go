package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertest"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/background"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/httpx/httpxtest"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/queue"
	"github.com/signalops/signalops/platform/testdb"
)

type testBundle struct {
	db     *sqlx.DB
	router *echo.Echo
	tenant authtest.Tenant
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	b, _ := setupCommitters(t, pg.GroupOptions{Committers: 2, MaxBatch: 64})
	return b
}

// setupCommitters is setup with the group commit tuned by opts.
func setupCommitters(t *testing.T, opts pg.GroupOptions) (*testBundle, *events.Service) {
	t.Helper()
	pool := testdb.New(t)
	router, svc := newRouterWithService(t, pool)
	startCommitters(t, svc, opts)
	return &testBundle{db: pool, router: router, tenant: authtest.CreateTenant(t.Context(), t, pool, nil)}, svc
}

// startCommitters runs svc's group commit, as serve runs it, until the
// test ends.
func startCommitters(t *testing.T, svc *events.Service, opts pg.GroupOptions) {
	t.Helper()
	committers := background.Start(t.Context(), "ingest-committers", func(ctx context.Context) { svc.RunCommitters(ctx, opts) })
	t.Cleanup(committers.Stop)
}

// newRouter is the production router with the auth and events modules.
func newRouter(t *testing.T, pool *sqlx.DB) *echo.Echo {
	t.Helper()
	r, _ := newRouterWithService(t, pool)
	return r
}

// newRouterWithService mounts the events module as cmd does: ingestion by
// API key, reads by any credential, the catalog by bearer token.
func newRouterWithService(t *testing.T, pool *sqlx.DB) (*echo.Echo, *events.Service) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	jobs, err := queue.NewInsertOnly(pool.DB, queue.Config{FetchCooldown: 10 * time.Millisecond}, logger)
	require.NoError(t, err)
	router := httpx.NewRouter(logger, httpx.Options{Unbounded: []string{"/api" + events.StreamPath}})
	authMod := auth.New(pool, logger, authtest.Options)
	api := httpx.NewGroup(router, "/api")
	ev := events.New(pool, jobs, nil, logger)
	ev.Routes(api.With(authMod.APIKeyAuth()), api.With(authMod.AnyAuth()))
	ev.TypeRoutes(api.With(authMod.TokenAuth()))
	return router, ev.Service
}

type response struct {
	*httptest.ResponseRecorder
}

func (r response) problem(t *testing.T) httpx.Problem {
	t.Helper()
	return httpxtest.Problem(t, r.ResponseRecorder)
}

// do serves one request (httpxtest.Do) and checks that every answer
// carries a request id.
func do(t *testing.T, h http.Handler, method, path, body string, headers ...string) response {
	t.Helper()
	rec := httpxtest.Do(h, method, path, body, headers...)
	require.NotEmpty(t, rec.Header().Get(httpx.HeaderRequestID))
	return response{rec}
}

// pages reads a paged list (httpxtest.Pages) through do, so every page is
// checked for a request id too.
func pages[T any](t *testing.T, h http.Handler, max int, path string, headers ...string) []T {
	t.Helper()
	return httpxtest.Pages[T](t, max, path, func(page string) *httptest.ResponseRecorder {
		return do(t, h, http.MethodGet, page, "", headers...).ResponseRecorder
	})
}

func post(t *testing.T, b *testBundle, body string, headers ...string) response {
	t.Helper()
	return do(t, b.router, http.MethodPost, "/api/events", body, append([]string{"x-api-key", b.tenant.APIKey}, headers...)...)
}

func idOf(t *testing.T, r response) uuid.UUID {
	t.Helper()
	var got struct {
		ID     uuid.UUID `json:"id"`
		Status string    `json:"status"`
	}
	require.NoError(t, json.Unmarshal(r.Body.Bytes(), &got), r.Body.String())
	require.Equal(t, "accepted", got.Status)
	return got.ID
}

func counts(t *testing.T, pool *sqlx.DB) (eventsN, jobsN int) {
	t.Helper()
	require.NoError(t, pool.Get(&eventsN, `SELECT count(*) FROM events`))
	require.NoError(t, pool.Get(&jobsN, `SELECT count(*) FROM river_job WHERE kind = 'event.process'`))
	return eventsN, jobsN
}

func TestIngest(t *testing.T) {
	t.Parallel()

	t.Run("StoresEventAndEnqueuesProcessing", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		rec := post(t, b, `{"type":"order.created","source":"shop","occurredAt":"2026-01-02T03:04:05+01:00","payload":{"orderId":"A-1","amount":1250}}`)

		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		id := idOf(t, rec)
		require.Equal(t, 7, int(id.Version()), "event ids are UUIDv7")
		require.Equal(t, "/api/events/"+id.String(), rec.Header().Get("Location"))
		job := rivertest.RequireInserted(t.Context(), t, riverdatabasesql.New(b.db.DB), &events.ProcessArgs{}, nil)
		require.Equal(t, events.ProcessArgs{TenantID: b.tenant.ID, EventID: id}, *job.Args)
		require.Equal(t, events.QueueEvents, job.Queue)

		got := do(t, b.router, http.MethodGet, "/api/events/"+id.String(), "", "x-api-key", b.tenant.APIKey)
		require.Equal(t, http.StatusOK, got.Code, got.Body.String())
		var ev map[string]any
		require.NoError(t, json.Unmarshal(got.Body.Bytes(), &ev))
		require.Equal(t, "order.created", ev["type"])
		require.Equal(t, "shop", ev["source"])
		require.Equal(t, "2026-01-02T02:04:05Z", ev["occurredAt"], "stored and shown in UTC")
		require.Equal(t, map[string]any{"orderId": "A-1", "amount": float64(1250)}, ev["payload"])
		require.Equal(t, "accepted", ev["status"])
		require.Nil(t, ev["processedAt"])
	})

	t.Run("DefaultsOccurredAtToReceiveTime", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		rec := post(t, b, `{"type":"a","payload":{}}`)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())

		var occurred, received time.Time
		var source *string
		require.NoError(t, b.db.QueryRow(`SELECT occurred_at, received_at, source FROM events WHERE id = $1`, idOf(t, rec)).
			Scan(&occurred, &received, &source))
		require.True(t, occurred.Equal(received))
		require.Nil(t, source)
	})

	t.Run("AcceptsPayloadNestedToTheLimit", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		payload := strings.Repeat(`{"a":`, events.MaxPayloadDepth-1) + `{}` + strings.Repeat(`}`, events.MaxPayloadDepth-1)
		rec := post(t, b, `{"type":"deep","payload":`+payload+`}`)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	})

	t.Run("IdempotentReplay", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		first := post(t, b, `{"type":"a","payload":{"n":1}}`, "idempotency-key", "k-1")
		require.Equal(t, http.StatusAccepted, first.Code, first.Body.String())
		again := post(t, b, "{ \"type\": \"a\",\n \"payload\": {\"n\": 1} }", "idempotency-key", "k-1")
		require.Equal(t, http.StatusOK, again.Code, again.Body.String())
		require.Equal(t, "true", again.Header().Get(events.HeaderReplayed))
		require.Equal(t, idOf(t, first), idOf(t, again))
		require.Empty(t, first.Header().Get(events.HeaderReplayed))

		other := post(t, b, `{"type":"a","payload":{"n":2}}`, "idempotency-key", "k-1")
		require.Equal(t, http.StatusUnprocessableEntity, other.Code)
		require.Equal(t, "idempotency_key_reused", other.problem(t).Code)

		n, jobs := counts(t, b.db)
		require.Equal(t, 1, n)
		require.Equal(t, 1, jobs)
	})

	t.Run("IdempotencyKeysAreScopedPerTenant", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		other := authtest.CreateTenant(t.Context(), t, b.db, nil)

		first := post(t, b, `{"type":"a","payload":{}}`, "idempotency-key", "shared")
		second := do(t, b.router, http.MethodPost, "/api/events", `{"type":"a","payload":{}}`,
			"x-api-key", other.APIKey, "idempotency-key", "shared")

		require.Equal(t, http.StatusAccepted, first.Code)
		require.Equal(t, http.StatusAccepted, second.Code)
		require.NotEqual(t, idOf(t, first), idOf(t, second))
	})

	t.Run("ConcurrentRepeatsStoreOneEvent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		const n = 24
		var wg sync.WaitGroup
		codes := make([]int, n)
		ids := make([]uuid.UUID, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rec := httpxtest.Do(b.router, http.MethodPost, "/api/events", `{"type":"a","payload":{"x":true}}`,
					"x-api-key", b.tenant.APIKey, "idempotency-key", "race")
				codes[i] = rec.Code
				var got struct{ ID uuid.UUID }
				_ = json.Unmarshal(rec.Body.Bytes(), &got)
				ids[i] = got.ID
			}()
		}
		wg.Wait()

		accepted := 0
		for i := range n {
			require.Contains(t, []int{http.StatusAccepted, http.StatusOK}, codes[i], "never 409 or 5xx")
			require.Equal(t, ids[0], ids[i])
			if codes[i] == http.StatusAccepted {
				accepted++
			}
		}
		require.Equal(t, 1, accepted)
		evN, jobs := counts(t, b.db)
		require.Equal(t, 1, evN)
		require.Equal(t, 1, jobs)
	})
}

func TestIngestProblems(t *testing.T) {
	t.Parallel()
	b := setup(t)

	deep := `{"type":"a","payload":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40) + `}`
	huge := `{"type":"a","payload":{"s":"` + strings.Repeat("x", events.MaxBodyBytes) + `"}}`

	for _, tt := range []struct {
		name       string
		body       string
		headers    []string
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"InvalidJSON", `{not json`, nil, 400, "invalid_json", "body"},
		{"TruncatedJSON", `{"type":"a","payload":{}`, nil, 400, "invalid_json", "body"},
		{"EmptyBody", ``, nil, 400, "invalid_json", "body"},
		{"BodyIsArray", `[]`, nil, 400, "invalid_json", "body"},
		{"InvalidUTF8InPayload", "{\"type\":\"a\",\"payload\":{\"s\":\"\xff\xfe\"}}", nil, 400, "invalid_utf8", "payload"},
		{"InvalidUTF8InSource", "{\"type\":\"a\",\"source\":\"\xc3\x28\",\"payload\":{}}", nil, 400, "invalid_utf8", "source"},
		{"NestingTooDeep", deep, nil, 400, "json_too_deep", "body"},
		{"BodyTooLarge", huge, nil, 413, "payload_too_large", ""},
		{"MissingType", `{"payload":{}}`, nil, 422, "validation_failed", "type"},
		{"TypeNotString", `{"type":42,"payload":{}}`, nil, 422, "validation_failed", "type"},
		{"TypeBadCharacters", `{"type":"order created","payload":{}}`, nil, 422, "validation_failed", "type"},
		{"TypeTooLong", `{"type":"` + strings.Repeat("a", 129) + `","payload":{}}`, nil, 422, "validation_failed", "type"},
		{"MissingPayload", `{"type":"a"}`, nil, 422, "validation_failed", "payload"},
		{"NullPayload", `{"type":"a","payload":null}`, nil, 422, "validation_failed", "payload"},
		{"PayloadArray", `{"type":"a","payload":[1,2]}`, nil, 422, "validation_failed", "payload"},
		{"PayloadString", `{"type":"a","payload":"x"}`, nil, 422, "validation_failed", "payload"},
		{"PayloadNULCharacter", `{"type":"a","payload":{"s":"a\u0000b"}}`, nil, 422, "validation_failed", "payload"},
		{"SourceNotString", `{"type":"a","source":7,"payload":{}}`, nil, 422, "validation_failed", "source"},
		{"SourceTooLong", `{"type":"a","source":"` + strings.Repeat("s", 129) + `","payload":{}}`, nil, 422, "validation_failed", "source"},
		{"OccurredAtNotRFC3339", `{"type":"a","payload":{},"occurredAt":"yesterday"}`, nil, 422, "validation_failed", "occurredAt"},
		{"OccurredAtWithoutZone", `{"type":"a","payload":{},"occurredAt":"2026-01-02T03:04:05"}`, nil, 422, "validation_failed", "occurredAt"},
		{"OccurredAtNumber", `{"type":"a","payload":{},"occurredAt":1700000000}`, nil, 422, "validation_failed", "occurredAt"},
		{"IdempotencyKeyTooLong", `{"type":"a","payload":{}}`, []string{"idempotency-key", strings.Repeat("k", 256)}, 400, "invalid_idempotency_key", "idempotency-key"},
		{"IdempotencyKeyNotASCII", `{"type":"a","payload":{}}`, []string{"idempotency-key", "clé"}, 400, "invalid_idempotency_key", "idempotency-key"},
		{"IdempotencyKeyTwice", `{"type":"a","payload":{}}`, []string{"idempotency-key", "a", "idempotency-key", "b"}, 400, "invalid_idempotency_key", "idempotency-key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := post(t, b, tt.body, tt.headers...)

			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			p := rec.problem(t)
			require.Equal(t, tt.wantCode, p.Code)
			require.Equal(t, "/problems/"+tt.wantCode, p.Type)
			require.Equal(t, tt.wantStatus, p.Status)
			require.NotEmpty(t, p.Detail)
			if tt.wantField != "" {
				require.NotEmpty(t, p.Errors, "problem names the field")
				require.Equal(t, tt.wantField, p.Errors[0].Field)
			}
			evN, jobs := counts(t, b.db)
			require.Zero(t, evN, "nothing stored")
			require.Zero(t, jobs, "nothing enqueued")
		})
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	body := `{"type":"a","payload":{}}`
	svc := authtest.Service(b.db)

	_, readOnly, err := svc.CreateAPIKey(ctx, b.tenant.ID, "reader", []string{auth.ScopeEventsRead}, nil)
	require.NoError(t, err)
	_, writeOnly, err := svc.CreateAPIKey(ctx, b.tenant.ID, "writer", []string{auth.ScopeEventsWrite}, nil)
	require.NoError(t, err)
	revokedKey, revoked, err := svc.CreateAPIKey(ctx, b.tenant.ID, "old", auth.AllScopes, nil)
	require.NoError(t, err)
	require.NoError(t, svc.RevokeAPIKey(ctx, b.tenant.ID, revokedKey.ID))
	suspended := authtest.CreateTenant(ctx, t, b.db, nil)
	_, err = b.db.Exec(`UPDATE tenants SET status = 'suspended' WHERE id = $1`, suspended.ID)
	require.NoError(t, err)
	unknown := auth.KeyPrefix + strings.Repeat("A", 43)

	for _, tt := range []struct {
		name, method, path string
		headers            []string
		wantStatus         int
		wantCode           string
	}{
		{"MissingKey", "POST", "/api/events", nil, 401, "missing_api_key"},
		{"MalformedKey", "POST", "/api/events", []string{"x-api-key", "nope"}, 401, "invalid_api_key"},
		{"UnknownKey", "POST", "/api/events", []string{"x-api-key", unknown}, 401, "invalid_api_key"},
		{"RevokedKey", "POST", "/api/events", []string{"x-api-key", revoked}, 401, "invalid_api_key"},
		{"TwoKeys", "POST", "/api/events", []string{"x-api-key", b.tenant.APIKey, "x-api-key", b.tenant.APIKey}, 401, "invalid_api_key"},
		{"KeyAsBearerToken", "POST", "/api/events", []string{"Authorization", "Bearer " + b.tenant.APIKey}, 401, "missing_api_key"},
		{"WriteWithoutScope", "POST", "/api/events", []string{"x-api-key", readOnly}, 403, "insufficient_scope"},
		{"ReadWithoutScope", "GET", "/api/events", []string{"x-api-key", writeOnly}, 403, "insufficient_scope"},
		{"SuspendedTenant", "POST", "/api/events", []string{"x-api-key", suspended.APIKey}, 403, "tenant_suspended"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, b.router, tt.method, tt.path, body, tt.headers...)
			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			require.Equal(t, tt.wantCode, rec.problem(t).Code)
		})
	}
	evN, _ := counts(t, b.db)
	require.Zero(t, evN)
}

func TestReadEvents(t *testing.T) {
	t.Parallel()

	t.Run("OtherTenantsEventIsNotFound", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		other := authtest.CreateTenant(t.Context(), t, b.db, nil)
		id := idOf(t, post(t, b, `{"type":"a","payload":{"secret":1}}`))

		for _, path := range []string{"/api/events/" + id.String(), "/api/events/" + uuid.NewString(), "/api/events/not-a-uuid"} {
			rec := do(t, b.router, http.MethodGet, path, "", "x-api-key", other.APIKey)
			require.Equal(t, http.StatusNotFound, rec.Code)
			require.Equal(t, "event_not_found", rec.problem(t).Code)
		}
		list := do(t, b.router, http.MethodGet, "/api/events", "", "x-api-key", other.APIKey)
		require.JSONEq(t, `{"data":[],"nextCursor":null}`, list.Body.String())
	})

	t.Run("ListPagesNewestFirstWithFilters", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		var ids []uuid.UUID
		for i := range 5 {
			typ := "order.created"
			if i%2 == 1 {
				typ = "user.signup"
			}
			ids = append(ids, idOf(t, post(t, b, fmt.Sprintf(`{"type":%q,"payload":{"i":%d}}`, typ, i))))
		}

		seen := pages[struct{ ID uuid.UUID }](t, b.router, 3, "/api/events?limit=2", "x-api-key", b.tenant.APIKey)
		require.Equal(t, []struct{ ID uuid.UUID }{{ids[4]}, {ids[3]}, {ids[2]}, {ids[1]}, {ids[0]}}, seen)

		rec := do(t, b.router, http.MethodGet, "/api/events?type=user.signup", "", "x-api-key", b.tenant.APIKey)
		require.Equal(t, 2, strings.Count(rec.Body.String(), `"type":"user.signup"`))
		require.NotContains(t, rec.Body.String(), "order.created")

		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		rec = do(t, b.router, http.MethodGet, "/api/events?since="+future, "", "x-api-key", b.tenant.APIKey)
		require.JSONEq(t, `{"data":[],"nextCursor":null}`, rec.Body.String())
		rec = do(t, b.router, http.MethodGet, "/api/events?until="+future+"&limit=200", "", "x-api-key", b.tenant.APIKey)
		require.Equal(t, 5, strings.Count(rec.Body.String(), `"id"`))
	})

	t.Run("BadQueryParameters", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		for _, tt := range []struct{ query, field string }{
			{"limit=0", "limit"}, {"limit=201", "limit"}, {"limit=x", "limit"},
			{"cursor=%27%3B--", "cursor"}, {"since=yesterday", "since"}, {"until=1", "until"},
			{"type=%27%20OR%201%3D1--", "type"},
		} {
			rec := do(t, b.router, http.MethodGet, "/api/events?"+tt.query, "", "x-api-key", b.tenant.APIKey)
			require.Equal(t, http.StatusBadRequest, rec.Code, tt.query)
			p := rec.problem(t)
			require.Equal(t, "invalid_query", p.Code)
			require.Equal(t, tt.field, p.Errors[0].Field)
		}
	})
}

func TestDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	// A pool on a port nobody listens on: every query fails to connect.
	pool, err := sqlx.Open("postgres", "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	router := newRouter(t, pool)
	key := auth.KeyPrefix + strings.Repeat("B", 43)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req := httpxtest.NewRequest(http.MethodPost, "/api/events", `{"type":"a","payload":{}}`, "x-api-key", key).WithContext(ctx)
	rec := httpxtest.Serve(router, req)

	require.Equal(t, http.StatusServiceUnavailable, rec.Code, rec.Body.String())
	require.NotEmpty(t, rec.Header().Get("Retry-After"))
	require.Equal(t, "service_unavailable", response{rec}.problem(t).Code)
	require.NotContains(t, rec.Body.String(), "127.0.0.1", "no connection details leak")
}
