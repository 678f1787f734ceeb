package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// The SQL of the event_types and event_type_versions tables (the
// catalog, catalog.go).

var errTypeNotFound = apperr.NotFound("event_type_not_found", "No such event type.")

// A missing schema is read as JSON null (NULL cannot be scanned into a
// json.RawMessage) and made nil again by noSchema.
const typeColumns = `t.tenant_id, t.type, t.version, v.description, coalesce(v.schema, 'null') AS schema,
	t.created_at, t.created_by, t.updated_at, t.updated_by, t.deleted_at`

const typeFrom = ` FROM event_types t JOIN event_type_versions v
	ON v.tenant_id = t.tenant_id AND v.type = t.type AND v.version = t.version`

// GetType returns a type, live or retired; forUpdate locks its row for a
// change. A type never stored is errTypeNotFound.
func (repo) GetType(ctx context.Context, q pg.Querier, tenantID uuid.UUID, typ string, forUpdate bool) (EventType, error) {
	query := `SELECT ` + typeColumns + typeFrom + ` WHERE t.tenant_id = $1 AND t.type = $2`
	if forUpdate {
		query += ` FOR UPDATE OF t`
	}
	var t EventType
	err := pg.GetOne(ctx, q, &t, errTypeNotFound, "get event type", query, tenantID, typ)
	t.Schema = noSchema(t.Schema)
	return t, err
}

// ListTypes returns up to limit live types after the cursor, by name.
func (repo) ListTypes(ctx context.Context, q pg.Querier, tenantID uuid.UUID, after string, limit int) ([]EventType, error) {
	const query = `SELECT ` + typeColumns + typeFrom + `
		WHERE t.tenant_id = $1 AND t.deleted_at IS NULL AND t.type > $2
		ORDER BY t.type LIMIT $3`
	var out []EventType
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, after, limit); err != nil {
		return nil, fmt.Errorf("list event types: %w", err)
	}
	for i := range out {
		out[i].Schema = noSchema(out[i].Schema)
	}
	return out, nil
}

// CountLiveTypes counts the tenant's live types.
func (repo) CountLiveTypes(ctx context.Context, q pg.Querier, tenantID uuid.UUID) (int, error) {
	const query = `SELECT count(*) FROM event_types WHERE tenant_id = $1 AND deleted_at IS NULL`
	var n int
	if err := sqlx.GetContext(ctx, q, &n, query, tenantID); err != nil {
		return 0, fmt.Errorf("count event types: %w", err)
	}
	return n, nil
}

// BumpCatalog counts a change of the tenant's catalog; run in a
// transaction, it holds the count's row lock until the end, so a tenant's
// catalog changes one at a time.
func (repo) BumpCatalog(ctx context.Context, q pg.Querier, tenantID uuid.UUID) error {
	const query = `
		INSERT INTO event_type_catalogs (tenant_id, version) VALUES ($1, 1)
		ON CONFLICT (tenant_id) DO UPDATE SET version = event_type_catalogs.version + 1`
	if _, err := q.ExecContext(ctx, query, tenantID); err != nil {
		return fmt.Errorf("bump event type catalog: %w", err)
	}
	return nil
}

// CatalogVersion is the count of the tenant's catalog changes (0: none).
func (repo) CatalogVersion(ctx context.Context, q pg.Querier, tenantID uuid.UUID) (int64, error) {
	const query = `SELECT coalesce((SELECT version FROM event_type_catalogs WHERE tenant_id = $1), 0)`
	var v int64
	if err := sqlx.GetContext(ctx, q, &v, query, tenantID); err != nil {
		return 0, fmt.Errorf("get event type catalog version: %w", err)
	}
	return v, nil
}

// InsertType creates a type at version 1 with its first version.
func (repo) InsertType(ctx context.Context, q pg.Querier, t *EventType) error {
	const query = `
		INSERT INTO event_types (tenant_id, type, version, created_by, updated_by)
		VALUES ($1, $2, 1, $3, $3)
		RETURNING version, created_at, updated_at`
	if err := sqlx.GetContext(ctx, q, t, query, t.TenantID, t.Type, t.CreatedBy); err != nil {
		return fmt.Errorf("insert event type: %w", err)
	}
	t.UpdatedBy = t.CreatedBy
	return repo{}.InsertTypeVersion(ctx, q, t)
}

