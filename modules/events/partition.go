package events

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/pg"
)

// Storage of events (docs/storage.md). events is partitioned by LIST
// (retention_days), one branch per plan retention ("class"), and each
// branch by RANGE (id): UUIDv7 ids start with their millisecond, so a range
// of ids is a range of receive times. A partition [lo, hi) of class R is
// dropped whole once hi + R days has passed; matches, deliveries and
// idempotency keys of its events are deleted with it.

const (
	day = 24 * time.Hour
	// partitionAhead: partitions exist at least this far ahead of now.
	partitionAhead = 28 * day
	// expireBatch is the most rows one DELETE of expired rows removes.
	expireBatch = 5000
	// maintainDeleteBudget bounds the row deletions of one Maintain run;
	// what is left waits for the next run.
	maintainDeleteBudget = 15 * time.Second
)

// Advisory lock keys: ddlLockKey serialises the creation of partitions
// (here and in migration 0006); maintainLockKey lets one Maintain run at a
// time.
const (
	ddlLockKey      int64 = 0x53474e4c50415254 // "SGNLPART"
	maintainLockKey int64 = 0x53474e4c4d4e544e // "SGNLMNTN"
)

// partitionEpoch aligns every partition bound: a Monday, 00:00 UTC.
var partitionEpoch = time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC)

// partitionSpan is the width of the partitions of a retention class: a
// sixth of the retention or so, from 1 to 4 weeks (30 days: 1 week, 90: 2,
// 365: 4). Wider partitions mean fewer of them for a query to plan; data
// is kept at most one span longer than its retention. It is fixed per
// class: changing it needs a migration of the existing partitions.
func partitionSpan(days int) time.Duration {
	return time.Duration(max(1, min(4, days/42))) * 7 * day
}

// partitionStart is the start of the partition of a class with span that
// holds t.
func partitionStart(t time.Time, span time.Duration) time.Time {
	return partitionEpoch.Add(t.Sub(partitionEpoch) / span * span)
}

// expiryCutoff is the first id class days still keeps at now: every
// partition below it has been dropped (or is due).
func expiryCutoff(days int, now time.Time) uuid.UUID {
	return pg.UUIDv7Floor(partitionStart(now.Add(-time.Duration(days)*day), partitionSpan(days)))
}

func className(days int) string { return "events_r" + strconv.Itoa(days) }

func leafName(days int, start time.Time) string {
	return className(days) + "_p" + start.UTC().Format("20060102")
}

var partitionNameRE = regexp.MustCompile(`^events_r([0-9]+)(?:_p([0-9]{8}))?$`)

// partitionTable is a table of the events hierarchy as the catalog shows it.
type partitionTable struct {
	Name          string `db:"name"`
	Parent        string `db:"parent"` // "" when not attached
	DetachPending bool   `db:"detach_pending"`
	class         int
	start         time.Time // zero for a class branch
}

func (t partitionTable) isLeaf() bool { return !t.start.IsZero() }

// missingPartition is a table EnsurePartitions creates or attaches.
type missingPartition struct {
	name, parent string
	class        int
	lo, hi       time.Time // zero for a class branch
	exists       bool      // created but not attached (a run stopped between the two)
}

// ExpireFunc deletes another module's rows of events with the given
// retention whose ids are below before, in bounded batches, and returns
// how many it deleted. cmd registers rules' matches and notify's
// deliveries with Module.AddExpiry.
type ExpireFunc func(ctx context.Context, retentionDays int, before uuid.UUID) (int64, error)

// Maintenance is what one Maintain run did.
type Maintenance struct {
	Skipped bool     // another run held the lock
	Created []string // tables created or attached
	Dropped []string // partitions dropped
	Deleted int64    // rows deleted: idempotency keys, and the hooks' rows
	More    bool     // the deletion budget ran out; the next run goes on
}

