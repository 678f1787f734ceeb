package rules

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// repo holds the SQL of the rules, rule_versions, rule_matches,
// rule_groups, rule_digests and rule_digest_items tables.
type repo struct{}

var errRuleNotFound = apperr.NotFound("rule_not_found", "No such rule.")

const ruleColumns = `r.id, r.tenant_id, r.name, r.enabled, r.version, v.definition,
	r.created_at, r.created_by, r.updated_at, r.updated_by`

const ruleFrom = ` FROM rules r JOIN rule_versions v ON v.rule_id = r.id AND v.version = r.version`

func (repo) Insert(ctx context.Context, q pg.Querier, r *Rule) error {
	const insertRule = `
		INSERT INTO rules (id, tenant_id, name, enabled, version, created_by, updated_by)
		VALUES ($1, $2, $3, $4, 1, $5, $5)
		RETURNING version, created_at, updated_at`
	r.ID = uuid.Must(uuid.NewV7())
	if err := sqlx.GetContext(ctx, q, r, insertRule, r.ID, r.TenantID, r.Name, r.Enabled, r.CreatedBy); err != nil {
		return fmt.Errorf("insert rule: %w", err)
	}
	return repo{}.InsertVersion(ctx, q, r.TenantID, r.ID, 1, r.Definition, r.CreatedBy)
}

func (repo) InsertVersion(ctx context.Context, q pg.Querier, tenantID, ruleID uuid.UUID, version int, def json.RawMessage, by *uuid.UUID) error {
	const query = `
		INSERT INTO rule_versions (rule_id, version, tenant_id, definition, created_by)
		VALUES ($1, $2, $3, $4, $5)`
	if _, err := q.ExecContext(ctx, query, ruleID, version, tenantID, []byte(def), by); err != nil {
		return fmt.Errorf("insert rule version: %w", err)
	}
	return nil
}

// Get returns a live rule; forUpdate locks it for a change.
func (repo) Get(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, forUpdate bool) (Rule, error) {
	query := `SELECT ` + ruleColumns + ruleFrom + ` WHERE r.tenant_id = $1 AND r.id = $2 AND r.deleted_at IS NULL`
	if forUpdate {
		query += ` FOR UPDATE OF r`
	}
	var r Rule
	err := pg.GetOne(ctx, q, &r, errRuleNotFound, "get rule", query, tenantID, id)
	return r, err
}

func (repo) List(ctx context.Context, q pg.Querier, tenantID, before uuid.UUID, limit int) ([]Rule, error) {
	const query = `SELECT ` + ruleColumns + ruleFrom + `
		WHERE r.tenant_id = $1 AND r.deleted_at IS NULL AND ($2::uuid IS NULL OR r.id < $2)
		ORDER BY r.id DESC LIMIT $3`
	var out []Rule
	var cursor any
	if before != uuid.Nil {
		cursor = before
	}
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, cursor, limit); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	return out, nil
}

// Update writes name, enabled and version of r (the version row, if new, is
// inserted separately).
func (repo) Update(ctx context.Context, q pg.Querier, r *Rule) error {
	const query = `
		UPDATE rules SET name = $3, enabled = $4, version = $5, updated_by = $6, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
		RETURNING updated_at`
	return pg.GetOne(ctx, q, &r.UpdatedAt, errRuleNotFound, "update rule", query, r.TenantID, r.ID, r.Name, r.Enabled, r.Version, r.UpdatedBy)
}

func (repo) SoftDelete(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, by *uuid.UUID) error {
	const query = `
		UPDATE rules SET deleted_at = now(), deleted_by = $3, updated_at = now(), updated_by = $3
		WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`
	return pg.ExecOne(ctx, q, errRuleNotFound, "delete rule", query, tenantID, id, by)
}

