package events_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

// catalogBundle is the events module with its catalog, mounted as cmd
// mounts it: ingestion by API key, the catalog by bearer token.
type catalogBundle struct {
	db     *sqlx.DB
	router *echo.Echo
	svc    *events.Service
	tenant authtest.Tenant
	token  string // the tenant owner's
}

func setupCatalog(t *testing.T) *catalogBundle {
	t.Helper()
	pool := testdb.New(t)
	return newCatalogBundle(t, pool)
}

// newCatalogBundle builds one process's events module over pool (two
// bundles on one pool are two processes) with a tenant of its own.
func newCatalogBundle(t *testing.T, pool *sqlx.DB) *catalogBundle {
	t.Helper()
	router, svc := newRouterWithService(t, pool)
	startCommitters(t, svc, pg.GroupOptions{Committers: 2, MaxBatch: 64})
	tenant := authtest.CreateTenant(t.Context(), t, pool, nil)
	return &catalogBundle{db: pool, router: router, svc: svc, tenant: tenant,
		token: authtest.Token(t.Context(), t, pool, tenant.OwnerEmail)}
}

func (b *catalogBundle) call(t *testing.T, method, path, body string) response {
	t.Helper()
	return do(t, b.router, method, path, body, "Authorization", "Bearer "+b.token)
}

func (b *catalogBundle) ingest(t *testing.T, body string, headers ...string) response {
	t.Helper()
	return do(t, b.router, http.MethodPost, "/api/events", body, append([]string{"x-api-key", b.tenant.APIKey}, headers...)...)
}

type typeView struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	Version     int             `json:"version"`
	CreatedBy   *string         `json:"createdBy"`
	UpdatedAt   time.Time       `json:"updatedAt"`
}

func decodeType(t *testing.T, r response) typeView {
	t.Helper()
	var v typeView
	require.NoError(t, json.Unmarshal(r.Body.Bytes(), &v), r.Body.String())
	return v
}

// catalogRows counts the catalog's rows, to prove a refused request
// changed nothing.
func catalogRows(t *testing.T, db *sqlx.DB) [2]int {
	t.Helper()
	var n [2]int
	require.NoError(t, db.Get(&n[0], `SELECT count(*) FROM event_types`))
	require.NoError(t, db.Get(&n[1], `SELECT count(*) FROM event_type_versions`))
	return n
}

const orderSchema = `{"type":"object","required":["orderId","amount"],"properties":{
	"orderId":{"type":"string","pattern":"^[A-Z]-[0-9]+$"},
	"amount":{"type":"integer","minimum":0},
	"email":{"type":"string","format":"email"},
	"items":{"type":"array","items":{"type":"object","required":["sku"],"properties":{"sku":{"type":"string"}}}}}}`

