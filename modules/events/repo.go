package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// repo holds the SQL of the events and event_idempotency tables (and, in
// partition.go, the DDL of events' partitions).
type repo struct{}

const eventColumns = `id, tenant_id, type, source, payload, occurred_at, received_at, status,
	processed_at, idempotency_key, request_hash, retention_days`

var errEventNotFound = apperr.NotFound("event_not_found", "No such event.")

// storedKey is an idempotency key as stored: the event it made and that
// request's fingerprint.
type storedKey struct {
	TenantID    uuid.UUID `db:"tenant_id"`
	Key         string    `db:"idempotency_key"`
	EventID     uuid.UUID `db:"event_id"`
	RequestHash []byte    `db:"request_hash"`
}

// event is the stored event as a replay knows it: its id, key and
// fingerprint (the rest is not read).
func (k storedKey) event() Event {
	key := k.Key
	return Event{ID: k.EventID, TenantID: k.TenantID, IdempotencyKey: &key, RequestHash: k.RequestHash}
}

// Insert stores e, as InsertMany does.
func (r repo) Insert(ctx context.Context, q pg.Querier, e *Event) (inserted bool, err error) {
	stored, err := r.InsertMany(ctx, q, []Event{*e})
	return stored.has(e.ID), err
}

// GetKey returns the tenant's stored idempotency key.
func (repo) GetKey(ctx context.Context, q pg.Querier, tenantID uuid.UUID, key string) (storedKey, error) {
	const query = `
		SELECT tenant_id, idempotency_key, event_id, request_hash FROM event_idempotency
		WHERE tenant_id = $1 AND idempotency_key = $2`
	var k storedKey
	err := pg.GetOne(ctx, q, &k, errEventNotFound, "get idempotency key", query, tenantID, key)
	return k, err
}

func (repo) Get(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) (Event, error) {
	const query = `SELECT ` + eventColumns + ` FROM events WHERE tenant_id = $1 AND id = $2`
	var e Event
	err := pg.GetOne(ctx, q, &e, errEventNotFound, "get event", query, tenantID, id)
	return e, err
}

// ListFilter narrows a listing; zero values mean "any".
type ListFilter struct {
	Type   string
	Source string
	Since  time.Time // received at or after
	Until  time.Time // received before
	Before uuid.UUID // cursor: ids strictly older than this one
	Limit  int
}

// untilSlack is how much later than its received_at an event's id may be
// made. newEvent's callers read the clock and make the id moments apart
// (a batch: one loop over at most 500 validated items, well under a
// millisecond); a second leaves room for a thread that stalls in between
// on a starved machine. An id made later still would leave its event out
// of listings whose until falls in that gap, and nowhere else. The slack
// is also how many newer events a listing with until may read past: a
// second of a tenant's busiest ingestion, not all of them since.
const untilSlack = time.Second

// listWindows are the widths of the id ranges List reads one after the
// other, newest first, before one last open-ended read.
var listWindows = []time.Duration{7 * day, 28 * day, 112 * day}

// List returns the tenant's events newest first. A query plans every
// partition its id bounds cannot exclude, so instead of one query over the
// whole table, List reads windows of growing width back from the cursor
// (the first one reaches to the Monday a week before it), and stops as
// soon as the page is full: a busy tenant's first page plans the last
// week's partitions only. The windows split the id range without overlap,
// so the rows and their order are the single query's.
//
// Since also bounds ids: an event's id is made after its received_at is
// read, so received_at >= since implies id >= the floor of since's
// millisecond. Until bounds them from above, with untilSlack to spare: a
// window in the past is read from its end instead of walking down every
// newer event first (docs/performance.md, "Console").
func (repo) List(ctx context.Context, q pg.Querier, tenantID uuid.UUID, f ListFilter) ([]Event, error) {
	var floor uuid.UUID
	if !f.Since.IsZero() {
		floor = pg.UUIDv7Floor(f.Since)
	}
	hi := f.Before
	if !f.Until.IsZero() {
		ceil := pg.UUIDv7Floor(f.Until.Add(untilSlack))
		if hi == uuid.Nil || bytes.Compare(ceil[:], hi[:]) < 0 {
			hi = ceil
		}
	}
	from := time.Now()
	if hi != uuid.Nil {
		from = pg.UUIDv7Time(hi)
	}
	lo := partitionStart(from, 7*day)
	var out []Event
	for i := 0; ; i++ {
		last := i == len(listWindows)
		var loID uuid.UUID
		if !last {
			lo = lo.Add(-listWindows[i])
			loID = pg.UUIDv7Floor(lo)
		}
		if floor != uuid.Nil && bytes.Compare(loID[:], floor[:]) <= 0 {
			loID, last = floor, true
		}
		w := pg.TenantFilter(tenantID)
		if f.Type != "" {
			w.Add("type = ?", f.Type)
		}
		if f.Source != "" {
			w.Add("source = ?", f.Source)
		}
		if !f.Since.IsZero() {
			w.Add("received_at >= ?", f.Since)
		}
		if !f.Until.IsZero() {
			w.Add("received_at < ?", f.Until)
		}
		if loID != uuid.Nil {
			w.Add("id >= ?", loID)
		}
		where, args := w.Page(hi, f.Limit-len(out))
		var page []Event
		if err := sqlx.SelectContext(ctx, q, &page, `SELECT `+eventColumns+` FROM events`+where, args...); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out = append(out, page...)
		if last || len(out) >= f.Limit {
			return out, nil
		}
		hi = loID
	}
}