func (repo) ListVersions(ctx context.Context, q pg.Querier, tenantID, ruleID uuid.UUID) ([]Version, error) {
	const query = `
		SELECT rule_id, version, definition, created_at, created_by
		FROM rule_versions WHERE tenant_id = $1 AND rule_id = $2 ORDER BY version DESC`
	var out []Version
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, ruleID); err != nil {
		return nil, fmt.Errorf("list rule versions: %w", err)
	}
	return out, nil
}

func (repo) GetVersion(ctx context.Context, q pg.Querier, tenantID, ruleID uuid.UUID, version int) (Version, error) {
	const query = `
		SELECT rule_id, version, definition, created_at, created_by
		FROM rule_versions WHERE tenant_id = $1 AND rule_id = $2 AND version = $3`
	var v Version
	err := pg.GetOne(ctx, q, &v, apperr.NotFound("rule_version_not_found", "No such version of this rule."), "get rule version", query, tenantID, ruleID, version)
	return v, err
}

// activeRule is what the worker needs to pick compiled definitions.
type activeRule struct {
	TenantID uuid.UUID `db:"tenant_id"`
	ID       uuid.UUID `db:"id"`
	Version  int       `db:"version"`
}

// ListActive is the tenant's enabled rules and their current versions: one
// small indexed query per processed event, so evaluation always uses the
// version current at processing time.
func (repo) ListActive(ctx context.Context, q pg.Querier, tenantID uuid.UUID) ([]activeRule, error) {
	const query = `
		SELECT tenant_id, id, version FROM rules
		WHERE tenant_id = $1 AND enabled AND deleted_at IS NULL ORDER BY id`
	var out []activeRule
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID); err != nil {
		return nil, fmt.Errorf("list active rules: %w", err)
	}
	return out, nil
}

