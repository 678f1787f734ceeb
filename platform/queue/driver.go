package queue

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/signalops/signalops/platform/pg"
)

// driver is riverdatabasesql's River driver except for two statements a
// transaction runs on the hot path of ingestion, which it runs prepared:
//
//   - the bulk insert of InsertManyFastTx (the event.process jobs of every
//     group commit and batch), its arrays written by pg's array parameters;
//   - the insert notification River sends in the same transaction (at most
//     every FetchCooldown per queue).
//
// riverdatabasesql sends both with pq.Array parameters, which reflect on
// every element, and every time and empty value in full; without the
// pool's statement cache (DB_STATEMENT_CACHE=0, platform/pg) also as
// unnamed statements: two round trips each (parse, then bind and
// execute), planned on every run. In serve's ingestion profile the bulk
// insert was the largest single cost of a group commit (docs/performance.md,
// "serve's CPU per event"). The rows and notifications are River's own:
// the statements are riverdatabasesql's JobInsertFastManyNoReturning and
// PGNotifyMany (v0.51.2), but for the times the insert leaves to the
// database (TestFastInsert and TestNotify compare them with River's).
// Every other call, and these with a custom schema, go to riverdatabasesql.
type driver struct {
	*riverdatabasesql.Driver
	stmts *prepared
}

func newDriver(inner *riverdatabasesql.Driver, db *sql.DB) *driver {
	return &driver{Driver: inner, stmts: &prepared{db: db}}
}

// UnwrapExecutor implements riverdriver.Driver.
func (d *driver) UnwrapExecutor(tx *sql.Tx) riverdriver.ExecutorTx {
	return &executorTx{ExecutorTx: d.Driver.UnwrapExecutor(tx), tx: tx, stmts: d.stmts}
}

// UnwrapTx implements riverdriver.Driver.
func (d *driver) UnwrapTx(execTx riverdriver.ExecutorTx) *sql.Tx {
	if e, ok := execTx.(*executorTx); ok {
		return e.tx
	}
	return d.Driver.UnwrapTx(execTx)
}

type executorTx struct {
	riverdriver.ExecutorTx
	tx    *sql.Tx
	stmts *prepared
}

// JobInsertFastManyNoReturning implements riverdriver.Executor.
func (e *executorTx) JobInsertFastManyNoReturning(ctx context.Context, params *riverdriver.JobInsertFastManyParams) (int, error) {
	stmt := e.stmts.insert(ctx)
	if stmt == nil || params.Schema != "" {
		return e.ExecutorTx.JobInsertFastManyNoReturning(ctx, params)
	}
	n := len(params.Jobs)
	var (
		args, metadata                  = make(pg.Texts[[]byte], n), make(pg.Texts[[]byte], n)
		createdAt, scheduledAt          = make(pg.Times, n), make(pg.Times, n)
		kinds, queues, states, tags     = make(pg.Texts[string], n), make(pg.Texts[string], n), make(pg.Texts[string], n), make(pg.Texts[string], n)
		maxAttempts, priorities, unique = make(pg.Ints, n), make(pg.Ints, n), make(pg.Ints, n)
		uniqueKeys                      = make(pq.ByteaArray, n)
	)
	for i, j := range params.Jobs {
		// As riverdatabasesql's JobInsertFastManyNoReturning fills its
		// arrays, except that a time left to the driver is NULL (not sent):
		// the statement puts its now there.
		args[i] = orEmptyObject(j.EncodedArgs)
		if j.CreatedAt != nil {
			createdAt[i] = *j.CreatedAt
		}
		kinds[i] = j.Kind
		maxAttempts[i] = min(j.MaxAttempts, math.MaxInt16)
		metadata[i] = orEmptyObject(j.Metadata)
		priorities[i] = min(j.Priority, math.MaxInt16)
		queues[i] = j.Queue
		if j.ScheduledAt != nil {
			scheduledAt[i] = *j.ScheduledAt
		}
		states[i] = string(j.State)
		tags[i] = strings.Join(j.Tags, ",")
		uniqueKeys[i] = j.UniqueKey
		unique[i] = int(j.UniqueStates)
	}
	txStmt := e.tx.StmtContext(ctx, stmt)
	defer txStmt.Close()
	res, err := txStmt.ExecContext(ctx, args, createdAt, kinds, maxAttempts, metadata, priorities, queues,
		scheduledAt, states, tags, uniqueKeys, unique, time.Now().UTC())
	if err != nil {
		return 0, err
	}
	inserted, err := res.RowsAffected()
	return int(inserted), err
}

// orEmptyObject is doc, or {} when it is empty (River's cmp.Or(string(doc), "{}")).
func orEmptyObject(doc []byte) []byte {
	if len(doc) == 0 {
		return []byte("{}")
	}
	return doc
}

