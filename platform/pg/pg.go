// Package pg opens the PostgreSQL pool and owns the transaction helper. Every
// repository method takes a Querier, so the caller (a Service) decides whether
// it runs inside a transaction.
package pg

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Querier is satisfied by *sqlx.DB and *sqlx.Tx.
type Querier interface {
	sqlx.ExtContext
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

// PoolConfig sizes the connection pool.
type PoolConfig struct {
	MaxOpenConns    int
	MaxIdleConns    int
	ConnMaxLifetime time.Duration
	// StatementCache is how many prepared statements each connection
	// keeps (stmtcache.go); 0 sends every query unnamed, as lib/pq does.
	StatementCache int
}

// Open connects through lib/pq and checks the connection. dsn is a
// postgres:// URL, possibly naming several hosts (ConnString).
func Open(ctx context.Context, dsn string, cfg PoolConfig) (*sqlx.DB, error) {
	db, err := NewPool(dsn, cfg)
	if err != nil {
		return nil, err
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	return db, nil
}

// NewPool is Open without the check: the pool connects when first used (a
// read replica that is down must not keep the process from starting).
func NewPool(dsn string, cfg PoolConfig) (*sqlx.DB, error) {
	conn, err := ConnString(dsn)
	if err != nil {
		return nil, err
	}
	pqc, err := pq.NewConnector(conn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db := sqlx.NewDb(sql.OpenDB(connector{Connector: pqc, stmts: cfg.StatementCache}), "postgres")
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	db.SetMaxIdleConns(cfg.MaxIdleConns)
	db.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	return db, nil
}

// ConnectError is a failure to open a new connection: no server answered,
// or none of those named was acceptable (target_session_attrs=read-write
// while every one is a standby, as during a failover), or one refused the
// login. The database is unavailable for this request; it is never the
// request's fault.
type ConnectError struct{ Err error }

func (e *ConnectError) Error() string { return "connect: " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// connector marks lib/pq's connection failures as ConnectError: lib/pq
// reports an unacceptable server ("server is in hot standby mode") with a
// plain error that nothing else would tell from a bug. Its connections
// keep up to stmts prepared statements each.
type connector struct {
	driver.Connector
	stmts int
}

func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, &ConnectError{Err: err}
	}
	return withStatementCache(conn, c.stmts), nil
}

// InTx runs fn in a transaction: committed when fn returns nil, rolled back
// otherwise (also on panic). The transaction is passed explicitly; it is never
// put in a context.
func InTx(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) (err error) {
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err = fn(tx); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	return nil
}

// IsUniqueViolation reports a unique-constraint violation (SQLSTATE 23505),
// optionally on the named constraint.
func IsUniqueViolation(err error, constraint string) bool {
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) || pqErr.Code != "23505" {
		return false
	}
	return constraint == "" || pqErr.Constraint == constraint
}

// IsUnavailable reports whether err means the database could not be reached or
// dropped the connection: the request may succeed if retried later. Callers
// map it to 503, never 500.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var connErr *ConnectError
	if errors.As(err, &connErr) {
		return true
	}
	var pqErr *pq.Error
	if errors.As(err, &pqErr) {
		switch {
		case pqErr.Code.Class() == "08", // connection exception
			pqErr.Code.Class() == "53",                                          // insufficient resources (too many connections)
			pqErr.Code == "57P01", pqErr.Code == "57P02", pqErr.Code == "57P03": // admin/crash shutdown, cannot connect now
			return true
		}
		return false
	}
	var netErr net.Error
	var opErr *net.OpError
	return errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.As(err, &opErr) || errors.As(err, &netErr)
}

// GetOne scans the single row of query into dest, answering notFound when
// there is none; what names the row in other errors ("get event: …").
func GetOne(ctx context.Context, q Querier, dest any, notFound error, what, query string, args ...any) error {
	err := sqlx.GetContext(ctx, q, dest, query, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// ExecOne runs query, a statement meant to change one row (an UPDATE or
// DELETE by id), answering notFound when it changed none; what names the
// change in other errors ("delete rule: …").
func ExecOne(ctx context.Context, q Querier, notFound error, what, query string, args ...any) error {
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound
	}
	return nil
}

// NullUUID is id as a query argument, NULL for uuid.Nil (an absent cursor).
func NullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id
}

// DeleteBatches runs query, a DELETE of at most $n rows where $n is the
// last placeholder (batch is appended to args), until a run deletes fewer
// than batch rows or ctx ends. Each run is a transaction of its own, so no
// lock is held for long and vacuum can follow. It returns the rows deleted.
func DeleteBatches(ctx context.Context, q Querier, batch int, query string, args ...any) (int64, error) {
	args = append(args, batch)
	var total int64
	for {
		res, err := q.ExecContext(ctx, query, args...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