func TestEventTypesAPI(t *testing.T) {
	t.Parallel()

	t.Run("VersionedLikeRules", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)

		rec := b.call(t, "PUT", "/api/event-types/order.created", `{"description":"An order was placed.","schema":`+orderSchema+`}`)
		require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
		require.Equal(t, "/api/event-types/order.created", rec.Header().Get("Location"))
		v1 := decodeType(t, rec)
		require.Equal(t, typeView{Type: "order.created", Description: "An order was placed.", Version: 1}, typeView{Type: v1.Type, Description: v1.Description, Version: v1.Version})
		require.JSONEq(t, orderSchema, string(v1.Schema))
		require.NotNil(t, v1.CreatedBy, "a user made it")

		again := b.call(t, "PUT", "/api/event-types/order.created", `{"schema":`+orderSchema+`, "description":"An order was placed."}`)
		require.Equal(t, http.StatusOK, again.Code, again.Body.String())
		require.Equal(t, 1, decodeType(t, again).Version, "the same content writes no version")

		changed := b.call(t, "PUT", "/api/event-types/order.created", `{"description":"Orders, without a schema."}`)
		require.Equal(t, http.StatusOK, changed.Code, changed.Body.String())
		v2 := decodeType(t, changed)
		require.Equal(t, 2, v2.Version)
		require.Equal(t, "null", string(v2.Schema), "a PUT replaces the whole type")

		versions := b.call(t, "GET", "/api/event-types/order.created/versions", "")
		require.Equal(t, http.StatusOK, versions.Code, versions.Body.String())
		var vs struct {
			Data []typeView `json:"data"`
		}
		require.NoError(t, json.Unmarshal(versions.Body.Bytes(), &vs))
		require.Len(t, vs.Data, 2)
		require.Equal(t, []int{2, 1}, []int{vs.Data[0].Version, vs.Data[1].Version}, "newest first")
		require.JSONEq(t, orderSchema, string(vs.Data[1].Schema))

		rolled := b.call(t, "POST", "/api/event-types/order.created/rollback", `{"version":1}`)
		require.Equal(t, http.StatusOK, rolled.Code, rolled.Body.String())
		v3 := decodeType(t, rolled)
		require.Equal(t, 3, v3.Version)
		require.Equal(t, "An order was placed.", v3.Description)
		require.JSONEq(t, orderSchema, string(v3.Schema))

		got := b.call(t, "GET", "/api/event-types/order.created", "")
		require.Equal(t, http.StatusOK, got.Code)
		require.Equal(t, 3, decodeType(t, got).Version)

		require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/api/event-types/order.created", "").Code)
		require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/api/event-types/order.created", "").Code)
		require.Equal(t, http.StatusNotFound, b.call(t, "DELETE", "/api/event-types/order.created", "").Code)
		require.JSONEq(t, `{"data":[],"nextCursor":null}`, b.call(t, "GET", "/api/event-types", "").Body.String())

		back := b.call(t, "PUT", "/api/event-types/order.created", `{"description":"Back."}`)
		require.Equal(t, http.StatusCreated, back.Code, back.Body.String())
		require.Equal(t, 4, decodeType(t, back).Version, "a retired type comes back as its next version")
	})

	t.Run("CatalogPagesByName", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		for _, typ := range []string{"c.one", "a.one", "b.one"} {
			require.Equal(t, http.StatusCreated, b.call(t, "PUT", "/api/event-types/"+typ, `{}`).Code)
		}
		types := pages[typeView](t, b.router, 3, "/api/event-types?limit=2", "Authorization", "Bearer "+b.token)
		var names []string
		for _, d := range types {
			names = append(names, d.Type)
		}
		require.Equal(t, []string{"a.one", "b.one", "c.one"}, names)
	})

	t.Run("AcceptsRecursiveSchemas", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		for _, schema := range []string{
			`{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}}}`,
			`{"$defs":{"node":{"type":"object","properties":{"left":{"$ref":"#/$defs/node"},"right":{"$ref":"#/$defs/node"},"v":{"type":"integer"}}}},"$ref":"#/$defs/node"}`,
			`true`,
		} {
			rec := b.call(t, "PUT", "/api/event-types/tree", `{"schema":`+schema+`}`)
			require.Contains(t, []int{http.StatusCreated, http.StatusOK}, rec.Code, rec.Body.String())
		}
	})

	t.Run("ConcurrentCreatesOfOneType", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		const n = 8
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				codes[i] = b.call(t, "PUT", "/api/event-types/race", `{"description":"same"}`).Code
			})
		}
		wg.Wait()
		created := 0
		for _, c := range codes {
			require.Contains(t, []int{http.StatusCreated, http.StatusOK}, c, "never a 409 or 500")
			if c == http.StatusCreated {
				created++
			}
		}
		require.Equal(t, 1, created)
		require.Equal(t, [2]int{1, 1}, catalogRows(t, b.db))
	})

	t.Run("AtMostMaxEventTypes", func(t *testing.T) {
		t.Parallel()
		b := setupCatalog(t)
		_, err := b.db.Exec(`INSERT INTO event_types (tenant_id, type, version) SELECT $1, 't' || i, 1 FROM generate_series(1, $2) i`,
			b.tenant.ID, events.MaxEventTypes)
		require.NoError(t, err)
		_, err = b.db.Exec(`INSERT INTO event_type_versions (tenant_id, type, version, description) SELECT tenant_id, type, 1, '' FROM event_types`)
		require.NoError(t, err)
		before := catalogRows(t, b.db)

		rec := b.call(t, "PUT", "/api/event-types/one.more", `{}`)
		require.Equal(t, http.StatusUnprocessableEntity, rec.Code, rec.Body.String())
		require.Equal(t, "event_type_limit", rec.problem(t).Code)
		require.Equal(t, before, catalogRows(t, b.db))

		require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/api/event-types/t1", "").Code)
		require.Equal(t, http.StatusCreated, b.call(t, "PUT", "/api/event-types/one.more", `{}`).Code, "retiring one makes room")
	})
}

