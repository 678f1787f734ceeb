package pg

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/lib/pq"
)

// DefaultStatementCache is how many statements each connection keeps
// prepared (PoolConfig.StatementCache, DB_STATEMENT_CACHE).
const DefaultStatementCache = 256

// lib/pq sends every query with parameters as an unnamed statement: a
// Parse and Describe, a round trip, then Bind and Execute. PostgreSQL
// parses, analyses and plans it on every run. For the hot path's
// statements that planning costs more than running them: at 50 events/s
// end to end, pg_stat_statements showed 1.4 ms of planning per event
// against 2.2 ms of execution, River's fetch and inserts the largest part
// (docs/performance.md). So each connection keeps its statements
// prepared, by query text: the first run prepares a named statement, and
// every later run on that connection is one Bind/Execute round trip,
// parsed once, and planned with a generic plan once PostgreSQL finds one
// as good as the custom plans of the first five runs (plan_cache_mode).
//
// This covers every statement the process sends with parameters —
// River's and the modules' alike — without changing a query.
// Queries without parameters keep lib/pq's simple protocol (they may hold
// several statements: migrations). A connection keeps at most size
// statements, the least recently used closed first. A statement whose
// result type a schema change altered ("cached plan must not change
// result type") fails that once and is dropped, so the next run prepares
// it again. A connection pooler in transaction mode cannot keep named
// statements: DB_STATEMENT_CACHE=0 turns this off.
type cachingConn struct {
	pqConn
	size  int
	order *list.List // of *cachedStmt, most recently used first
	stmts map[string]*list.Element
}

// pqConn is what database/sql uses of a lib/pq connection; cachingConn
// must offer the same, or database/sql would take slower paths.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.NamedValueChecker
	driver.SessionResetter
	driver.Validator
	driver.Pinger
}

// preparedStmt is what lib/pq's prepared statements offer.
type preparedStmt interface {
	driver.Stmt
	driver.StmtQueryContext
	driver.StmtExecContext
}

type cachedStmt struct {
	query string
	stmt  preparedStmt
}

// withStatementCache wraps c when it is a lib/pq connection and size > 0.
func withStatementCache(c driver.Conn, size int) driver.Conn {
	pc, ok := c.(pqConn)
	if !ok || size <= 0 {
		return c
	}
	return &cachingConn{pqConn: pc, size: size, order: list.New(), stmts: make(map[string]*list.Element)}
}

// QueryContext runs query as this connection's prepared statement.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	if len(args) == 0 {
		return c.pqConn.QueryContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, args)
	c.dropIfStale(query, err)
	return rows, err
}

// ExecContext runs query as this connection's prepared statement.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if len(args) == 0 {
		return c.pqConn.ExecContext(ctx, query, args)
	}
	st, err := c.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	res, err := st.ExecContext(ctx, args)
	c.dropIfStale(query, err)
	return res, err
}

// prepared is query's statement on this connection, prepared now if it
// is not yet, closing the least recently used one beyond size.
func (c *cachingConn) prepared(ctx context.Context, query string) (preparedStmt, error) {
	if el, ok := c.stmts[query]; ok {
		c.order.MoveToFront(el)
		return el.Value.(*cachedStmt).stmt, nil
	}
	s, err := c.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	st, ok := s.(preparedStmt)
	if !ok { // not lib/pq's: run it once, unkept
		_ = s.Close()
		return nil, driver.ErrSkip
	}
	for c.order.Len() >= c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		old := oldest.Value.(*cachedStmt)
		delete(c.stmts, old.query)
		if err := old.stmt.Close(); err != nil {
			_ = st.Close()
			return nil, err
		}
	}
	c.stmts[query] = c.order.PushFront(&cachedStmt{query: query, stmt: st})
	return st, nil
}

// dropIfStale forgets query's statement when PostgreSQL refused to run it
// because a schema change altered its result type.
func (c *cachingConn) dropIfStale(query string, err error) {
	var pqErr *pq.Error
	if err == nil || !errors.As(err, &pqErr) || pqErr.Code != "0A000" ||
		!strings.Contains(pqErr.Message, "cached plan must not change result type") {
		return
	}
	if el, ok := c.stmts[query]; ok {
		c.order.Remove(el)
		delete(c.stmts, query)
		_ = el.Value.(*cachedStmt).stmt.Close() // in a failed transaction this fails; the session frees it on close
	}
}
