package queue

import (
	"context"
	"database/sql"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"

	"github.com/signalops/signalops/platform/pg"
)

// insertDriver is riverdatabasesql's River driver except for one statement: the
// bulk insert of a transaction (InsertManyFastTx, ingestion's event.process
// jobs) runs prepared, with its arrays written by pg's array parameters.
//
// riverdatabasesql sends it as an unnamed statement with pq.Array
// parameters: lib/pq then needs two round trips (parse, then bind and
// execute), PostgreSQL plans it on every run, and pq.Array reflects on
// every element. In serve's ingestion profile that statement was the
// largest single cost of a group commit (docs/performance.md, "serve's CPU
// per event"). The rows are River's own: the statement is
// riverdatabasesql's JobInsertFastManyNoReturning (v0.51.2), but for the
// times it leaves to the database (TestFastInsert compares the rows with
// River's). Every other call, and this one with a custom schema, goes to
// riverdatabasesql.
type insertDriver struct {
	*riverdatabasesql.Driver
	insert *preparedInsert
}

func newDriver(inner *riverdatabasesql.Driver, db *sql.DB) *insertDriver {
	return &insertDriver{Driver: inner, insert: &preparedInsert{db: db}}
}

// UnwrapExecutor implements riverdriver.Driver.
func (d *insertDriver) UnwrapExecutor(tx *sql.Tx) riverdriver.ExecutorTx {
	return &executorTx{ExecutorTx: d.Driver.UnwrapExecutor(tx), tx: tx, insert: d.insert}
}

// UnwrapTx implements riverdriver.Driver.
func (d *insertDriver) UnwrapTx(execTx riverdriver.ExecutorTx) *sql.Tx {
	if e, ok := execTx.(*executorTx); ok {
		return e.tx
	}
	return d.Driver.UnwrapTx(execTx)
}

type executorTx struct {
	riverdriver.ExecutorTx
	tx     *sql.Tx
	insert *preparedInsert
}

// JobInsertFastManyNoReturning implements riverdriver.Executor.
func (e *executorTx) JobInsertFastManyNoReturning(ctx context.Context, params *riverdriver.JobInsertFastManyParams) (int, error) {
	stmt := e.insert.stmt(ctx)
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

// preparedInsert is insertFastMany prepared on the pool once; database/sql
// prepares it again on each connection a transaction first runs it on.
type preparedInsert struct {
	db *sql.DB
	mu sync.Mutex
	st *sql.Stmt
}

// stmt returns the prepared statement, or nil when it cannot be prepared
// now (the database is down: River's own path then reports the error).
func (p *preparedInsert) stmt(ctx context.Context) *sql.Stmt {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.st == nil {
		st, err := p.db.PrepareContext(ctx, insertFastMany)
		if err != nil {
			return nil
		}
		p.st = st
	}
	return p.st
}