func TestEventTypeProblems(t *testing.T) {
	t.Parallel()
	b := setupCatalog(t)
	require.Equal(t, http.StatusCreated, b.call(t, "PUT", "/api/event-types/existing", `{"schema":{"type":"object"}}`).Code)

	dag := `{"$defs":{"d0":{"type":"string"}`
	for i := 1; i <= 25; i++ {
		dag += fmt.Sprintf(`,"d%d":{"allOf":[{"$ref":"#/$defs/d%d"},{"$ref":"#/$defs/d%d","minLength":0}]}`, i, i-1, i-1)
	}
	dag += `},"$ref":"#/$defs/d25"}`
	bigSchema := `{"description":"` + strings.Repeat("x", events.MaxSchemaBytes) + `"}`
	bigBody := `{"description":"` + strings.Repeat("x", 2*events.MaxSchemaBytes) + `"}`
	objects := `{"allOf":[` + strings.Repeat(`{},`, events.MaxSchemaObjects) + `{}]}`

	for _, tt := range []struct {
		name, method, path, body string
		wantStatus               int
		wantCode, wantField      string
		wantMessage              string // a part of the first error's message
	}{
		{"TypeNameInvalid", "PUT", "/api/event-types/bad%20type", `{}`, 422, "invalid_event_type", "type", "must match"},
		{"TypeNameTooLong", "PUT", "/api/event-types/" + strings.Repeat("a", 129), `{}`, 422, "invalid_event_type", "type", "must match"},
		{"DescriptionTooLong", "PUT", "/api/event-types/x", `{"description":"` + strings.Repeat("é", events.MaxTypeDescriptionLen+1) + `"}`, 422, "invalid_event_type", "description", "at most 2000"},
		{"DescriptionNUL", "PUT", "/api/event-types/x", `{"description":"a\u0000b"}`, 422, "invalid_event_type", "description", `\u0000`},
		{"DescriptionNotString", "PUT", "/api/event-types/x", `{"description":5}`, 400, "invalid_json", "description", "must be a string"},
		{"UnknownMember", "PUT", "/api/event-types/x", `{"schemas":{}}`, 400, "invalid_json", "schemas", "not a known field"},
		{"NotJSON", "PUT", "/api/event-types/x", `{"schema":`, 400, "invalid_json", "body", ""},
		{"SchemaNotObject", "PUT", "/api/event-types/x", `{"schema":"object"}`, 422, "invalid_event_type", "schema", "JSON object or a boolean"},
		{"SchemaTypo", "PUT", "/api/event-types/x", `{"schema":{"properties":{"amount":{"type":"integr"}}}}`, 422, "invalid_event_type", "schema/properties/amount/type", "must be one of"},
		{"SchemaNegativeLength", "PUT", "/api/event-types/x", `{"schema":{"properties":{"a":{"minLength":-1}}}}`, 422, "invalid_event_type", "schema/properties/a/minLength", "minimum"},
		{"SchemaOtherDraft", "PUT", "/api/event-types/x", `{"schema":{"$schema":"http://json-schema.org/draft-07/schema#"}}`, 422, "invalid_event_type", "schema/$schema", "2020-12"},
		{"SchemaRemoteRef", "PUT", "/api/event-types/x", `{"schema":{"properties":{"a":{"$ref":"https://schemas.example/a.json"}}}}`, 422, "invalid_event_type", "schema", "https://schemas.example/a.json"},
		{"SchemaFileRef", "PUT", "/api/event-types/x", `{"schema":{"$ref":"file:///etc/passwd"}}`, 422, "invalid_event_type", "schema", "file:///etc/passwd"},
		{"SchemaRemoteMetaSchema", "PUT", "/api/event-types/x", `{"schema":{"$schema":"https://schemas.example/meta"}}`, 422, "invalid_event_type", "schema/$schema", "2020-12"},
		{"SchemaMissingLocalRef", "PUT", "/api/event-types/x", `{"schema":{"$ref":"#/$defs/nope"}}`, 422, "invalid_event_type", "schema", "#/$defs/nope"},
		{"SchemaLookaheadPattern", "PUT", "/api/event-types/x", `{"schema":{"properties":{"sku":{"pattern":"(?=x)"}}}}`, 422, "invalid_event_type", "schema/properties/sku/pattern", "Perl syntax"},
		{"SchemaPatternTooLong", "PUT", "/api/event-types/x", `{"schema":{"properties":{"sku":{"pattern":"` + strings.Repeat("a", events.MaxPatternBytes+1) + `"}}}}`, 422, "invalid_event_type", "schema/properties/sku/pattern", "more than 256"},
		{"SchemaPatternExpands", "PUT", "/api/event-types/x", `{"schema":{"properties":{"sku":{"pattern":"[a-z]{1,1000}x"}}}}`, 422, "invalid_event_type", "schema/properties/sku/pattern", "bound its repetitions"},
		{"SchemaPatternPropertyExpands", "PUT", "/api/event-types/x", `{"schema":{"patternProperties":{"^(ab){1,900}$":{}}}}`, 422, "invalid_event_type", "schema/patternProperties/^(ab){1,900}$", "bound its repetitions"},
		{"SchemaDynamicRef", "PUT", "/api/event-types/x", `{"schema":{"$defs":{"n":{"$dynamicAnchor":"n"}},"properties":{"a":{"$dynamicRef":"#n"}}}}`, 422, "invalid_event_type", "schema/properties/a/$dynamicRef", "not supported"},
		{"SchemaExponentialRefs", "PUT", "/api/event-types/x", `{"schema":` + dag + `}`, 422, "invalid_event_type", "schema/$defs/d14", "minimal payload"},
		{"SchemaRefCycle", "PUT", "/api/event-types/x", `{"schema":{"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}}`, 422, "invalid_event_type", "schema/$defs/a", "never reaches into the payload"},
		{"SchemaTooManyObjects", "PUT", "/api/event-types/x", `{"schema":` + objects + `}`, 422, "invalid_event_type", "schema", "JSON objects"},
		{"SchemaNUL", "PUT", "/api/event-types/x", `{"schema":{"const":"a\u0000"}}`, 422, "invalid_event_type", "schema", `\u0000`},
		{"SchemaTooLarge", "PUT", "/api/event-types/x", `{"schema":` + bigSchema + `}`, 422, "invalid_event_type", "schema", "more than 65536"},
		{"BodyTooLarge", "PUT", "/api/event-types/x", bigBody, 413, "payload_too_large", "", ""},
		{"GetUnknown", "GET", "/api/event-types/nope", ``, 404, "event_type_not_found", "", ""},
		{"GetInvalidName", "GET", "/api/event-types/bad%20type", ``, 404, "event_type_not_found", "", ""},
		{"VersionsUnknown", "GET", "/api/event-types/nope/versions", ``, 404, "event_type_not_found", "", ""},
		{"DeleteUnknown", "DELETE", "/api/event-types/nope", ``, 404, "event_type_not_found", "", ""},
		{"RollbackUnknownType", "POST", "/api/event-types/nope/rollback", `{"version":1}`, 404, "event_type_not_found", "", ""},
		{"RollbackUnknownVersion", "POST", "/api/event-types/existing/rollback", `{"version":9}`, 404, "event_type_version_not_found", "", ""},
		{"RollbackNoVersion", "POST", "/api/event-types/existing/rollback", `{}`, 422, "validation_failed", "version", "version number"},
		{"ListBadCursor", "GET", "/api/event-types?cursor=%27%3B--", ``, 400, "invalid_query", "cursor", "not a cursor"},
		{"ListBadLimit", "GET", "/api/event-types?limit=0", ``, 400, "invalid_query", "limit", "integer"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := catalogRows(t, b.db)
			rec := b.call(t, tt.method, tt.path, tt.body)

			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			p := rec.problem(t)
			require.Equal(t, tt.wantCode, p.Code, rec.Body.String())
			require.Equal(t, "/problems/"+tt.wantCode, p.Type)
			require.NotEmpty(t, p.Detail)
			if tt.wantField != "" {
				require.NotEmpty(t, p.Errors, rec.Body.String())
				require.Equal(t, tt.wantField, p.Errors[0].Field, rec.Body.String())
				require.Contains(t, p.Errors[0].Message, tt.wantMessage)
			}
			require.Equal(t, before, catalogRows(t, b.db), "a refused request changes nothing")
		})
	}
}
