package events

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// repo holds the SQL of the events table.
type repo struct{}

const eventColumns = `id, tenant_id, type, source, payload, occurred_at, received_at, status,
	processed_at, idempotency_key, request_hash`

var errNotFound = apperr.NotFound("event_not_found", "No such event.")

// Insert stores e. With an idempotency key it inserts only if the key is new
// for the tenant and reports inserted=false otherwise; a concurrent insert of
// the same key makes this statement wait for that transaction to finish.
func (repo) Insert(ctx context.Context, q pg.Querier, e *Event) (inserted bool, err error) {
	const query = `
		INSERT INTO events (id, tenant_id, type, source, payload, occurred_at, received_at, idempotency_key, request_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING`
	res, err := q.ExecContext(ctx, query, e.ID, e.TenantID, e.Type, e.Source, []byte(e.Payload),
		e.OccurredAt, e.ReceivedAt, e.IdempotencyKey, e.RequestHash)
	if err != nil {
		return false, fmt.Errorf("insert event: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert event: %w", err)
	}
	return n == 1, nil
}

func (repo) GetByIdempotencyKey(ctx context.Context, q pg.Querier, tenantID uuid.UUID, key string) (Event, error) {
	const query = `SELECT ` + eventColumns + ` FROM events WHERE tenant_id = $1 AND idempotency_key = $2`
	var e Event
	err := pg.GetOne(ctx, q, &e, errNotFound, "get event by idempotency key", query, tenantID, key)
	return e, err
}

func (repo) Get(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) (Event, error) {
	const query = `SELECT ` + eventColumns + ` FROM events WHERE tenant_id = $1 AND id = $2`
	var e Event
	err := pg.GetOne(ctx, q, &e, errNotFound, "get event", query, tenantID, id)
	return e, err
}

// ListFilter narrows a listing; zero values mean "any".
type ListFilter struct {
	Type   string
	Since  time.Time // received at or after
	Until  time.Time // received before
	Before uuid.UUID // cursor: ids strictly older than this one
	Limit  int
}

// List returns the tenant's events newest first.
func (repo) List(ctx context.Context, q pg.Querier, tenantID uuid.UUID, f ListFilter) ([]Event, error) {
	w := pg.TenantFilter(tenantID)
	if f.Type != "" {
		w.Add("type = ?", f.Type)
	}
	if !f.Since.IsZero() {
		w.Add("received_at >= ?", f.Since)
	}
	if !f.Until.IsZero() {
		w.Add("received_at < ?", f.Until)
	}
	where, args := w.Page(f.Before, f.Limit)
	query := `SELECT ` + eventColumns + ` FROM events` + where
	var out []Event
	if err := sqlx.SelectContext(ctx, q, &out, query, args...); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// MarkProcessed records that the event went through processing.
func (repo) MarkProcessed(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, status string) error {
	const query = `
		UPDATE events SET status = $3, processed_at = now()
		WHERE tenant_id = $1 AND id = $2`
	res, err := q.ExecContext(ctx, query, tenantID, id, status)
	if err != nil {
		return fmt.Errorf("mark event processed: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errNotFound
	}
	return nil
}

// Scan returns up to limit of the tenant's events received in [since, until)
// with ids after the given one, oldest first: a stable cursor for replays.
func (repo) Scan(ctx context.Context, q pg.Querier, tenantID uuid.UUID, since, until time.Time, after uuid.UUID, limit int) ([]Event, error) {
	const query = `SELECT ` + eventColumns + ` FROM events
		WHERE tenant_id = $1 AND received_at >= $2 AND received_at < $3 AND id > $4
		ORDER BY id LIMIT $5`
	var out []Event
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, since, until, after, limit); err != nil {
		return nil, fmt.Errorf("scan events: %w", err)
	}
	return out, nil
}

// InsertMany stores events with one statement; rows whose idempotency key
// already exists for the tenant are skipped. It returns the ids inserted.
func (repo) InsertMany(ctx context.Context, q pg.Querier, es []Event) (map[uuid.UUID]bool, error) {
	const query = `
		INSERT INTO events (id, tenant_id, type, source, payload, occurred_at, received_at, idempotency_key, request_hash)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[],
			$7::timestamptz[], $8::text[], $9::bytea[])
		ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
		RETURNING id`
	n := len(es)
	ids, tenants := make([]string, n), make([]string, n)
	types, payloads := make([]string, n), make([]string, n)
	sources, keys := make([]sql.NullString, n), make([]sql.NullString, n)
	occurred, received := make([]time.Time, n), make([]time.Time, n)
	hashes := make([][]byte, n)
	for i, e := range es {
		ids[i], tenants[i], types[i], payloads[i] = e.ID.String(), e.TenantID.String(), e.Type, string(e.Payload)
		if e.Source != nil {
			sources[i] = sql.NullString{String: *e.Source, Valid: true}
		}
		if e.IdempotencyKey != nil {
			keys[i] = sql.NullString{String: *e.IdempotencyKey, Valid: true}
		}
		occurred[i], received[i], hashes[i] = e.OccurredAt, e.ReceivedAt, e.RequestHash
	}
	var inserted []uuid.UUID
	err := sqlx.SelectContext(ctx, q, &inserted, query, pq.Array(ids), pq.Array(tenants), pq.Array(types),
		pq.GenericArray{A: sources}, pq.Array(payloads), pq.GenericArray{A: occurred}, pq.GenericArray{A: received},
		pq.GenericArray{A: keys}, pq.ByteaArray(hashes))
	if err != nil {
		return nil, fmt.Errorf("insert events: %w", err)
	}
	out := make(map[uuid.UUID]bool, len(inserted))
	for _, id := range inserted {
		out[id] = true
	}
	return out, nil
}

// GetByIdempotencyKeys returns the tenant's events with the given keys.
func (repo) GetByIdempotencyKeys(ctx context.Context, q pg.Querier, tenantID uuid.UUID, keys []string) ([]Event, error) {
	const query = `SELECT ` + eventColumns + ` FROM events WHERE tenant_id = $1 AND idempotency_key = ANY($2::text[])`
	var out []Event
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, pq.Array(keys)); err != nil {
		return nil, fmt.Errorf("get events by idempotency keys: %w", err)
	}
	return out, nil
}

// MarkProcessedReturning sets the event processed unless it already was and
// returns it: the worker's read and write of the event in one statement.
// ok is false when the event was processed before (or is gone).
func (repo) MarkProcessedReturning(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) (e Event, ok bool, err error) {
	const query = `
		UPDATE events SET status = 'processed', processed_at = now()
		WHERE tenant_id = $1 AND id = $2 AND status <> 'processed'
		RETURNING ` + eventColumns
	err = sqlx.GetContext(ctx, q, &e, query, tenantID, id)
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("mark event processed: %w", err)
	}
	return e, true, nil
}

// MarkProcessedMany sets the given events processed unless they already
// were, and returns them: the worker's read and write of a whole group of
// events in one statement. Events missing from the result were processed
// before or are gone.
func (repo) MarkProcessedMany(ctx context.Context, q pg.Querier, refs []Ref) ([]Event, error) {
	query := `
		UPDATE events e SET status = 'processed', processed_at = now()
		FROM unnest($1::uuid[], $2::uuid[]) AS r(t, i)
		WHERE e.tenant_id = r.t AND e.id = r.i AND e.status <> 'processed'
		RETURNING ` + prefixed("e.", eventColumns)
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

// prefixed qualifies every column of a comma-separated list.
func prefixed(prefix, columns string) string {
	cols := strings.Split(columns, ",")
	for i, c := range cols {
		cols[i] = prefix + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}
