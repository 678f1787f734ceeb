// Package testdb gives each test its own PostgreSQL database, cloned from a
// template that is migrated once per schema hash (pgtestdb: the template is
// built under an advisory lock, so parallel test binaries share it).
//
// The server comes from TEST_DATABASE_URL, else
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable. DATABASE_URL
// is deliberately not used: tests create a role and databases, and must not
// do that on whatever server the application points at.
package testdb

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // database/sql driver "postgres"
	"github.com/peterldowns/pgtestdb"

	"github.com/signalops/signalops/db"
	"github.com/signalops/signalops/platform/pg"
)

const defaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL is the admin URL of the test server.
func ServerURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return defaultURL
}

var (
	reachOnce sync.Once
	reachErr  error
)

// requireServer fails the test with one line when no server answers.
func requireServer(t testing.TB) {
	t.Helper()
	reachOnce.Do(func() {
		d, err := sql.Open("postgres", ServerURL())
		if err != nil {
			reachErr = err
			return
		}
		defer d.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		reachErr = d.PingContext(ctx)
	})
	if reachErr != nil {
		t.Fatalf("testdb: no PostgreSQL at %s (%v); start one (Debian: pg_ctlcluster 15 main start) or set TEST_DATABASE_URL",
			redact(ServerURL()), reachErr)
	}
}

func config(t testing.TB) pgtestdb.Config {
	t.Helper()
	u, err := url.Parse(ServerURL())
	if err != nil {
		t.Fatalf("testdb: TEST_DATABASE_URL: %v", err)
	}
	pw, _ := u.User.Password()
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	opts := u.Query()
	if opts.Get("sslmode") == "" {
		opts.Set("sslmode", "disable")
	}
	return pgtestdb.Config{
		DriverName: "postgres",
		Host:       u.Hostname(),
		Port:       port,
		User:       u.User.Username(),
		Password:   pw,
		Database:   strings.TrimPrefix(u.Path, "/"),
		Options:    opts.Encode(),
		// Tests that kill backends or leave River connections behind still clean up.
		ForceTerminateConnections: true,
	}
}

// New returns a pool on a fresh, fully migrated database of its own.
func New(t testing.TB) *sqlx.DB {
	t.Helper()
	pool, _ := NewWithURL(t)
	return pool
}

// NewWithURL is New plus the database's URL, for clients that open their own
// connections (River's pgx listener, the binary in end-to-end tests).
func NewWithURL(t testing.TB) (*sqlx.DB, string) {
	t.Helper()
	requireServer(t)
	conf := pgtestdb.Custom(t, config(t), migrator{})
	// pg.Open: the same connection settings as the binary.
	pool, err := pg.Open(context.Background(), conf.URL(), pg.PoolConfig{MaxOpenConns: 20, MaxIdleConns: 20, StatementCache: pg.DefaultStatementCache})
	if err != nil {
		t.Fatalf("testdb: open: %v", err)
	}
	t.Cleanup(func() { _ = pool.Close() })
	return pool, conf.URL()
}

// Empty returns the URL of a fresh database with no schema at all, dropped
// when the test ends (migration tests start from nothing).
func Empty(t testing.TB) string {
	t.Helper()
	requireServer(t)
	conf := pgtestdb.Custom(t, config(t), pgtestdb.NoopMigrator{})
	return conf.URL()
}

// migrator builds the template with the real migrations.
type migrator struct{}

func (migrator) Hash() (string, error) { return db.Hash() }

func (migrator) Migrate(ctx context.Context, d *sql.DB, _ pgtestdb.Config) error {
	if err := db.Up(ctx, d, slog.New(slog.DiscardHandler)); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}
