package notify

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// repo holds the SQL of channels, deliveries and delivery_attempts.
type repo struct{}

var (
	errChannelNotFound  = apperr.NotFound("channel_not_found", "No such channel.")
	errDeliveryNotFound = apperr.NotFound("delivery_not_found", "No such delivery.")
)

const channelColumns = `id, tenant_id, name, kind, config, secrets, created_at, updated_at`

func (repo) InsertChannel(ctx context.Context, q pg.Querier, c *Channel) error {
	const query = `
		INSERT INTO channels (id, tenant_id, name, kind, config, secrets)
		VALUES ($1, $2, $3, $4, $5, $6)
		RETURNING created_at, updated_at`
	if err := sqlx.GetContext(ctx, q, c, query, c.ID, c.TenantID, c.Name, c.Kind, []byte(c.Config), c.SealedSecrets); err != nil {
		return fmt.Errorf("insert channel: %w", err)
	}
	return nil
}

func (repo) GetChannel(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) (Channel, error) {
	const query = `SELECT ` + channelColumns + ` FROM channels WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`
	var c Channel
	err := pg.GetOne(ctx, q, &c, errChannelNotFound, "get channel", query, tenantID, id)
	return c, err
}

func (repo) ListChannels(ctx context.Context, q pg.Querier, tenantID, before uuid.UUID, limit int) ([]Channel, error) {
	const query = `SELECT ` + channelColumns + ` FROM channels
		WHERE tenant_id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR id < $2)
		ORDER BY id DESC LIMIT $3`
	var out []Channel
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, pg.NullUUID(before), limit); err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	return out, nil
}

func (repo) UpdateChannel(ctx context.Context, q pg.Querier, c *Channel) error {
	const query = `
		UPDATE channels SET name = $3, config = $4, secrets = $5, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL
		RETURNING updated_at`
	return pg.GetOne(ctx, q, &c.UpdatedAt, errChannelNotFound, "update channel", query, c.TenantID, c.ID, c.Name, []byte(c.Config), c.SealedSecrets)
}

// DeleteChannel soft-deletes: deliveries keep pointing at the row.
func (repo) DeleteChannel(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID) error {
	const query = `UPDATE channels SET deleted_at = now() WHERE tenant_id = $1 AND id = $2 AND deleted_at IS NULL`
	return pg.ExecOne(ctx, q, errChannelNotFound, "delete channel", query, tenantID, id)
}

// LiveChannelIDs returns which of ids are live channels of the tenant.
func (repo) LiveChannelIDs(ctx context.Context, q pg.Querier, tenantID uuid.UUID, ids []uuid.UUID) ([]uuid.UUID, error) {
	const query = `SELECT id FROM channels WHERE tenant_id = $1 AND id = ANY($2::uuid[]) AND deleted_at IS NULL`
	var out []uuid.UUID
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("check channels: %w", err)
	}
	return out, nil
}

const deliveryColumns = `id, tenant_id, event_id, rule_id, rule_version, channel_id, event_type, message, body,
	status, attempts, last_error, provider_message_id, job_id, created_at, updated_at, delivered_at,
	fallback, fallback_of, replaced_by, chain_errors, slot_at`

func (repo) InsertDelivery(ctx context.Context, q pg.Querier, d *Delivery) error {
	const query = `
		INSERT INTO deliveries (id, tenant_id, event_id, rule_id, rule_version, channel_id, event_type, message, body, job_id,
			retention_days, fallback, fallback_of, chain_errors)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`
	if _, err := q.ExecContext(ctx, query, d.ID, d.TenantID, d.EventID, d.RuleID, d.RuleVersion, d.ChannelID,
		d.EventType, d.Message, []byte(d.Body), d.JobID, d.RetentionDays, d.Fallback, d.FallbackOf, d.ChainErrors); err != nil {
		return fmt.Errorf("insert delivery: %w", err)
	}
	return nil
}

// FailUnsent records a delivery that is never sent: its message could not
// be made.
func (repo) FailUnsent(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, reason string) error {
	const query = `
		UPDATE deliveries SET status = 'failed', last_error = $3, updated_at = now()
		WHERE tenant_id = $1 AND id = $2`
	if _, err := q.ExecContext(ctx, query, tenantID, id, reason); err != nil {
		return fmt.Errorf("fail unsent delivery: %w", err)
	}
	return nil
}