// insertFastMany is riverdatabasesql's JobInsertFastManyNoReturning in the
// default schema, but for its times: a NULL created_at or scheduled_at is
// the driver's now ($13), as riverdatabasesql fills them in.
const insertFastMany = `-- name: JobInsertFastManyNoReturning :execrows
INSERT INTO river_job(
    args,
    created_at,
    kind,
    max_attempts,
    metadata,
    priority,
    queue,
    scheduled_at,
    state,
    tags,
    unique_key,
    unique_states
) SELECT
    args,
    coalesce(created_at, $13),
    kind,
    max_attempts,
    metadata,
    priority,
    queue,
    coalesce(scheduled_at, $13),
    state,
    string_to_array(tags, ','),
    nullif(unique_key, ''),
    nullif(unique_states, 0)::bit(8)
FROM unnest($1::jsonb[], $2::timestamptz[], $3::text[], $4::smallint[], $5::jsonb[], $6::smallint[], $7::text[],
    $8::timestamptz[], $9::river_job_state[], $10::text[], $11::bytea[], $12::integer[])
    AS j(args, created_at, kind, max_attempts, metadata, priority, queue, scheduled_at, state, tags, unique_key, unique_states)
ON CONFLICT (unique_key)
    WHERE unique_key IS NOT NULL
        AND unique_states IS NOT NULL
        AND river_job_state_in_bitmask(unique_states, state)
DO NOTHING`

// NotifyMany implements riverdriver.Executor.
func (e *executorTx) NotifyMany(ctx context.Context, params *riverdriver.NotifyManyParams) error {
	if params.Schema != "" {
		return e.ExecutorTx.NotifyMany(ctx, params)
	}
	stmt := e.stmts.notify(ctx, e.tx)
	if stmt == nil {
		return e.ExecutorTx.NotifyMany(ctx, params)
	}
	txStmt := e.tx.StmtContext(ctx, stmt)
	defer txStmt.Close()
	_, err := txStmt.ExecContext(ctx, params.Topic, pg.Texts[string](params.Payload))
	return err
}

// notifyMany is riverdatabasesql's PGNotifyMany in the default schema.
const notifyMany = `-- name: PGNotifyMany :exec
WITH topic_to_notify AS (
    SELECT
        concat(current_schema(), '.', $1::text) AS topic,
        unnest($2::text[]) AS payload
)
SELECT pg_notify(
    topic_to_notify.topic,
    topic_to_notify.payload
  )
FROM topic_to_notify`

// prepared holds the driver's statements, each prepared on the pool once;
// database/sql prepares it again on each connection a transaction first
// runs it on. Nothing here holds a lock while it talks to the database:
// the caller holds a connection already, and may hold the pool's last.
type prepared struct {
	db         *sql.DB
	insertStmt atomic.Pointer[sql.Stmt]
	notifyStmt atomic.Pointer[sql.Stmt]
	noNotify   atomic.Bool // the server has no LISTEN/NOTIFY
}

// insert returns the prepared job insert, or nil when it cannot be prepared
// now (the database is down: River's own path then reports the error).
func (p *prepared) insert(ctx context.Context) *sql.Stmt {
	return p.stmt(ctx, &p.insertStmt, insertFastMany)
}

// notify returns the prepared notification, or nil when it cannot be
// prepared now or the server has no LISTEN/NOTIFY (River's own path then
// sends nothing: riverdatabasesql decides from the same capabilities,
// which the first call reads in the caller's transaction).
func (p *prepared) notify(ctx context.Context, tx *sql.Tx) *sql.Stmt {
	if st := p.notifyStmt.Load(); st != nil || p.noNotify.Load() {
		return st
	}
	var product string
	var version int32
	var ybNotify bool
	err := tx.QueryRowContext(ctx, `SELECT version()::text, current_setting('server_version_num')::int,
		coalesce(current_setting('yb_enable_listen_notify', true), 'off')::boolean`).Scan(&product, &version, &ybNotify)
	if err != nil {
		return nil
	}
	if !riverdriver.NewPostgresCapabilities(product, version, ybNotify).SupportsListenNotify {
		p.noNotify.Store(true)
		return nil
	}
	return p.stmt(ctx, &p.notifyStmt, notifyMany)
}

func (p *prepared) stmt(ctx context.Context, slot *atomic.Pointer[sql.Stmt], query string) *sql.Stmt {
	if st := slot.Load(); st != nil {
		return st
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if !slot.CompareAndSwap(nil, st) {
		_ = st.Close() //nolint:sqlclosecheck // the loser of a race to prepare; the winner stays for the pool's life
	}
	return slot.Load()
}
