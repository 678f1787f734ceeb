package notify

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signalops/signalops/platform/pg"
)

// The SQL of channel_flow (flow.go), notify's table of per-channel flow
// control. A channel has a row once it failed, was paused or reserved a
// rate slot; reads of a channel without one get a closed Flow.

const flowColumns = `channel_id, tenant_id, state, consecutive_failures, last_error, opened_at, next_probe_at,
	probe_interval_ms, probe_delivery_id, probe_started_at, paused_until, next_slot_at`

// flowJoinColumns reads f (LEFT JOINed to channels c) as "fl.*": a channel
// without a row reads as closed.
const flowJoinColumns = `c.id AS "fl.channel_id", c.tenant_id AS "fl.tenant_id",
	coalesce(f.state, 'closed') AS "fl.state", coalesce(f.consecutive_failures, 0) AS "fl.consecutive_failures",
	f.last_error AS "fl.last_error", f.opened_at AS "fl.opened_at", f.next_probe_at AS "fl.next_probe_at",
	coalesce(f.probe_interval_ms, 0) AS "fl.probe_interval_ms", f.probe_delivery_id AS "fl.probe_delivery_id",
	f.probe_started_at AS "fl.probe_started_at", f.paused_until AS "fl.paused_until", f.next_slot_at AS "fl.next_slot_at"`

// FlowsOf returns the flow state of the tenant's channels ids (closed for
// those without a row).
func (repo) FlowsOf(ctx context.Context, q pg.Querier, tenantID uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]Flow, error) {
	const query = `SELECT ` + flowColumns + ` FROM channel_flow WHERE tenant_id = $1 AND channel_id = ANY($2::uuid[])`
	var rows []Flow
	if err := sqlx.SelectContext(ctx, q, &rows, query, tenantID, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("read channel flow: %w", err)
	}
	out := make(map[uuid.UUID]Flow, len(ids))
	for _, id := range ids {
		out[id] = Flow{ChannelID: id, TenantID: tenantID, State: CircuitClosed}
	}
	for _, f := range rows {
		out[f.ChannelID] = f
	}
	return out, nil
}

// ClaimProbe makes deliveryID the probe of its channel's circuit, if the
// circuit is open and its probe time has come, or the delivery holds the
// claim already, or the claim is older than maxRun (its prober is gone).
// Concurrent claims serialize on the row: exactly one wins.
func (repo) ClaimProbe(ctx context.Context, q pg.Querier, tenantID, channelID, deliveryID uuid.UUID, maxRun time.Duration) (Flow, bool, error) {
	const query = `
		UPDATE channel_flow SET state = 'half_open', probe_delivery_id = $3, probe_started_at = now(), updated_at = now()
		WHERE tenant_id = $1 AND channel_id = $2 AND (
			(state = 'open' AND (next_probe_at IS NULL OR next_probe_at <= now()))
			OR (state = 'half_open' AND (probe_delivery_id = $3 OR probe_started_at IS NULL
				OR probe_started_at < now() - $4 * interval '1 microsecond')))
		RETURNING ` + flowColumns
	var rows []Flow
	if err := sqlx.SelectContext(ctx, q, &rows, query, tenantID, channelID, deliveryID, maxRun.Microseconds()); err != nil {
		return Flow{}, false, fmt.Errorf("claim probe: %w", err)
	}
	if len(rows) == 0 {
		return Flow{}, false, nil
	}
	return rows[0], true, nil
}