// InsertDeliveries stores new deliveries with one statement.
func (repo) InsertDeliveries(ctx context.Context, q pg.Querier, ds []Delivery) error {
	if len(ds) == 1 {
		return repo{}.InsertDelivery(ctx, q, &ds[0])
	}
	const query = `
		INSERT INTO deliveries (id, tenant_id, event_id, rule_id, rule_version, channel_id, event_type, message, body, job_id,
			retention_days, fallback, fallback_of, chain_errors)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::uuid[], $7::text[],
			$8::text[], $9::jsonb[], $10::bigint[], $11::smallint[], $12::jsonb[], $13::uuid[], $14::jsonb[])`
	n := len(ds)
	ids, tenants, evs, channels := make(pg.UUIDs, n), make(pg.UUIDs, n), make(pg.UUIDs, n), make(pg.UUIDs, n)
	rules, versions, jobs := make(pg.Strings, n), make([]sql.NullInt64, n), make([]sql.NullInt64, n)
	types, messages, bodies := make(pg.Strings, n), make(pg.Strings, n), make(pg.Strings, n)
	retention := make([]int64, n)
	fallbacks, fallbackOf, chainErrs := make(pg.Strings, n), make(pg.Strings, n), make(pg.Strings, n)
	for i := range ds {
		d := &ds[i]
		retention[i] = int64(d.RetentionDays)
		if err := chainColumns(d, &fallbacks[i], &fallbackOf[i], &chainErrs[i]); err != nil {
			return err
		}
		ids[i], tenants[i], evs[i], channels[i] = d.ID, d.TenantID, d.EventID, d.ChannelID
		if d.RuleID != nil {
			r := d.RuleID.String()
			rules[i] = &r
		}
		if d.RuleVersion != nil {
			versions[i] = sql.NullInt64{Int64: int64(*d.RuleVersion), Valid: true}
		}
		if d.JobID != nil {
			jobs[i] = sql.NullInt64{Int64: *d.JobID, Valid: true}
		}
		body := string(d.Body)
		types[i], messages[i], bodies[i] = &d.EventType, &d.Message, &body
	}
	if _, err := q.ExecContext(ctx, query, ids, tenants, evs, rules,
		pq.GenericArray{A: versions}, channels, types, messages, bodies,
		pq.GenericArray{A: jobs}, pq.Array(retention), fallbacks, fallbackOf, chainErrs); err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	return nil
}

// chainColumns fills one row's fallback columns of a multi-row insert;
// a delivery outside any chain leaves them NULL.
func chainColumns(d *Delivery, fallback, of, errs **string) error {
	if len(d.Fallback) > 0 {
		v, err := d.Fallback.Value()
		if err != nil {
			return fmt.Errorf("encode fallback chain: %w", err)
		}
		s := v.(string)
		*fallback = &s
	}
	if d.FallbackOf != nil {
		s := d.FallbackOf.String()
		*of = &s
	}
	if len(d.ChainErrors) > 0 {
		v, err := d.ChainErrors.Value()
		if err != nil {
			return fmt.Errorf("encode chain errors: %w", err)
		}
		s := v.(string)
		*errs = &s
	}
	return nil
}

// MarkReplaced records deliveries as failed and handed over to their
// fallbacks, keeping each one's last error unless a new cause is given.
func (repo) MarkReplaced(ctx context.Context, q pg.Querier, rs []replacement) error {
	const query = `
		UPDATE deliveries d SET status = 'failed', replaced_by = u.replaced_by,
			last_error = coalesce(u.last_error, d.last_error), updated_at = now()
		FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[]) AS u(tenant_id, id, replaced_by, last_error)
		WHERE d.tenant_id = u.tenant_id AND d.id = u.id`
	n := len(rs)
	tenants, ids, by, errs := make(pg.UUIDs, n), make(pg.UUIDs, n), make(pg.UUIDs, n), make(pg.Strings, n)
	for i, r := range rs {
		tenants[i], ids[i], by[i], errs[i] = r.tenantID, r.id, r.by, r.lastError
	}
	if _, err := q.ExecContext(ctx, query, tenants, ids, by, errs); err != nil {
		return fmt.Errorf("mark deliveries replaced: %w", err)
	}
	return nil
}

// DeleteExpired deletes, in batches, the deliveries (and, by cascade, their
// attempts) of events with the given retention whose ids are below before.
// It serves every tenant: retention is per event, not per request.
func (repo) DeleteExpired(ctx context.Context, q pg.Querier, retentionDays int, before uuid.UUID) (int64, error) {
	const query = `
		DELETE FROM deliveries WHERE id IN (
			SELECT id FROM deliveries WHERE retention_days = $1 AND event_id < $2 LIMIT $3)`
	n, err := pg.DeleteBatches(ctx, q, expireBatch, query, retentionDays, before)
	if err != nil {
		return n, fmt.Errorf("delete expired deliveries: %w", err)
	}
	return n, nil
}