// InsertMatch records a match; false when this event and rule were already
// recorded (the job is being worked again).
func (repo) InsertMatch(ctx context.Context, q pg.Querier, m *Match) (bool, error) {
	const query = `
		INSERT INTO rule_matches (id, tenant_id, event_id, rule_id, rule_version, group_key, fired, received_at, actions,
			retention_days, reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT ON CONSTRAINT rule_matches_once DO NOTHING`
	m.ID = uuid.Must(uuid.NewV7())
	res, err := q.ExecContext(ctx, query, m.ID, m.TenantID, m.EventID, m.RuleID, m.RuleVersion, m.GroupKey, m.Fired,
		m.ReceivedAt, []byte(m.Actions), m.RetentionDays, m.Reason)
	if err != nil {
		return false, fmt.Errorf("insert rule match: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DeleteExpired deletes, in batches, the matches of events with the given
// retention whose ids are below before. It serves every tenant: retention
// is per event, not per request.
func (repo) DeleteExpired(ctx context.Context, q pg.Querier, retentionDays int, before uuid.UUID) (int64, error) {
	const query = `
		DELETE FROM rule_matches WHERE id IN (
			SELECT id FROM rule_matches WHERE retention_days = $1 AND event_id < $2 LIMIT $3)`
	n, err := pg.DeleteBatches(ctx, q, 5000, query, retentionDays, before)
	if err != nil {
		return n, fmt.Errorf("delete expired rule matches: %w", err)
	}
	// Digest items go with their events, and flushed digests once empty
	// (an open one, still collecting, stays).
	const items = `
		DELETE FROM rule_digest_items WHERE (digest_id, event_id) IN (
			SELECT digest_id, event_id FROM rule_digest_items WHERE retention_days = $1 AND event_id < $2 LIMIT $3)`
	if _, err := pg.DeleteBatches(ctx, q, 5000, items, retentionDays, before); err != nil {
		return n, fmt.Errorf("delete expired digest items: %w", err)
	}
	const digests = `
		DELETE FROM rule_digests d WHERE d.state = 'flushed' AND d.retention_days = $1 AND d.flushed_at < $2
			AND NOT EXISTS (SELECT 1 FROM rule_digest_items i WHERE i.digest_id = d.id)`
	if _, err := q.ExecContext(ctx, digests, retentionDays, pg.UUIDv7Time(before)); err != nil {
		return n, fmt.Errorf("delete expired digests: %w", err)
	}
	return n, nil
}

// LockGroup takes the row lock of a rule's group, creating the row if
// needed, and returns when it last fired.
func (repo) LockGroup(ctx context.Context, q pg.Querier, tenantID, ruleID uuid.UUID, group string) (*time.Time, error) {
	const upsert = `
		INSERT INTO rule_groups (rule_id, group_key, tenant_id) VALUES ($1, $2, $3)
		ON CONFLICT (rule_id, group_key) DO NOTHING`
	if _, err := q.ExecContext(ctx, upsert, ruleID, group, tenantID); err != nil {
		return nil, fmt.Errorf("ensure rule group: %w", err)
	}
	const lock = `
		SELECT last_fired_at FROM rule_groups
		WHERE tenant_id = $1 AND rule_id = $2 AND group_key = $3 FOR UPDATE`
	var last *time.Time
	if err := sqlx.GetContext(ctx, q, &last, lock, tenantID, ruleID, group); err != nil {
		return nil, fmt.Errorf("lock rule group: %w", err)
	}
	return last, nil
}

func (repo) SetFired(ctx context.Context, q pg.Querier, tenantID, ruleID uuid.UUID, group string, at time.Time) error {
	const query = `UPDATE rule_groups SET last_fired_at = $4 WHERE tenant_id = $1 AND rule_id = $2 AND group_key = $3`
	if _, err := q.ExecContext(ctx, query, tenantID, ruleID, group, at); err != nil {
		return fmt.Errorf("record firing: %w", err)
	}
	return nil
}

// CountMatches counts a group's matches received after the given time, and
// the latest of their receive times.
func (repo) CountMatches(ctx context.Context, q pg.Querier, tenantID, ruleID uuid.UUID, group string, after time.Time) (int, *time.Time, error) {
	const query = `
		SELECT count(*) AS n, max(received_at) AS latest FROM rule_matches
		WHERE tenant_id = $1 AND rule_id = $2 AND group_key = $3 AND received_at > $4`
	var row struct {
		N      int        `db:"n"`
		Latest *time.Time `db:"latest"`
	}
	if err := sqlx.GetContext(ctx, q, &row, query, tenantID, ruleID, group, after); err != nil {
		return 0, nil, fmt.Errorf("count rule matches: %w", err)
	}
	return row.N, row.Latest, nil
}

// MatchesOf lists the recorded matches of one event.
func (repo) MatchesOf(ctx context.Context, q pg.Querier, tenantID, eventID uuid.UUID) ([]Match, error) {
	const query = `
		SELECT id, tenant_id, event_id, rule_id, rule_version, group_key, fired, reason, received_at, actions, created_at
		FROM rule_matches WHERE tenant_id = $1 AND event_id = $2 ORDER BY id`
	var out []Match
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, eventID); err != nil {
		return nil, fmt.Errorf("list matches of event: %w", err)
	}
	return out, nil
}

// ListActiveMany is ListActive for several tenants in one query, by tenant.
func (repo) ListActiveMany(ctx context.Context, q pg.Querier, tenants []uuid.UUID) (map[uuid.UUID][]activeRule, error) {
	const query = `
		SELECT tenant_id, id, version FROM rules
		WHERE tenant_id = ANY($1::uuid[]) AND enabled AND deleted_at IS NULL ORDER BY tenant_id, id`
	var rows []activeRule
	if err := sqlx.SelectContext(ctx, q, &rows, query, pg.UUIDs(tenants)); err != nil {
		return nil, fmt.Errorf("list active rules: %w", err)
	}
	out := make(map[uuid.UUID][]activeRule, len(tenants))
	for _, r := range rows {
		out[r.TenantID] = append(out[r.TenantID], r)
	}
	return out, nil
}

// matchKey identifies a match: one per event and rule.
type matchKey struct{ event, rule uuid.UUID }

// InsertMatches records matches with one statement and returns those it
// inserted (a match recorded before, when a job is worked again, is not).
func (repo) InsertMatches(ctx context.Context, q pg.Querier, ms []Match) (map[matchKey]bool, error) {
	const query = `
		INSERT INTO rule_matches (id, tenant_id, event_id, rule_id, rule_version, group_key, fired, received_at, actions,
			retention_days, reason)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::text[], $7::bool[],
			$8::timestamptz[], $9::jsonb[], $10::smallint[], $11::text[])
		ON CONFLICT ON CONSTRAINT rule_matches_once DO NOTHING
		RETURNING event_id, rule_id`
	n := len(ms)
	ids, tenants, evs, rules := make(pg.UUIDs, n), make(pg.UUIDs, n), make(pg.UUIDs, n), make(pg.UUIDs, n)
	versions, groups, fired := make([]int64, n), make(pg.Strings, n), make([]bool, n)
	received, actions, retention := make(pg.Times, n), make(pg.Strings, n), make([]int64, n)
	reasons := make(pg.Strings, n)
	for i := range ms {
		m := &ms[i]
		retention[i], reasons[i] = int64(m.RetentionDays), m.Reason
		m.ID = uuid.Must(uuid.NewV7())
		ids[i], tenants[i], evs[i], rules[i] = m.ID, m.TenantID, m.EventID, m.RuleID
		a := string(m.Actions)
		versions[i], groups[i], fired[i], received[i], actions[i] = int64(m.RuleVersion), &m.GroupKey, m.Fired, m.ReceivedAt, &a
	}
	var rows []struct {
		EventID uuid.UUID `db:"event_id"`
		RuleID  uuid.UUID `db:"rule_id"`
	}
	err := sqlx.SelectContext(ctx, q, &rows, query, ids, tenants, evs, rules,
		pq.Array(versions), groups, pq.Array(fired), received, actions, pq.Array(retention), reasons)
	if err != nil {
		return nil, fmt.Errorf("insert rule matches: %w", err)
	}
	out := make(map[matchKey]bool, len(rows))
	for _, r := range rows {
		out[matchKey{r.EventID, r.RuleID}] = true
	}
	return out, nil
}

// LastFired reads when a rule's group last fired, without locking it (a
// dry run); nil when it never did.
func (repo) LastFired(ctx context.Context, q pg.Querier, tenantID, ruleID uuid.UUID, group string) (*time.Time, error) {
	const query = `SELECT last_fired_at FROM rule_groups WHERE tenant_id = $1 AND rule_id = $2 AND group_key = $3`
	var last *time.Time
	err := sqlx.GetContext(ctx, q, &last, query, tenantID, ruleID, group)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read rule group: %w", err)
	}
	return last, nil
}

const digestColumns = `id, tenant_id, rule_id, rule_version, action_index, group_key, delivery_id, state, count, max,
	opened_at, closes_at, flushed_at, retention_days`

// OpenDigest finds the open digest of d's rule version, action and group,
// or opens d as it; either way the row is locked until the transaction
// ends, and d holds it. created: this call opened it.
func (repo) OpenDigest(ctx context.Context, q pg.Querier, d *digestRow) (bool, error) {
	const query = `
		INSERT INTO rule_digests (id, tenant_id, rule_id, rule_version, action_index, group_key, delivery_id, max,
			opened_at, closes_at, retention_days)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (rule_id, rule_version, action_index, group_key) WHERE state = 'open'
			DO UPDATE SET count = rule_digests.count -- changes nothing; takes the row lock
		RETURNING ` + digestColumns + `, (xmax = 0) AS created`
	var row struct {
		digestRow
		Created bool `db:"created"`
	}
	if err := sqlx.GetContext(ctx, q, &row, query, d.ID, d.TenantID, d.RuleID, d.RuleVersion, d.ActionIndex, d.GroupKey,
		d.DeliveryID, d.Max, d.OpenedAt, d.ClosesAt, d.RetentionDays); err != nil {
		return false, fmt.Errorf("open digest: %w", err)
	}
	*d = row.digestRow
	return row.Created, nil
}

// CollectItem adds event e to digest d (locked by OpenDigest) and counts
// it; at max the digest closes ("full") and the next firing opens another.
// It returns the digest's state after it, or "" when the event was already
// collected for this rule action (in this digest or an earlier one).
func (repo) CollectItem(ctx context.Context, q pg.Querier, d *digestRow, e events.Event, snapshot []byte) (string, error) {
	const query = `
		WITH i AS (
			INSERT INTO rule_digest_items (digest_id, tenant_id, rule_id, action_index, event_id, received_at, event,
				retention_days)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT DO NOTHING
			RETURNING digest_id)
		UPDATE rule_digests d SET count = d.count + 1,
			state = CASE WHEN d.count + 1 >= d.max THEN 'full' ELSE d.state END
		FROM i WHERE d.tenant_id = $2 AND d.id = i.digest_id
		RETURNING d.state`
	var state string
	err := sqlx.GetContext(ctx, q, &state, query, d.ID, d.TenantID, d.RuleID, d.ActionIndex, e.ID, e.ReceivedAt,
		snapshot, e.RetentionDays)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("collect digest item: %w", err)
	}
	return state, nil
}