// LockFlows creates the missing flow rows of the channels (tenants[i],
// ids[i]) and locks them all, in channel id order (pass ids sorted, so
// that concurrent groups lock in one order and never deadlock).
func (repo) LockFlows(ctx context.Context, tx *sqlx.Tx, tenants, ids pg.UUIDs) (map[uuid.UUID]Flow, error) {
	const insert = `
		INSERT INTO channel_flow (channel_id, tenant_id)
		SELECT c, t FROM unnest($1::uuid[], $2::uuid[]) AS r(t, c)
		ON CONFLICT (channel_id) DO NOTHING`
	if _, err := tx.ExecContext(ctx, insert, tenants, ids); err != nil {
		return nil, fmt.Errorf("create channel flow: %w", err)
	}
	query := `
		SELECT ` + pg.Columns("f.", "", flowColumns) + ` FROM unnest($1::uuid[], $2::uuid[]) AS r(t, c)
		JOIN channel_flow f ON f.tenant_id = r.t AND f.channel_id = r.c
		ORDER BY f.channel_id
		FOR UPDATE OF f`
	var rows []Flow
	if err := sqlx.SelectContext(ctx, tx, &rows, query, tenants, ids); err != nil {
		return nil, fmt.Errorf("lock channel flow: %w", err)
	}
	out := make(map[uuid.UUID]Flow, len(rows))
	for _, f := range rows {
		out[f.ChannelID] = f
	}
	return out, nil
}

// UpdateFlow stores a flow row's breaker state and pause.
func (repo) UpdateFlow(ctx context.Context, q pg.Querier, f *Flow) error {
	const query = `
		UPDATE channel_flow SET state = $3, consecutive_failures = $4, last_error = $5, opened_at = $6,
			next_probe_at = $7, probe_interval_ms = $8, probe_delivery_id = $9, probe_started_at = $10,
			paused_until = $11, updated_at = now()
		WHERE tenant_id = $1 AND channel_id = $2`
	if _, err := q.ExecContext(ctx, query, f.TenantID, f.ChannelID, f.State, f.ConsecutiveFailures, f.LastError,
		f.OpenedAt, f.NextProbeAt, f.ProbeIntervalMS, f.ProbeDeliveryID, f.ProbeStartedAt, f.PausedUntil); err != nil {
		return fmt.Errorf("update channel flow: %w", err)
	}
	return nil
}

// ReserveSlot reserves the channel's next rate-cap slot for a delivery:
// the later of now and the channel's next free slot, which moves one
// interval on. The slot is stored on the delivery (deliveries.slot_at), so
// its job, woken at the slot, sends without reserving again. It returns the
// slot and the database's now.
func (repo) ReserveSlot(ctx context.Context, q pg.Querier, tenantID, channelID, deliveryID uuid.UUID, interval time.Duration) (slot, now time.Time, err error) {
	const query = `
		WITH f AS (
			INSERT INTO channel_flow AS f (channel_id, tenant_id, next_slot_at)
			VALUES ($2, $1, now() + $4 * interval '1 microsecond')
			ON CONFLICT (channel_id) DO UPDATE
				SET next_slot_at = greatest(f.next_slot_at, now()) + $4 * interval '1 microsecond', updated_at = now()
			RETURNING f.next_slot_at - $4 * interval '1 microsecond' AS slot
		)
		UPDATE deliveries SET slot_at = (SELECT slot FROM f)
		WHERE tenant_id = $1 AND id = $3
		RETURNING slot_at, now()`
	row := q.QueryRowxContext(ctx, query, tenantID, channelID, deliveryID, max(interval.Microseconds(), 1))
	if err := row.Scan(&slot, &now); err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("reserve rate slot: %w", err)
	}
	return slot, now, nil
}

// RescheduleFlow follows a change of a channel's config: rate slots start
// over (the cap may have changed) and an open circuit may probe at once
// (the change may have fixed what broke it). It reports whether the
// circuit is open.
func (repo) RescheduleFlow(ctx context.Context, q pg.Querier, tenantID, channelID uuid.UUID) (open bool, err error) {
	const query = `
		UPDATE channel_flow SET next_slot_at = NULL,
			next_probe_at = CASE WHEN state = 'open' THEN least(next_probe_at, now()) ELSE next_probe_at END,
			updated_at = now()
		WHERE tenant_id = $1 AND channel_id = $2
		RETURNING state = 'open'`
	var rows []bool
	if err := sqlx.SelectContext(ctx, q, &rows, query, tenantID, channelID); err != nil {
		return false, fmt.Errorf("reschedule channel flow: %w", err)
	}
	return len(rows) == 1 && rows[0], nil
}
