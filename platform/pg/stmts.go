package pg

import (
	"context"
	"database/sql"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Stmts runs the hot path's queries as prepared statements. lib/pq sends
// every other query as an unnamed statement, which PostgreSQL parses and
// plans on every run; a statement prepared on a connection is parsed once
// and, after five runs, may use a generic plan. For a join of several
// tables or an UPDATE over a partitioned table that planning costs more
// than the execution (docs/performance.md).
//
// Each query is prepared once on the pool (database/sql then prepares it
// on every connection that runs it, and keeps it there). A transaction
// passed in must be one of that pool (database/sql refuses others). A nil
// *Stmts, another pool (a read replica) or a failed prepare runs the query
// unprepared: the result is the same.
type Stmts struct {
	db *sqlx.DB
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// NewStmts returns an empty cache over db.
func NewStmts(db *sqlx.DB) *Stmts {
	return &Stmts{db: db, m: map[string]*sqlx.Stmt{}}
}

func (s *Stmts) stmt(ctx context.Context, q Querier, query string) *sqlx.Stmt {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	st, ok := s.m[query]
	s.mu.Unlock()
	if !ok {
		var err error
		if st, err = s.db.PreparexContext(ctx, query); err != nil {
			return nil // e.g. the database is down: the plain path reports it
		}
		s.mu.Lock()
		if prior, raced := s.m[query]; raced {
			_ = st.Close() //nolint:sqlclosecheck // the loser of a race to prepare; the cache keeps the winner until Close
			st = prior
		} else {
			s.m[query] = st
		}
		s.mu.Unlock()
	}
	switch q := q.(type) {
	case *sqlx.Tx:
		return q.StmtxContext(ctx, st) // closed with the transaction
	case *sqlx.DB:
		if q == s.db {
			return st
		}
	}
	return nil
}

// Select is sqlx.SelectContext(ctx, q, dest, query, args...), prepared.
func (s *Stmts) Select(ctx context.Context, q Querier, dest any, query string, args ...any) error {
	if st := s.stmt(ctx, q, query); st != nil { //nolint:sqlclosecheck // cached for the pool's life (Close), or closed with its transaction
		return st.SelectContext(ctx, dest, args...)
	}
	return sqlx.SelectContext(ctx, q, dest, query, args...)
}

// Exec is q.ExecContext(ctx, query, args...), prepared.
func (s *Stmts) Exec(ctx context.Context, q Querier, query string, args ...any) (sql.Result, error) {
	if st := s.stmt(ctx, q, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.ExecContext(ctx, query, args...)
}

// Close closes every prepared statement.
func (s *Stmts) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, st := range s.m {
		_ = st.Close()
		delete(s.m, k)
	}
	return nil
}