// expireBatch is the most deliveries one DELETE of expired rows removes
// (their attempts go with them).
const expireBatch = 2000

func (repo) SetJobID(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, jobID int64) error {
	const query = `UPDATE deliveries SET job_id = $3 WHERE tenant_id = $1 AND id = $2`
	if _, err := q.ExecContext(ctx, query, tenantID, id, jobID); err != nil {
		return fmt.Errorf("set delivery job: %w", err)
	}
	return nil
}

func (repo) GetDelivery(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, forUpdate bool) (Delivery, error) {
	query := `SELECT ` + deliveryColumns + ` FROM deliveries WHERE tenant_id = $1 AND id = $2`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var d Delivery
	err := pg.GetOne(ctx, q, &d, errDeliveryNotFound, "get delivery", query, tenantID, id)
	return d, err
}

// DeliveryFilter narrows a listing; zero values mean any.
type DeliveryFilter struct {
	Status    string
	EventID   uuid.UUID
	ChannelID uuid.UUID
	Before    uuid.UUID
	Limit     int
}

func (repo) ListDeliveries(ctx context.Context, q pg.Querier, tenantID uuid.UUID, f DeliveryFilter) ([]Delivery, error) {
	w := pg.TenantFilter(tenantID)
	if f.Status != "" {
		w.Add("status = ?", f.Status)
	}
	if f.EventID != uuid.Nil {
		w.Add("event_id = ?", f.EventID)
	}
	if f.ChannelID != uuid.Nil {
		w.Add("channel_id = ?", f.ChannelID)
	}
	where, args := w.Page(f.Before, f.Limit)
	query := `SELECT ` + deliveryColumns + ` FROM deliveries` + where
	var out []Delivery
	if err := sqlx.SelectContext(ctx, q, &out, query, args...); err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// RecordAttempt stores one attempt and the delivery's resulting state.
func (repo) RecordAttempt(ctx context.Context, q pg.Querier, d *Delivery, a *Attempt) error {
	const insert = `
		INSERT INTO delivery_attempts (id, delivery_id, tenant_id, attempt, succeeded, status_code, latency_ms, error, response, provider_message_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`
	a.ID = uuid.Must(uuid.NewV7())
	if _, err := q.ExecContext(ctx, insert, a.ID, a.DeliveryID, a.TenantID, a.Attempt, a.Succeeded, a.StatusCode,
		a.LatencyMS, a.Error, a.Response, a.ProviderMessageID); err != nil {
		return fmt.Errorf("insert delivery attempt: %w", err)
	}
	const update = `
		UPDATE deliveries SET status = $3, attempts = $4, last_error = $5, provider_message_id = coalesce($6, provider_message_id),
			delivered_at = $7, slot_at = NULL, updated_at = now()
		WHERE tenant_id = $1 AND id = $2`
	if _, err := q.ExecContext(ctx, update, d.TenantID, d.ID, d.Status, d.Attempts, d.LastError, d.ProviderMessageID, d.DeliveredAt); err != nil {
		return fmt.Errorf("update delivery: %w", err)
	}
	return nil
}

// SetStatus changes a delivery's status (a retry makes a failed one pending).
func (repo) SetStatus(ctx context.Context, q pg.Querier, tenantID, id uuid.UUID, status string) error {
	const query = `UPDATE deliveries SET status = $3, updated_at = now() WHERE tenant_id = $1 AND id = $2`
	if _, err := q.ExecContext(ctx, query, tenantID, id, status); err != nil {
		return fmt.Errorf("set delivery status: %w", err)
	}
	return nil
}

func (repo) AttemptsOf(ctx context.Context, q pg.Querier, tenantID uuid.UUID, ids []uuid.UUID) ([]Attempt, error) {
	const query = `
		SELECT id, delivery_id, tenant_id, attempt, succeeded, status_code, latency_ms, error, response, provider_message_id, created_at
		FROM delivery_attempts WHERE tenant_id = $1 AND delivery_id = ANY($2::uuid[]) ORDER BY delivery_id, attempt`
	var out []Attempt
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("list delivery attempts: %w", err)
	}
	return out, nil
}

// deliveryWithChannel is one row of GetDeliveriesAndChannels.
type deliveryWithChannel struct {
	Delivery
	Channel `db:"ch"`
	Flow    `db:"fl"`
}

