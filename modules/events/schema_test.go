package events_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

func (b *catalogBundle) putType(t *testing.T, typ, schema string) {
	t.Helper()
	rec := b.call(t, "PUT", "/api/event-types/"+typ, `{"schema":`+schema+`}`)
	require.Contains(t, []int{http.StatusCreated, http.StatusOK}, rec.Code, rec.Body.String())
}

func (b *catalogBundle) stored(t *testing.T) int {
	t.Helper()
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM events WHERE tenant_id = $1`, b.tenant.ID))
	return n
}

func TestSchemaValidationAtIngest(t *testing.T) {
	t.Parallel()

	t.Run("Single", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		b.putType(t, "order.created", orderSchema)

		ok := b.ingest(t, `{"type":"order.created","payload":{"orderId":"A-1","amount":1250,"items":[{"sku":"x"}]}}`)
		require.Equal(t, http.StatusAccepted, ok.Code, ok.Body.String())

		for _, tt := range []struct {
			name, payload string
			want          []apperr.FieldError
		}{
			{"MissingMember", `{"amount":1}`, []apperr.FieldError{{Field: "/orderId", Message: "is required"}}},
			{"WrongType", `{"orderId":"A-1","amount":"1250"}`, []apperr.FieldError{{Field: "/amount", Message: "got string, want integer"}}},
			{"NotAnInteger", `{"orderId":"A-1","amount":12.5}`, []apperr.FieldError{{Field: "/amount", Message: "got number, want integer"}}},
			{"BelowMinimum", `{"orderId":"A-1","amount":-1}`, []apperr.FieldError{{Field: "/amount", Message: "minimum: got -1, want 0"}}},
			{"Pattern", `{"orderId":"a1","amount":1}`, []apperr.FieldError{{Field: "/orderId", Message: "'a1' does not match pattern '^[A-Z]-[0-9]+$'"}}},
			{"Format", `{"orderId":"A-1","amount":1,"email":"nobody"}`, []apperr.FieldError{{Field: "/email", Message: "is not a valid email: missing @"}}},
			{"NestedItem", `{"orderId":"A-1","amount":1,"items":[{"sku":"x"},{"qty":2}]}`, []apperr.FieldError{{Field: "/items/1/sku", Message: "is required"}}},
			{"NumberTooLarge", `{"orderId":"A-1","amount":1e400}`, []apperr.FieldError{{Field: "/amount",
				Message: "must have at most 40 characters and lie within ±1.8e308 to be checked against the schema"}}},
			{"NumberTooLong", `{"orderId":"A-1","amount":1.0000000000000000000000000000000000000001}`, []apperr.FieldError{{Field: "/amount",
				Message: "must have at most 40 characters and lie within ±1.8e308 to be checked against the schema"}}},
			{"Several", `{"orderId":7,"amount":true}`, []apperr.FieldError{{Field: "/orderId", Message: "got number, want string"}, {Field: "/amount", Message: "got boolean, want integer"}}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				before := b.stored(t)
				rec := b.ingest(t, `{"type":"order.created","payload":`+tt.payload+`}`)

				require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
				p := rec.problem(t)
				require.Equal(t, "schema_violation", p.Code)
				require.Contains(t, p.Detail, `"order.created" (version 1)`)
				require.ElementsMatch(t, tt.want, p.Errors)
				require.Equal(t, before, b.stored(t), "nothing stored")
			})
		}

		other := b.ingest(t, `{"type":"order.updated","payload":{"anything":true}}`)
		require.Equal(t, http.StatusAccepted, other.Code, "a type without a schema is accepted as before")
	})

	t.Run("PointersEscapeTheirTokens", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		b.putType(t, "x", `{"properties":{"a/b":{"type":"string"},"m~n":{"additionalProperties":false}}}`)

		rec := b.ingest(t, `{"type":"x","payload":{"a/b":1,"m~n":{"extra":1}}}`)
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
		require.ElementsMatch(t, []apperr.FieldError{
			{Field: "/a~1b", Message: "got number, want string"},
			{Field: "/m~0n/extra", Message: "is not allowed (additionalProperties)"},
		}, rec.problem(t).Errors)
	})

	t.Run("ErrorsAreCapped", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		b.putType(t, "x", `{"additionalProperties":{"type":"string"}}`)
		members := make([]string, 50)
		for i := range members {
			members[i] = fmt.Sprintf(`"m%d":%d`, i, i)
		}
		rec := b.ingest(t, `{"type":"x","payload":{`+strings.Join(members, ",")+`}}`)
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
		require.Len(t, rec.problem(t).Errors, events.MaxSchemaErrors)
	})

	t.Run("TooCostlyToCheck", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		b.putType(t, "x", `{"additionalProperties":{"type":"number","minimum":0}}`)
		members := make([]string, 10_000)
		for i := range members {
			members[i] = fmt.Sprintf(`"m%d":1`, i)
		}
		rec := b.ingest(t, `{"type":"x","payload":{`+strings.Join(members, ",")+`}}`)
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
		p := rec.problem(t)
		require.Equal(t, "payload_too_complex", p.Code)
		require.Equal(t, "", p.Errors[0].Field)
		require.Zero(t, b.stored(t))

		small := b.ingest(t, `{"type":"x","payload":{`+strings.Join(members[:100], ",")+`}}`)
		require.Equal(t, http.StatusAccepted, small.Code, small.Body.String())
	})

	t.Run("Batch", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		b.putType(t, "order.created", orderSchema)

		rec := do(t, b.router, http.MethodPost, "/api/events/batch", `{"events":[
			{"type":"order.created","payload":{"orderId":"A-1","amount":1}},
			{"type":"order.created","payload":{"orderId":"A-2"}},
			{"type":"order.created","payload":{"orderId":"A-3","amount":1,"items":[{}]}},
			{"type":"other","payload":{"free":"form"}},
			{"type":"order.created","payload":{"orderId":"A-5","amount":5}}
		]}`, "x-api-key", b.tenant.APIKey)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var got struct {
			Results []struct {
				Status string
				ID     *uuid.UUID
				Error  *struct {
					Status int
					Code   string
					Errors []apperr.FieldError
				}
			}
			Accepted, Rejected int
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		statuses := make([]string, len(got.Results))
		for i, r := range got.Results {
			statuses[i] = r.Status
		}
		require.Equal(t, []string{"accepted", "rejected", "rejected", "accepted", "accepted"}, statuses)
		require.Equal(t, 422, got.Results[1].Error.Status)
		require.Equal(t, "schema_violation", got.Results[1].Error.Code)
		require.Equal(t, []apperr.FieldError{{Field: "/amount", Message: "is required"}}, got.Results[1].Error.Errors)
		require.Equal(t, []apperr.FieldError{{Field: "/items/0/sku", Message: "is required"}}, got.Results[2].Error.Errors)
		require.Equal(t, [2]int{3, 2}, [2]int{got.Accepted, got.Rejected})
		n, jobs := counts(t, b.db)
		require.Equal(t, [2]int{3, 3}, [2]int{n, jobs}, "only the valid items are stored and enqueued")
	})

	t.Run("ARetryKeepsItsAnswer", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		body := `{"type":"order.created","payload":{"orderId":"A-1"}}`
		first := b.ingest(t, body, "idempotency-key", "k1")
		require.Equal(t, http.StatusAccepted, first.Code)
		batchFirst := do(t, b.router, http.MethodPost, "/api/events/batch", `{"events":[{"type":"order.created","payload":{"orderId":"A-2"},"idempotencyKey":"k2"}]}`,
			"x-api-key", b.tenant.APIKey)
		require.Equal(t, http.StatusOK, batchFirst.Code)

		b.putType(t, "order.created", orderSchema) // the stored payloads lack "amount"

		retry := b.ingest(t, body, "idempotency-key", "k1")
		require.Equal(t, http.StatusOK, retry.Code, retry.Body.String())
		require.Equal(t, idOf(t, first), idOf(t, retry))
		fresh := b.ingest(t, body, "idempotency-key", "k3")
		require.Equal(t, http.StatusUnprocessableEntity, fresh.Code, "a new key is checked")

		batch := do(t, b.router, http.MethodPost, "/api/events/batch", `{"events":[
			{"type":"order.created","payload":{"orderId":"A-2"},"idempotencyKey":"k2"},
			{"type":"order.created","payload":{"orderId":"A-2"},"idempotencyKey":"k4"}]}`, "x-api-key", b.tenant.APIKey)
		require.Equal(t, http.StatusOK, batch.Code)
		require.Contains(t, batch.Body.String(), `"status":"replayed"`)
		require.Contains(t, batch.Body.String(), `"code":"schema_violation"`)
		require.Equal(t, 2, b.stored(t))
	})

	t.Run("RetiredTypeIsNoLongerChecked", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		b.putType(t, "order.created", orderSchema)
		require.Equal(t, http.StatusUnprocessableEntity, b.ingest(t, `{"type":"order.created","payload":{}}`).Code)

		require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/api/event-types/order.created", "").Code)
		require.Equal(t, http.StatusAccepted, b.ingest(t, `{"type":"order.created","payload":{}}`).Code)

		b.putType(t, "order.created", `{"required":["v2"]}`)
		rec := b.ingest(t, `{"type":"order.created","payload":{}}`)
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
		require.Contains(t, rec.problem(t).Detail, "(version 2)", "the current version applies")
	})

	t.Run("AnotherTenantsTypeIsInvisible", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		other := newCatalogBundleOn(t, b)
		b.putType(t, "order.created", orderSchema)

		require.Equal(t, http.StatusAccepted, other.ingest(t, `{"type":"order.created","payload":{"free":"form"}}`).Code,
			"another tenant's schema does not apply")
		for _, path := range []string{"/api/event-types/order.created", "/api/event-types/order.created/versions"} {
			rec := other.call(t, "GET", path, "")
			require.Equal(t, http.StatusNotFound, rec.Code)
			require.Equal(t, "event_type_not_found", rec.problem(t).Code)
		}
		require.JSONEq(t, `{"data":[],"nextCursor":null}`, other.call(t, "GET", "/api/event-types", "").Body.String())
		require.Equal(t, http.StatusNotFound, other.call(t, "DELETE", "/api/event-types/order.created", "").Code)
		require.Equal(t, http.StatusNotFound, other.call(t, "POST", "/api/event-types/order.created/rollback", `{"version":1}`).Code)

		// Its own type of the same name is its own.
		other.putType(t, "order.created", `{"required":["mine"]}`)
		require.Equal(t, http.StatusAccepted, b.ingest(t, `{"type":"order.created","payload":{"orderId":"A-1","amount":1}}`).Code)
		mine := b.call(t, "GET", "/api/event-types/order.created", "")
		require.JSONEq(t, orderSchema, string(decodeType(t, mine).Schema))
		require.Equal(t, 1, decodeType(t, mine).Version)
	})

	t.Run("SystemEventsAreNotChecked", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		b.putType(t, "channel.circuit_opened", `false`) // refuses every payload
		require.NoError(t, pg.InTx(t.Context(), b.db, func(tx *sqlx.Tx) error {
			_, err := b.svc.RecordTx(t.Context(), tx, b.tenant.ID, "channel.circuit_opened", map[string]any{"name": "hook"})
			return err
		}))
		require.Equal(t, 1, b.stored(t), "SignalOps' own events are stored whatever the tenant's schema says")
	})
}

// newCatalogBundleOn is a second tenant served by the same process as b.
func newCatalogBundleOn(t *testing.T, b *catalogBundle) *catalogBundle {
	t.Helper()
	tenant := authtest.CreateTenant(t.Context(), t, b.db, nil)
	return &catalogBundle{db: b.db, router: b.router, svc: b.svc, tenant: tenant, token: authtest.Token(t.Context(), t, b.db, tenant.OwnerEmail)}
}

// TestSchemaCacheAcrossProcesses runs two processes' events modules on
// one database, each with a clock of its own: a change made through one
// reaches the other's ingestion once its view is schemaRecheck old, and
// not before (the view is cached: no query per event).
func TestSchemaCacheAcrossProcesses(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	a := newCatalogBundle(t, pool)
	bProc := newCatalogBundle(t, pool) // another process
	var mu sync.Mutex
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	events.SetSchemaClock(bProc.svc, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	ctx := t.Context()
	owner := auth.Principal{TenantID: a.tenant.ID}
	bad, err := events.ParseInput([]byte(`{"type":"order.created","payload":{"orderId":"A-1"}}`), "")
	require.NoError(t, err)
	check := func() error { return events.CheckSchema(ctx, bProc.svc, a.tenant.ID, bad) }

	require.NoError(t, check(), "no schema yet; the other process reads the catalog now")

	_, _, err = a.svc.PutType(ctx, owner, "order.created", events.TypeInput{Schema: json.RawMessage(orderSchema)})
	require.NoError(t, err)
	require.NoError(t, check(), "the other process's view is fresh: no query per event")
	advance(999 * time.Millisecond)
	require.NoError(t, check())
	advance(time.Millisecond) // the view is schemaRecheck (1 s) old
	require.True(t, apperr.IsKind(check(), apperr.KindInvalid), "the change reached the other process")

	_, _, err = a.svc.PutType(ctx, owner, "order.created", events.TypeInput{Schema: json.RawMessage(`{"required":["orderId"]}`)})
	require.NoError(t, err)
	require.Error(t, check(), "version 1 still applies until the view is checked again")
	advance(time.Second)
	require.NoError(t, check(), "version 2 reached the other process")

	require.NoError(t, a.svc.RetireType(ctx, owner, "order.created"))
	_, _, err = a.svc.PutType(ctx, owner, "order.created", events.TypeInput{Schema: json.RawMessage(`false`)})
	require.NoError(t, err)
	advance(1500 * time.Millisecond)
	require.Error(t, check(), "version 3 (after a retirement) reached the other process")

	// In the process that made the change, it applies at once.
	require.NoError(t, a.svc.RetireType(ctx, owner, "order.created"))
	require.NoError(t, events.CheckSchema(ctx, a.svc, a.tenant.ID, bad))
}
