package events

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/signalops/signalops/platform/apperr"
)

// How fresh a process's view of a tenant's schemas is. A change committed
// at t is used by every process's ingestion from t + schemaMaxAge on
// (SPEC §11 asks for 2 s): a view older than schemaRecheck is checked
// again by the request that finds it, while concurrent requests keep
// using it until it is schemaMaxAge old, and then wait for the check.
//
// The check reads one row, the tenant's catalog change count
// (event_type_catalogs, bumped in every change's transaction), and reads
// the versions only when it moved: once a second per tenant and process,
// and only while the tenant ingests. BenchmarkSchemaViewCheck: 0.64 ms for
// the count against 1.4 ms (50 types) and 4.7 ms (500) for the versions,
// at load average 11 on the 2-core machine. Rejected: max(updated_at) as
// the stamp (a change committing after a later one slips under it),
// LISTEN/NOTIFY (a dedicated connection per process, and the same read
// after every reconnect, as a notification sent meanwhile is lost), and a
// global poll (every tenant's catalog every second, ingesting or not).
const (
	schemaRecheck = time.Second
	schemaMaxAge  = 1500 * time.Millisecond
)

// Bounds of the cache; when one is reached it starts over. A compiled
// schema holds about 0.9 KB per subschema (measured with 1,000 of them),
// so the compiled schemas stay under about 50 MB.
const (
	maxCachedTenants    = 100_000
	maxCachedSchemas    = 2_000
	maxCachedSubschemas = 50_000
)

// schemaCache is one process's view of its tenants' schemas: per tenant,
// the current version of each type that has one; per version, the
// compiled schema. Versions are immutable, so a compiled schema never goes
// stale; only the versions are checked again.
type schemaCache struct {
	db   *sqlx.DB
	repo repo
	now  func() time.Time

	mu       sync.RWMutex
	tenants  map[uuid.UUID]*tenantSchemas
	compiled map[schemaKey]*compiledEntry
	objects  int // JSON objects (subschemas, near enough) of the compiled schemas
}

type tenantSchemas struct {
	checking chan struct{} // holds a token while one request checks
	view     atomic.Pointer[schemaView]
}

// schemaView is a tenant's types with a schema, by current version, as
// read at checkedAt, when the catalog had had stamp changes.
type schemaView struct {
	checkedAt time.Time
	stamp     int64
	versions  map[string]int
}

type schemaKey struct {
	tenant  uuid.UUID
	typ     string
	version int
}

type compiledEntry struct {
	once sync.Once
	cs   *compiledSchema
	err  error
}

func newSchemaCache(db *sqlx.DB) *schemaCache {
	return &schemaCache{db: db, now: time.Now, tenants: map[uuid.UUID]*tenantSchemas{}, compiled: map[schemaKey]*compiledEntry{}}
}

// check validates a payload of type typ against the tenant's current
// schema for it; a type without one accepts any payload.
func (c *schemaCache) check(ctx context.Context, tenantID uuid.UUID, typ string, payload json.RawMessage) error {
	view, err := c.view(ctx, tenantID)
	if err != nil {
		return err
	}
	version, ok := view.versions[typ]
	if !ok {
		return nil
	}
	cs, err := c.schema(ctx, schemaKey{tenantID, typ, version})
	if err != nil {
		return err
	}
	return cs.check(payload)
}

// forget drops the tenant's view: its next ingestion in this process
// reads the versions again.
func (c *schemaCache) forget(tenantID uuid.UUID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.tenants, tenantID)
}

func (c *schemaCache) tenant(tenantID uuid.UUID) *tenantSchemas {
	c.mu.RLock()
	ts, ok := c.tenants[tenantID]
	c.mu.RUnlock()
	if ok {
		return ts
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ts, ok = c.tenants[tenantID]
	if !ok {
		if len(c.tenants) >= maxCachedTenants {
			clear(c.tenants)
		}
		ts = &tenantSchemas{checking: make(chan struct{}, 1)}
		c.tenants[tenantID] = ts
	}
	return ts
}

// view returns the tenant's schema versions, checking them again when the
// view is older than schemaRecheck.
func (c *schemaCache) view(ctx context.Context, tenantID uuid.UUID) (*schemaView, error) {
	ts := c.tenant(tenantID)
	v := ts.view.Load()
	if v != nil && c.now().Sub(v.checkedAt) < schemaRecheck {
		return v, nil
	}
	if v != nil && c.now().Sub(v.checkedAt) < schemaMaxAge {
		select {
		case ts.checking <- struct{}{}:
		default:
			return v, nil // another request is checking; this view is still fresh enough
		}
	} else {
		select {
		case ts.checking <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	defer func() { <-ts.checking }()
	if v := ts.view.Load(); v != nil && c.now().Sub(v.checkedAt) < schemaRecheck {
		return v, nil // checked while this request waited
	}
	checkedAt := c.now() // before the queries: what committed before is in their answers
	stamp, err := c.repo.CatalogVersion(ctx, c.db, tenantID)
	if err != nil {
		return nil, err
	}
	if old := ts.view.Load(); old != nil && old.stamp == stamp {
		v = &schemaView{checkedAt: checkedAt, stamp: stamp, versions: old.versions}
	} else {
		// Read after the stamp: the versions are at least as new as it.
		rows, err := c.repo.ListSchemaVersions(ctx, c.db, tenantID)
		if err != nil {
			return nil, err
		}
		v = &schemaView{checkedAt: checkedAt, stamp: stamp, versions: make(map[string]int, len(rows))}
		for _, r := range rows {
			v.versions[r.Type] = r.Version
		}
	}
	ts.view.Store(v)
	return v, nil
}

// schema returns one compiled version, loading and compiling it once per
// process however many requests ask at the same time.
func (c *schemaCache) schema(ctx context.Context, k schemaKey) (*compiledSchema, error) {
	c.mu.RLock()
	e, ok := c.compiled[k]
	c.mu.RUnlock()
	if !ok {
		c.mu.Lock()
		if e, ok = c.compiled[k]; !ok {
			if len(c.compiled) >= maxCachedSchemas || c.objects >= maxCachedSubschemas {
				clear(c.compiled)
				c.objects = 0
			}
			e = &compiledEntry{}
			c.compiled[k] = e
		}
		c.mu.Unlock()
	}
	e.once.Do(func() { e.cs, e.err = c.load(ctx, k) })
	if e.err != nil && !apperr.IsKind(e.err, apperr.KindInvalid) {
		// Not the schema's fault (the database, a cancelled request): the
		// next request tries again.
		c.mu.Lock()
		if c.compiled[k] == e {
			delete(c.compiled, k)
		}
		c.mu.Unlock()
	}
	return e.cs, e.err
}

func (c *schemaCache) load(ctx context.Context, k schemaKey) (*compiledSchema, error) {
	raw, err := c.repo.GetSchema(ctx, c.db, k.tenant, k.typ, k.version)
	if err != nil {
		return nil, err
	}
	sch, cost, err := compileSchema(raw)
	if err != nil {
		// Accepted when saved, refused now: the budgets tightened since.
		// Its events are refused until the schema is saved again.
		return nil, apperr.Invalid("event_type_schema_unusable",
			"The schema of this event type no longer meets the schema budgets: save the event type again.",
			apperr.FieldError{Field: "type", Message: "has a schema that cannot be used"})
	}
	c.mu.Lock()
	c.objects += countObjects(raw)
	c.mu.Unlock()
	return &compiledSchema{typ: k.typ, version: k.version, schema: sch, cost: cost}, nil
}