// classes is every retention class events can be stored with: the plans'
// or, without billing, the one events get then (retentionOf).
func (s *Service) classes() []int {
	if s.billing != nil {
		return s.billing.RetentionClasses()
	}
	return []int{retentionOf(billing.Quota{})}
}

// EnsurePartitions creates what inserts from now until partitionAhead later
// need: every retention class's branch and its partitions. When they all
// exist it only reads the catalog. Safe to call concurrently from any
// process: creation happens under an advisory lock, after a second look.
func (s *Service) EnsurePartitions(ctx context.Context, now time.Time) ([]string, error) {
	tables, err := s.repo.PartitionTables(ctx, s.db)
	if err != nil {
		return nil, err
	}
	if len(missingPartitions(tables, s.classes(), now)) == 0 {
		return nil, nil
	}
	var created []string
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		created = nil
		if err := s.repo.LockDDL(ctx, tx); err != nil {
			return err
		}
		tables, err := s.repo.PartitionTables(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range missingPartitions(tables, s.classes(), now) {
			if err := s.repo.CreatePartition(ctx, tx, m); err != nil {
				return err
			}
			created = append(created, m.name)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(created) > 0 {
		s.logger.InfoContext(ctx, "events partitions created", slog.Any("tables", created))
	}
	return created, nil
}

// missingPartitions lists, in creation order, the branches and partitions
// that do not exist (or are not attached) for now .. now+partitionAhead.
func missingPartitions(tables []partitionTable, classes []int, now time.Time) []missingPartition {
	have := map[string]partitionTable{}
	for _, t := range tables {
		have[t.Name] = t
	}
	var out []missingPartition
	for _, class := range allClasses(tables, classes) {
		name := className(class)
		if t, ok := have[name]; !ok || t.Parent == "" {
			out = append(out, missingPartition{name: name, parent: "events", class: class, exists: ok})
		}
		span := partitionSpan(class)
		for lo := partitionStart(now, span); !lo.After(now.Add(partitionAhead)); lo = lo.Add(span) {
			leaf := leafName(class, lo)
			if t, ok := have[leaf]; !ok || t.Parent == "" {
				out = append(out, missingPartition{name: leaf, parent: name, class: class, lo: lo, hi: lo.Add(span), exists: ok})
			}
		}
	}
	return out
}

// allClasses is classes plus every class that has a table, ascending.
func allClasses(tables []partitionTable, classes []int) []int {
	set := map[int]bool{}
	for _, c := range classes {
		set[c] = true
	}
	for _, t := range tables {
		set[t.class] = true
	}
	return slices.Sorted(maps.Keys(set))
}

// AddExpiry registers fns to delete other modules' rows of expired events.
// Call it before the first Maintain.
func (s *Service) AddExpiry(fns ...ExpireFunc) { s.expire = append(s.expire, fns...) }

// Maintain keeps the events table as of now: partitions partitionAhead
// ahead (EnsurePartitions); every partition whose events have all outlived
// their retention detached and dropped; then the idempotency keys of those
// events deleted, and the AddExpiry hooks run (rules' matches, notify's
// deliveries), each in batches, within maintainDeleteBudget. One run at a
// time: a concurrent call returns at once with Skipped set. Every step is
// idempotent, so an interrupted run is completed by the next one.
func (s *Service) Maintain(ctx context.Context, now time.Time) (rep Maintenance, err error) {
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return rep, fmt.Errorf("get connection: %w", err)
	}
	defer conn.Close()
	var locked bool
	if err := conn.GetContext(ctx, &locked, `SELECT pg_try_advisory_lock($1)`, maintainLockKey); err != nil {
		return rep, fmt.Errorf("take maintenance lock: %w", err)
	}
	if !locked {
		return Maintenance{Skipped: true}, nil
	}
	defer func() {
		// A fresh context: the lock must go even if ctx was canceled. A
		// connection that cannot say so is discarded, which releases it.
		cleanup := context.WithoutCancel(ctx)
		_, uerr := conn.ExecContext(cleanup, `RESET lock_timeout`)
		if uerr == nil {
			_, uerr = conn.ExecContext(cleanup, `SELECT pg_advisory_unlock($1)`, maintainLockKey)
		}
		if uerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()

	if rep.Created, err = s.EnsurePartitions(ctx, now); err != nil {
		return rep, err
	}
	if rep.Dropped, err = s.dropExpired(ctx, conn, now); err != nil {
		return rep, err
	}

	dctx, cancel := context.WithTimeout(ctx, maintainDeleteBudget)
	defer cancel()
	tables, err := s.repo.PartitionTables(ctx, conn)
	if err != nil {
		return rep, err
	}
	for _, class := range allClasses(tables, s.classes()) {
		before := expiryCutoff(class, now)
		n, err := s.repo.DeleteKeys(dctx, s.db, class, before)
		rep.Deleted += n
		for _, fn := range s.expire {
			if err != nil {
				break
			}
			n, err = fn(dctx, class, before)
			rep.Deleted += n
		}
		if err != nil && dctx.Err() != nil && ctx.Err() == nil {
			rep.More = true
			break
		}
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// dropExpired detaches (CONCURRENTLY: inserts and reads of the branch go
// on) and drops every partition whose end plus its class's retention is
// past now, and drops tables a stopped run left detached.
func (s *Service) dropExpired(ctx context.Context, conn *sqlx.Conn, now time.Time) ([]string, error) {
	if _, err := conn.ExecContext(ctx, `SET lock_timeout = '2s'`); err != nil {
		return nil, fmt.Errorf("set lock timeout: %w", err)
	}
	tables, err := s.repo.PartitionTables(ctx, conn)
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, t := range tables {
		if !t.isLeaf() || t.start.Add(partitionSpan(t.class)).After(now.Add(-time.Duration(t.class)*day)) {
			continue
		}
		if err := s.repo.DropPartition(ctx, conn, t); err != nil {
			return dropped, err
		}
		dropped = append(dropped, t.Name)
	}
	if len(dropped) > 0 {
		s.logger.InfoContext(ctx, "expired events partitions dropped", slog.Any("tables", dropped))
	}
	return dropped, nil
}

// isMissingPartition reports an insert into events for which no partition
// exists: SQLSTATE 23514 with no constraint ("no partition of relation …
// found for row"); a CHECK constraint's violation names its constraint.
func isMissingPartition(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "23514" && pqErr.Constraint == "" &&
		strings.HasPrefix(pqErr.Table, "events")
}

// inTx runs fn in a transaction, creating missing partitions as
// withPartitions does.
func (s *Service) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.withPartitions(ctx, func() error { return pg.InTx(ctx, s.db, fn) })
}

// withPartitions runs store, a transaction that inserts events. If an
// insert finds no partition for its row (the events.partitions job has not
// run for weeks, or a plan has a new retention), the partitions are created
// and store runs once more.
func (s *Service) withPartitions(ctx context.Context, store func() error) error {
	err := store()
	if !isMissingPartition(err) {
		return err
	}
	if _, perr := s.EnsurePartitions(ctx, time.Now()); perr != nil {
		return fmt.Errorf("%w; creating partitions: %w", err, perr)
	}
	s.logger.WarnContext(ctx, "an insert found no events partition and created it: is the events.partitions job running?")
	return store()
}

// PartitionTables reads the events hierarchy from the catalog: every table
// named like a class branch or a partition, attached or not.
func (repo) PartitionTables(ctx context.Context, q sqlx.QueryerContext) ([]partitionTable, error) {
	const query = `
		SELECT c.relname AS name, coalesce(p.relname, '') AS parent, coalesce(i.inhdetachpending, false) AS detach_pending
		FROM pg_class c
		LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
		LEFT JOIN pg_class p ON p.oid = i.inhparent
		WHERE c.relkind IN ('r', 'p') AND c.relname ~ '^events_r[0-9]+(_p[0-9]{8})?$' AND pg_table_is_visible(c.oid)
		ORDER BY c.relname`
	var out []partitionTable
	if err := sqlx.SelectContext(ctx, q, &out, query); err != nil {
		return nil, fmt.Errorf("read events partitions: %w", err)
	}
	for i := range out {
		m := partitionNameRE.FindStringSubmatch(out[i].Name)
		out[i].class, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			out[i].start, _ = time.Parse("20060102", m[2])
		}
	}
	return out, nil
}

// LockDDL makes the caller's transaction the only one creating partitions
// until it ends, and bounds its lock waits.
func (repo) LockDDL(ctx context.Context, tx *sqlx.Tx) error {
	if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
		return fmt.Errorf("set lock timeout: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, ddlLockKey); err != nil {
		return fmt.Errorf("take partition lock: %w", err)
	}
	return nil
}

// CreatePartition creates m as a plain table and attaches it. ATTACH takes
// a SHARE UPDATE EXCLUSIVE lock on the parent, which reads and inserts do
// not wait for; CREATE TABLE … PARTITION OF would take ACCESS EXCLUSIVE.
// The parent's indexes and foreign key are built on attach (the table is
// empty).
func (repo) CreatePartition(ctx context.Context, tx *sqlx.Tx, m missingPartition) error {
	name, parent := pq.QuoteIdentifier(m.name), pq.QuoteIdentifier(m.parent)
	var create, attach string
	if m.lo.IsZero() {
		create = `CREATE TABLE ` + name + ` (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (id)`
		attach = `ALTER TABLE events ATTACH PARTITION ` + name + ` FOR VALUES IN (` + strconv.Itoa(m.class) + `)`
	} else {
		create = `CREATE TABLE ` + name + ` (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`
		attach = `ALTER TABLE ` + parent + ` ATTACH PARTITION ` + name + ` FOR VALUES FROM (` +
			pq.QuoteLiteral(pg.UUIDv7Floor(m.lo).String()) + `) TO (` + pq.QuoteLiteral(pg.UUIDv7Floor(m.hi).String()) + `)`
	}
	if !m.exists {
		if _, err := tx.ExecContext(ctx, create); err != nil {
			return fmt.Errorf("create %s: %w", m.name, err)
		}
	}
	if _, err := tx.ExecContext(ctx, attach); err != nil {
		return fmt.Errorf("attach %s: %w", m.name, err)
	}
	return nil
}

// DropPartition detaches t concurrently (finishing a detach a stopped run
// began) and drops it. It runs outside any transaction, as DETACH …
// CONCURRENTLY must.
func (repo) DropPartition(ctx context.Context, conn *sqlx.Conn, t partitionTable) error {
	name, parent := pq.QuoteIdentifier(t.Name), pq.QuoteIdentifier(t.Parent)
	if t.Parent != "" {
		detach := `ALTER TABLE ` + parent + ` DETACH PARTITION ` + name + ` CONCURRENTLY`
		if t.DetachPending {
			detach = `ALTER TABLE ` + parent + ` DETACH PARTITION ` + name + ` FINALIZE`
		}
		if _, err := conn.ExecContext(ctx, detach); err != nil {
			return fmt.Errorf("detach %s: %w", t.Name, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `DROP TABLE IF EXISTS `+name); err != nil {
		return fmt.Errorf("drop %s: %w", t.Name, err)
	}
	return nil
}

// DeleteKeys deletes the idempotency keys of class's events below before.
func (repo) DeleteKeys(ctx context.Context, q pg.Querier, class int, before uuid.UUID) (int64, error) {
	const query = `
		DELETE FROM event_idempotency WHERE (tenant_id, idempotency_key) IN (
			SELECT tenant_id, idempotency_key FROM event_idempotency
			WHERE retention_days = $1 AND event_id < $2 LIMIT $3)`
	n, err := pg.DeleteBatches(ctx, q, expireBatch, query, class, before)
	if err != nil {
		return n, fmt.Errorf("delete expired idempotency keys: %w", err)
	}
	return n, nil
}