// LockDigest reads one digest and locks it until the transaction ends.
func (repo) LockDigest(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) (digestRow, error) {
	const query = `SELECT ` + digestColumns + ` FROM rule_digests WHERE tenant_id = $1 AND id = $2 FOR UPDATE`
	var d digestRow
	err := pg.GetOne(ctx, q, &d, apperr.NotFound("digest_not_found", "No such digest."), "lock digest", query, tenantID, id)
	return d, err
}

// DigestItems lists a digest's events, oldest first.
func (repo) DigestItems(ctx context.Context, q pg.Querier, tenantID, digestID uuid.UUID) ([]notify.EventSnapshot, error) {
	const query = `
		SELECT event FROM rule_digest_items WHERE tenant_id = $1 AND digest_id = $2 ORDER BY received_at, event_id`
	var raws [][]byte
	if err := sqlx.SelectContext(ctx, q, &raws, query, tenantID, digestID); err != nil {
		return nil, fmt.Errorf("list digest items: %w", err)
	}
	out := make([]notify.EventSnapshot, len(raws))
	for i, r := range raws {
		if err := json.Unmarshal(r, &out[i]); err != nil {
			return nil, fmt.Errorf("decode digest item: %w", err)
		}
	}
	return out, nil
}

// MarkFlushed records that a digest became its delivery.
func (repo) MarkFlushed(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) error {
	const query = `UPDATE rule_digests SET state = 'flushed', flushed_at = now() WHERE tenant_id = $1 AND id = $2`
	if _, err := q.ExecContext(ctx, query, tenantID, id); err != nil {
		return fmt.Errorf("mark digest flushed: %w", err)
	}
	return nil
}

// OpenDigestOf returns the delivery id of the open digest of a rule
// version, action and group, if any (a dry run says where it would go).
func (repo) OpenDigestOf(ctx context.Context, q pg.Querier, tenantID, ruleID uuid.UUID, version, idx int, group string) (*uuid.UUID, error) {
	const query = `
		SELECT delivery_id FROM rule_digests
		WHERE tenant_id = $1 AND rule_id = $2 AND rule_version = $3 AND action_index = $4 AND group_key = $5 AND state = 'open'`
	var id uuid.UUID
	err := sqlx.GetContext(ctx, q, &id, query, tenantID, ruleID, version, idx, group)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find open digest: %w", err)
	}
	return &id, nil
}