// InsertTypeVersion stores t's content as its version t.Version.
func (repo) InsertTypeVersion(ctx context.Context, q pg.Querier, t *EventType) error {
	const query = `
		INSERT INTO event_type_versions (tenant_id, type, version, description, schema, created_by)
		VALUES ($1, $2, $3, $4, $5, $6)`
	if _, err := q.ExecContext(ctx, query, t.TenantID, t.Type, t.Version, t.Description, schemaArg(t.Schema), t.UpdatedBy); err != nil {
		return fmt.Errorf("insert event type version: %w", err)
	}
	return nil
}

// UpdateType points t at t.Version and makes it live.
func (repo) UpdateType(ctx context.Context, q pg.Querier, t *EventType) error {
	const query = `
		UPDATE event_types SET version = $3, updated_by = $4, updated_at = now(), deleted_at = NULL, deleted_by = NULL
		WHERE tenant_id = $1 AND type = $2
		RETURNING updated_at`
	if err := pg.GetOne(ctx, q, &t.UpdatedAt, errTypeNotFound, "update event type", query, t.TenantID, t.Type, t.Version, t.UpdatedBy); err != nil {
		return err
	}
	t.DeletedAt = nil
	return nil
}

// RetireType marks a live type retired.
func (repo) RetireType(ctx context.Context, q pg.Querier, tenantID uuid.UUID, typ string, by *uuid.UUID) error {
	const query = `
		UPDATE event_types SET deleted_at = now(), deleted_by = $3, updated_at = now(), updated_by = $3
		WHERE tenant_id = $1 AND type = $2 AND deleted_at IS NULL`
	return pg.ExecOne(ctx, q, errTypeNotFound, "retire event type", query, tenantID, typ, by)
}

// ListTypeVersions returns a type's versions, newest first.
func (repo) ListTypeVersions(ctx context.Context, q pg.Querier, tenantID uuid.UUID, typ string) ([]TypeVersion, error) {
	const query = `
		SELECT version, description, coalesce(schema, 'null') AS schema, created_at, created_by
		FROM event_type_versions WHERE tenant_id = $1 AND type = $2 ORDER BY version DESC`
	var out []TypeVersion
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, typ); err != nil {
		return nil, fmt.Errorf("list event type versions: %w", err)
	}
	for i := range out {
		out[i].Schema = noSchema(out[i].Schema)
	}
	return out, nil
}

// GetTypeVersion returns one version of a type.
func (repo) GetTypeVersion(ctx context.Context, q pg.Querier, tenantID uuid.UUID, typ string, version int) (TypeVersion, error) {
	const query = `
		SELECT version, description, coalesce(schema, 'null') AS schema, created_at, created_by
		FROM event_type_versions WHERE tenant_id = $1 AND type = $2 AND version = $3`
	var v TypeVersion
	err := pg.GetOne(ctx, q, &v, apperr.NotFound("event_type_version_not_found", "No such version of this event type."),
		"get event type version", query, tenantID, typ, version)
	v.Schema = noSchema(v.Schema)
	return v, err
}

// schemaVersion is a live type that has a schema, at its current version.
type schemaVersion struct {
	Type    string `db:"type"`
	Version int    `db:"version"`
}

// ListSchemaVersions is the tenant's live types that have a schema and
// their current versions (schemacache.go reads it when CatalogVersion
// changed).
func (repo) ListSchemaVersions(ctx context.Context, q pg.Querier, tenantID uuid.UUID) ([]schemaVersion, error) {
	const query = `SELECT t.type, t.version` + typeFrom + `
		WHERE t.tenant_id = $1 AND t.deleted_at IS NULL AND v.schema IS NOT NULL`
	var out []schemaVersion
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID); err != nil {
		return nil, fmt.Errorf("list event type schemas: %w", err)
	}
	return out, nil
}

// GetSchema returns the schema of one version of a type (nil when that
// version has none).
func (repo) GetSchema(ctx context.Context, q pg.Querier, tenantID uuid.UUID, typ string, version int) (json.RawMessage, error) {
	const query = `SELECT coalesce(schema, 'null') FROM event_type_versions WHERE tenant_id = $1 AND type = $2 AND version = $3`
	var raw []byte
	if err := pg.GetOne(ctx, q, &raw, errTypeNotFound, "get event type schema", query, tenantID, typ, version); err != nil {
		return nil, err
	}
	return noSchema(raw), nil
}

// schemaArg is a schema as a query argument: NULL when there is none.
func schemaArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return []byte(raw)
}

func noSchema(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}