// MarkProcessed records that the event went through processing.
func (repo) MarkProcessed(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, status string) error {
	const query = `
		UPDATE events SET status = $3, processed_at = now()
		WHERE tenant_id = $1 AND id = $2`
	return pg.ExecOne(ctx, q, errEventNotFound, "mark event processed", query, tenantID, id, status)
}

// Scan returns up to limit of the tenant's events received in [since, until)
// with ids after the given one, oldest first: a stable cursor for replays.
// Ids below since's millisecond cannot qualify (see List), which keeps
// older partitions out of the plan.
func (repo) Scan(ctx context.Context, q pg.Querier, tenantID uuid.UUID, since, until time.Time, after uuid.UUID, limit int) ([]Event, error) {
	const query = `SELECT ` + eventColumns + ` FROM events
		WHERE tenant_id = $1 AND received_at >= $2 AND received_at < $3 AND id > $4 AND id >= $5
		ORDER BY id LIMIT $6`
	var out []Event
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, since, until, after, pg.UUIDv7Floor(since), limit); err != nil {
		return nil, fmt.Errorf("scan events: %w", err)
	}
	return out, nil
}

// Tail returns up to limit of the tenant's events with after < id < below,
// oldest first, optionally of one type and source: the rows a stream has
// not sent yet. The id bounds keep the plan to the newest partitions.
func (repo) Tail(ctx context.Context, q pg.Querier, tenantID uuid.UUID, f TailFilter, below uuid.UUID, limit int) ([]Event, error) {
	w := pg.TenantFilter(tenantID)
	w.Add("id > ?", f.After)
	w.Add("id < ?", below)
	if f.Type != "" {
		w.Add("type = ?", f.Type)
	}
	if f.Source != "" {
		w.Add("source = ?", f.Source)
	}
	where, args := w.Ascending(limit)
	var out []Event
	if err := sqlx.SelectContext(ctx, q, &out, `SELECT `+eventColumns+` FROM events`+where, args...); err != nil {
		return nil, fmt.Errorf("tail events: %w", err)
	}
	return out, nil
}

// storedEvents is what InsertMany stored: every event, or those in ids.
type storedEvents struct {
	all bool
	ids map[uuid.UUID]bool
}

func (s storedEvents) has(id uuid.UUID) bool { return s.all || s.ids[id] }

