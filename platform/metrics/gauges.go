package metrics

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// GaugeQuery is one gauge family read from the database. Query returns rows
// of (label value text, value float8).
type GaugeQuery struct {
	Name  string
	Help  string
	Label string
	Query string
	// Zero lists label values reported as 0 when the query returns no row for
	// them, so that "nothing in the DLQ" is a 0 rather than a missing series.
	Zero []string
}

// RiverGauges are the queue gauges read from River's river_job table: depth
// by kind, age of the oldest available job by queue, and discarded jobs (the
// DLQ) by kind. kinds and queues are reported as 0 when they have no job.
// Each query is served by River's (state, queue, priority, scheduled_at, id)
// index or its (state, finalized_at) one. A job waits from the later of its
// insert (created_at) and its due time (scheduled_at): fair ordering
// (queue.Fair) stores fresh jobs with scheduled_at before their insert, and
// a retried or snoozed job is due after it. That age reads every available
// row (of the index), once per scrape interval at most.
func RiverGauges(kinds, queues []string) []GaugeQuery {
	return []GaugeQuery{
		{
			Name:  "signalops_queue_depth",
			Help:  "River jobs waiting to run (available, retryable or scheduled), by kind.",
			Label: "kind",
			Query: `
				SELECT kind, count(*)::float8
				FROM river_job
				WHERE state IN ('available', 'retryable', 'scheduled')
				GROUP BY kind`,
			Zero: kinds,
		},
		{
			Name:  "signalops_queue_oldest_available_seconds",
			Help:  "Age of the oldest available (runnable, not yet picked up) River job, by queue; 0 when none waits.",
			Label: "queue",
			Query: `
				SELECT queue, greatest(extract(epoch FROM now() - min(greatest(scheduled_at, created_at))), 0)::float8
				FROM river_job
				WHERE state = 'available'
				GROUP BY queue`,
			Zero: queues,
		},
		{
			Name:  "signalops_dlq_size",
			Help:  "Dead River jobs (the dead-letter queue: discarded and cancelled), by kind.",
			Label: "kind",
			Query: `
				SELECT kind, count(*)::float8
				FROM river_job
				WHERE state IN ('discarded', 'cancelled')
				GROUP BY kind`,
			Zero: kinds,
		},
	}
}

// DBGauges is a prometheus.Collector whose values come from SQL queries run
// at scrape time, at most once per maxAge however many scrapers ask. A family
// whose query fails is left out of that scrape (and the error logged): a
// stale or zero value would look healthy.
type DBGauges struct {
	db      *sql.DB
	maxAge  time.Duration
	timeout time.Duration
	logger  *slog.Logger
	queries []GaugeQuery
	descs   []*prometheus.Desc

	mu        sync.Mutex
	sampledAt time.Time
	values    []map[string]float64 // per query; nil when its last run failed
}

// NewDBGauges returns the collector; register it with Registry.MustRegister,
// whose Handler samples it with the scrape's context.
func NewDBGauges(db *sql.DB, maxAge time.Duration, logger *slog.Logger, queries ...GaugeQuery) *DBGauges {
	g := &DBGauges{db: db, maxAge: maxAge, timeout: 3 * time.Second, logger: logger, queries: queries,
		values: make([]map[string]float64, len(queries))}
	for _, q := range queries {
		g.descs = append(g.descs, prometheus.NewDesc(q.Name, q.Help, []string{q.Label}, nil))
	}
	return g
}

// Describe implements prometheus.Collector.
func (g *DBGauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range g.descs {
		ch <- d
	}
}

// Collect implements prometheus.Collector with the last sample.
func (g *DBGauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, vals := range g.values {
		for label, v := range vals {
			ch <- prometheus.MustNewConstMetric(g.descs[i], prometheus.GaugeValue, v, label)
		}
	}
}

// Sample runs the queries unless the last sample is younger than maxAge.
// Concurrent scrapes wait for one sample rather than each running the
// queries.
func (g *DBGauges) Sample(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.sampledAt.IsZero() && time.Since(g.sampledAt) < g.maxAge {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	for i, q := range g.queries {
		vals, err := g.query(ctx, q)
		if err != nil {
			g.logger.WarnContext(ctx, "sample gauge", slog.String("metric", q.Name), slog.Any("error", err))
		}
		g.values[i] = vals
	}
	g.sampledAt = time.Now()
}

func (g *DBGauges) query(ctx context.Context, q GaugeQuery) (map[string]float64, error) {
	rows, err := g.db.QueryContext(ctx, q.Query)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	defer rows.Close()
	vals := make(map[string]float64, len(q.Zero))
	for _, z := range q.Zero {
		vals[z] = 0
	}
	for rows.Next() {
		var label string
		var v float64
		if err := rows.Scan(&label, &v); err != nil {
			return nil, fmt.Errorf("scan %s: %w", q.Name, err)
		}
		vals[label] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", q.Name, err)
	}
	return vals, nil
}
