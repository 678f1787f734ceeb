package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signalops/signalops/platform/pg"
)

// repo holds the SQL of usage_counters and usage_notices.
type repo struct{}

// Add increments one shard of a metric on one day of the period.
func (r repo) Add(ctx context.Context, q pg.Querier, tenantID uuid.UUID, period time.Time, day int, metric string, shard int, n int64) error {
	const query = `
		INSERT INTO usage_counters (tenant_id, period, day, metric, shard, count) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (tenant_id, period, metric, day, shard) DO UPDATE SET count = usage_counters.count + excluded.count`
	if _, err := q.ExecContext(ctx, query, tenantID, period, day, metric, shard, n); err != nil {
		return fmt.Errorf("count usage: %w", err)
	}
	return nil
}

// AddMany increments one shard of a metric for several tenants in one
// statement, taking the rows in the order given (callers sort, so
// concurrent transactions never lock them in opposite orders).
func (r repo) AddMany(ctx context.Context, q pg.Querier, tenants []uuid.UUID, period time.Time, day int, metric string, shardsOf []int, ns []int64) error {
	const query = `
		INSERT INTO usage_counters (tenant_id, period, day, metric, shard, count)
		SELECT t, $2, $6, $3, s, n FROM unnest($1::uuid[], $4::int[], $5::bigint[]) WITH ORDINALITY AS u(t, s, n, o)
		ORDER BY o
		ON CONFLICT (tenant_id, period, metric, day, shard) DO UPDATE SET count = usage_counters.count + excluded.count`
	ids := make([]string, len(tenants))
	for i, t := range tenants {
		ids[i] = t.String()
	}
	if _, err := q.ExecContext(ctx, query, pq.Array(ids), period, metric, pq.Array(shardsOf), pq.Array(ns), day); err != nil {
		return fmt.Errorf("count usage: %w", err)
	}
	return nil
}

// Sum totals one metric of one period (a read: it waits on no row lock).
func (repo) Sum(ctx context.Context, q pg.Querier, tenantID uuid.UUID, period time.Time, metric string) (int64, error) {
	const query = `SELECT coalesce(sum(count), 0) FROM usage_counters WHERE tenant_id = $1 AND period = $2 AND metric = $3`
	var n int64
	if err := sqlx.GetContext(ctx, q, &n, query, tenantID, period, metric); err != nil {
		return 0, fmt.Errorf("sum usage: %w", err)
	}
	return n, nil
}

type metricTotal struct {
	Period time.Time `db:"period"`
	Metric string    `db:"metric"`
	Count  int64     `db:"count"`
}

// Totals returns every metric of the periods in [from, to].
func (repo) Totals(ctx context.Context, q pg.Querier, tenantID uuid.UUID, from, to time.Time) ([]metricTotal, error) {
	const query = `
		SELECT period, metric, sum(count)::bigint AS count FROM usage_counters
		WHERE tenant_id = $1 AND period BETWEEN $2 AND $3 GROUP BY period, metric`
	var out []metricTotal
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, from, to); err != nil {
		return nil, fmt.Errorf("usage totals: %w", err)
	}
	return out, nil
}

type dayTotal struct {
	Period time.Time `db:"period"`
	Day    int       `db:"day"`
	Count  int64     `db:"count"`
}

// DailyTotals returns one metric per day of the periods in [from, to];
// rows counted before days were recorded (day 0) are left out.
func (repo) DailyTotals(ctx context.Context, q pg.Querier, tenantID uuid.UUID, from, to time.Time, metric string) ([]dayTotal, error) {
	const query = `
		SELECT period, day, sum(count)::bigint AS count FROM usage_counters
		WHERE tenant_id = $1 AND period BETWEEN $2 AND $3 AND metric = $4 AND day > 0 GROUP BY period, day`
	var out []dayTotal
	if err := sqlx.SelectContext(ctx, q, &out, query, tenantID, from, to, metric); err != nil {
		return nil, fmt.Errorf("daily usage: %w", err)
	}
	return out, nil
}

// InsertNotice records a notice once per tenant, period and kind; false
// when it was already recorded.
func (repo) InsertNotice(ctx context.Context, q pg.Querier, tenantID uuid.UUID, period time.Time, kind string, details any) (bool, error) {
	b, err := json.Marshal(details)
	if err != nil {
		return false, err
	}
	const query = `
		INSERT INTO usage_notices (tenant_id, period, kind, details) VALUES ($1, $2, $3, $4)
		ON CONFLICT (tenant_id, period, kind) DO NOTHING`
	res, err := q.ExecContext(ctx, query, tenantID, period, kind, b)
	if err != nil {
		return false, fmt.Errorf("record usage notice: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// NoticeAt returns when a notice was recorded, or nil.
func (repo) NoticeAt(ctx context.Context, q pg.Querier, tenantID uuid.UUID, period time.Time, kind string) (*time.Time, error) {
	const query = `SELECT created_at FROM usage_notices WHERE tenant_id = $1 AND period = $2 AND kind = $3`
	var at []time.Time
	if err := sqlx.SelectContext(ctx, q, &at, query, tenantID, period, kind); err != nil {
		return nil, fmt.Errorf("read usage notice: %w", err)
	}
	if len(at) == 0 {
		return nil, nil
	}
	return &at[0], nil
}