// GetDeliveriesAndChannels reads many deliveries with their channels and
// the channels' flow state in one query, by delivery id; a delivery missing
// from the result, or whose channel is gone, is absent.
func (r repo) GetDeliveriesAndChannels(ctx context.Context, q pg.Querier, tenants, ids pg.UUIDs) (map[uuid.UUID]deliveryWithChannel, error) {
	query := `SELECT ` + pg.Columns("d.", "", deliveryColumns) + `, ` + pg.Columns("c.", "ch.", channelColumns) + `,
		` + flowJoinColumns + `
		FROM unnest($1::uuid[], $2::uuid[]) AS r(t, i)
		JOIN deliveries d ON d.tenant_id = r.t AND d.id = r.i
		JOIN channels c ON c.tenant_id = d.tenant_id AND c.id = d.channel_id AND c.deleted_at IS NULL
		LEFT JOIN channel_flow f ON f.channel_id = c.id`
	var rows []deliveryWithChannel
	if err := sqlx.SelectContext(ctx, q, &rows, query, tenants, ids); err != nil {
		return nil, fmt.Errorf("get deliveries and channels: %w", err)
	}
	out := make(map[uuid.UUID]deliveryWithChannel, len(rows))
	for _, r := range rows {
		out[r.Delivery.ID] = r
	}
	return out, nil
}

// RecordAttempts stores attempts and their deliveries' resulting states:
// two statements for any number of them.
func (repo) RecordAttempts(ctx context.Context, q pg.Querier, ds []Delivery, as []Attempt) error {
	if len(ds) == 1 {
		return repo{}.RecordAttempt(ctx, q, &ds[0], &as[0])
	}
	const insert = `
		INSERT INTO delivery_attempts (id, delivery_id, tenant_id, attempt, succeeded, status_code, latency_ms, error, response, provider_message_id)
		SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::int[], $5::bool[], $6::int[], $7::int[], $8::text[], $9::text[], $10::text[])`
	n := len(as)
	ids, dids, tenants := make(pg.UUIDs, n), make(pg.UUIDs, n), make(pg.UUIDs, n)
	attempts, latencies, codes := make([]int64, n), make([]int64, n), make([]sql.NullInt64, n)
	succeeded := make([]bool, n)
	errs, responses, pids := make(pg.Strings, n), make(pg.Strings, n), make(pg.Strings, n)
	for i := range as {
		a := &as[i]
		a.ID = uuid.Must(uuid.NewV7())
		ids[i], dids[i], tenants[i] = a.ID, a.DeliveryID, a.TenantID
		attempts[i], latencies[i], succeeded[i] = int64(a.Attempt), int64(a.LatencyMS), a.Succeeded
		if a.StatusCode != nil {
			codes[i] = sql.NullInt64{Int64: int64(*a.StatusCode), Valid: true}
		}
		errs[i], responses[i], pids[i] = a.Error, a.Response, a.ProviderMessageID
	}
	if _, err := q.ExecContext(ctx, insert, ids, dids, tenants, pq.Array(attempts),
		pq.Array(succeeded), pq.GenericArray{A: codes}, pq.Array(latencies), errs, responses, pids); err != nil {
		return fmt.Errorf("insert delivery attempts: %w", err)
	}
	const update = `
		UPDATE deliveries d SET status = u.status, attempts = u.attempts, last_error = u.last_error,
			provider_message_id = coalesce(u.provider_message_id, d.provider_message_id),
			delivered_at = u.delivered_at, slot_at = NULL, updated_at = now()
		FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[], $7::timestamptz[])
			AS u(tenant_id, id, status, attempts, last_error, provider_message_id, delivered_at)
		WHERE d.tenant_id = u.tenant_id AND d.id = u.id`
	n = len(ds)
	dIDs, dTenants := make(pg.UUIDs, n), make(pg.UUIDs, n)
	statuses, counts := make(pg.Strings, n), make([]int64, n)
	lastErrs, mids, delivered := make(pg.Strings, n), make(pg.Strings, n), make([]sql.NullTime, n)
	for i := range ds {
		d := &ds[i]
		dIDs[i], dTenants[i], statuses[i], counts[i] = d.ID, d.TenantID, &d.Status, int64(d.Attempts)
		lastErrs[i], mids[i] = d.LastError, d.ProviderMessageID
		if d.DeliveredAt != nil {
			delivered[i] = sql.NullTime{Time: *d.DeliveredAt, Valid: true}
		}
	}
	if _, err := q.ExecContext(ctx, update, dTenants, dIDs, statuses, pq.Array(counts),
		lastErrs, mids, pq.GenericArray{A: delivered}); err != nil {
		return fmt.Errorf("update deliveries: %w", err)
	}
	return nil
}