// InsertMany stores events with one statement. A row with an idempotency
// key is stored only if its key is new for the tenant: the keys go into
// event_idempotency first (ON CONFLICT DO NOTHING), and only the rows whose
// key went in, plus the rows without a key, go into events. A key another
// transaction is inserting makes the statement wait for that transaction,
// then skip the row if it committed. Rows without any key skip the CTE,
// and are all stored (or the statement fails), so it returns no ids for
// them: reading them back cost 4 % of serve's CPU at batch ingestion.
// It returns what it stored.
func (r repo) InsertMany(ctx context.Context, q pg.Querier, es []Event) (storedEvents, error) {
	const unkeyed = `
		INSERT INTO events (id, tenant_id, type, source, payload, occurred_at, received_at, idempotency_key,
			request_hash, retention_days)
		SELECT id, tenant_id, type, source, payload, coalesce(occurred_at, received_at), received_at,
			idempotency_key, request_hash, retention_days
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[],
			$7::timestamptz[], $8::text[], $9::bytea[], $10::smallint[])
			AS r(id, tenant_id, type, source, payload, occurred_at, received_at, idempotency_key, request_hash, retention_days)`
	const keyed = `
		WITH rows AS (
			SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[],
				$7::timestamptz[], $8::text[], $9::bytea[], $10::smallint[])
				AS r(id, tenant_id, type, source, payload, occurred_at, received_at, idempotency_key, request_hash, retention_days)
		), keyed AS (
			INSERT INTO event_idempotency (tenant_id, idempotency_key, event_id, request_hash, retention_days)
			SELECT tenant_id, idempotency_key, id, request_hash, retention_days FROM rows
			WHERE idempotency_key IS NOT NULL
			ORDER BY tenant_id, idempotency_key -- one lock order for every transaction
			ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
			RETURNING event_id
		)
		INSERT INTO events (id, tenant_id, type, source, payload, occurred_at, received_at, idempotency_key,
			request_hash, retention_days)
		SELECT id, tenant_id, type, source, payload, coalesce(occurred_at, received_at), received_at,
			idempotency_key, request_hash, retention_days
		FROM rows WHERE idempotency_key IS NULL OR id IN (SELECT event_id FROM keyed)
		RETURNING id`
	n := len(es)
	ids, tenants := make(pg.UUIDs, n), make(pg.UUIDs, n)
	types, payloads := make(pg.Texts[string], n), make(pg.Texts[json.RawMessage], n)
	sources, keys := make(pg.Strings, n), make(pg.Strings, n)
	occurred, received := make(pg.Times, n), make(pg.Times, n)
	hashes, retention := make([][]byte, n), make(pg.Ints, n)
	for i := range es {
		e := &es[i]
		ids[i], tenants[i], types[i], payloads[i] = e.ID, e.TenantID, e.Type, e.Payload
		sources[i], keys[i] = e.Source, e.IdempotencyKey
		received[i], hashes[i], retention[i] = e.ReceivedAt, e.RequestHash, e.RetentionDays
		if !e.OccurredAt.Equal(e.ReceivedAt) {
			occurred[i] = e.OccurredAt // else NULL: the statement stores received_at, 35 bytes fewer to send
		}
	}
	args := []any{ids, tenants, types, sources, payloads, occurred, received, keys, pq.ByteaArray(hashes), retention}
	if !slices.ContainsFunc(es, func(e Event) bool { return e.IdempotencyKey != nil }) {
		res, err := q.ExecContext(ctx, unkeyed, args...)
		if err != nil {
			return storedEvents{}, fmt.Errorf("insert events: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(es)) {
			return storedEvents{}, fmt.Errorf("insert events: %d of %d stored (%w)", n, len(es), err)
		}
		return storedEvents{all: true}, nil
	}
	var inserted []uuid.UUID
	if err := sqlx.SelectContext(ctx, q, &inserted, keyed, args...); err != nil {
		return storedEvents{}, fmt.Errorf("insert events: %w", err)
	}
	out := storedEvents{ids: make(map[uuid.UUID]bool, len(inserted))}
	for _, id := range inserted {
		out.ids[id] = true
	}
	return out, nil
}

// GetKeys returns the tenant's stored idempotency keys among keys.
func (repo) GetKeys(ctx context.Context, q pg.Querier, tenantID uuid.UUID, keys []string) ([]storedKey, error) {
	const query = `
		SELECT tenant_id, idempotency_key, event_id, request_hash FROM event_idempotency
		WHERE tenant_id = $1 AND idempotency_key = ANY($2::text[])`
	var out []storedKey
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("get idempotency keys: %w", err)
	}
	return out, nil
}

// MarkProcessedMany sets the given events processed unless they already
// were, and returns them: the worker's read and write of a whole group of
// events in one statement. Events missing from the result were processed
// before or are gone.
func (r repo) MarkProcessedMany(ctx context.Context, q pg.Querier, refs []Ref) ([]Event, error) {
	query := `
		UPDATE events e SET status = 'processed', processed_at = now()
		FROM unnest($1::uuid[], $2::uuid[]) AS r(t, i)
		WHERE e.tenant_id = r.t AND e.id = r.i AND e.status <> 'processed'
		  AND e.id = ANY($2::uuid[]) -- lets the planner prune the id-range partitions
		RETURNING ` + pg.Columns("e.", "", eventColumns)
	tenants, ids := refArrays(refs)
	var out []Event
	if err := sqlx.SelectContext(ctx, q, &out, query, tenants, ids); err != nil {
		return nil, fmt.Errorf("mark events processed: %w", err)
	}
	return out, nil
}

// Existing returns which of refs are stored.
func (repo) Existing(ctx context.Context, q pg.Querier, refs []Ref) (map[uuid.UUID]bool, error) {
	const query = `
		SELECT e.id FROM events e JOIN unnest($1::uuid[], $2::uuid[]) AS r(t, i) ON e.tenant_id = r.t AND e.id = r.i`
	tenants, ids := refArrays(refs)
	var found []uuid.UUID
	if err := sqlx.SelectContext(ctx, q, &found, query, tenants, ids); err != nil {
		return nil, fmt.Errorf("find events: %w", err)
	}
	out := make(map[uuid.UUID]bool, len(found))
	for _, id := range found {
		out[id] = true
	}
	return out, nil
}

func refArrays(refs []Ref) (tenants, ids pg.UUIDs) {
	tenants, ids = make(pg.UUIDs, len(refs)), make(pg.UUIDs, len(refs))
	for i, r := range refs {
		tenants[i], ids[i] = r.TenantID, r.ID
	}
	return tenants, ids
}
