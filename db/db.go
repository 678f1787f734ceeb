// Package db holds the SQL migrations of SignalOps, embedded in the binary,
// and applies them together with River's own schema.
//
// golang-migrate applies db/migrations (each file is one implicit
// transaction); River's schema is applied by rivermigrate. rivermigrate takes
// no lock of its own, so the whole run happens under one session-level
// advisory lock: two processes running `migrate up` at once serialise, and
// the second finds nothing to do.
package db

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database/postgres"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/lib/pq"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// lockKey is the advisory lock held for a whole migration run ("SGNLMGRT").
const lockKey int64 = 0x53474e4c4d475254

// Status is the schema state of a database.
type Status struct {
	AppVersion   uint // last applied app migration (0: none)
	AppDirty     bool // a migration failed half-way and needs attention
	AppLatest    uint // last migration embedded in this binary
	RiverVersion int  // last applied River migration (0: none)
	RiverLatest  int  // last River migration this binary knows
	RiverPending bool // River reports migrations not yet applied
}

// Current reports whether the database is fully migrated for this binary.
func (s Status) Current() bool {
	return !s.AppDirty && s.AppVersion == s.AppLatest && s.RiverVersion == s.RiverLatest && !s.RiverPending
}

func (s Status) String() string {
	return fmt.Sprintf("app %d/%d dirty=%t, river %d/%d", s.AppVersion, s.AppLatest, s.AppDirty, s.RiverVersion, s.RiverLatest)
}

// Up applies every pending app and River migration.
func Up(ctx context.Context, sqlDB *sql.DB, logger *slog.Logger) error {
	return withLock(ctx, sqlDB, func(conn *sql.Conn) error {
		m, err := newMigrate(ctx, conn)
		if err != nil {
			return err
		}
		if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("apply app migrations: %w", err)
		}
		rm, err := riverMigrator(sqlDB, logger)
		if err != nil {
			return err
		}
		if _, err := rm.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("apply river migrations: %w", err)
		}
		return nil
	})
}

// Down rolls back the last `steps` app migrations; all=true rolls back every
// app migration and River's schema as well.
func Down(ctx context.Context, sqlDB *sql.DB, logger *slog.Logger, steps int, all bool) error {
	return withLock(ctx, sqlDB, func(conn *sql.Conn) error {
		m, err := newMigrate(ctx, conn)
		if err != nil {
			return err
		}
		if all {
			err = m.Down()
		} else {
			err = m.Steps(-steps)
		}
		if err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return fmt.Errorf("roll back app migrations: %w", err)
		}
		if !all {
			return nil
		}
		rm, err := riverMigrator(sqlDB, logger)
		if err != nil {
			return err
		}
		if _, err := rm.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1}); err != nil {
			return fmt.Errorf("roll back river migrations: %w", err)
		}
		return nil
	})
}

// Version reports the schema state without changing it.
func Version(ctx context.Context, sqlDB *sql.DB, logger *slog.Logger) (Status, error) {
	var s Status
	latest, err := LatestVersion()
	if err != nil {
		return s, err
	}
	s.AppLatest = latest
	// Read schema_migrations directly: golang-migrate would create its table.
	const query = `SELECT version, dirty FROM schema_migrations LIMIT 1`
	var v int64
	switch err := sqlDB.QueryRowContext(ctx, query).Scan(&v, &s.AppDirty); {
	case err == nil:
		s.AppVersion = uint(v)
	case errors.Is(err, sql.ErrNoRows) || isUndefinedTable(err):
	default:
		return s, fmt.Errorf("read app schema version: %w", err)
	}
	rm, err := riverMigrator(sqlDB, logger)
	if err != nil {
		return s, err
	}
	all := rm.AllVersions()
	s.RiverLatest = all[len(all)-1].Version
	res, err := rm.Validate(ctx, nil)
	if err != nil {
		return s, fmt.Errorf("validate river schema: %w", err)
	}
	s.RiverPending = !res.OK
	existing, err := rm.ExistingVersions(ctx)
	if err != nil && !isUndefinedTable(err) {
		return s, fmt.Errorf("read river schema version: %w", err)
	}
	if len(existing) > 0 {
		s.RiverVersion = existing[len(existing)-1].Version
	}
	return s, nil
}

// LatestVersion is the number of the last app migration embedded in the binary.
func LatestVersion() (uint, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return 0, fmt.Errorf("read embedded migrations: %w", err)
	}
	var latest uint64
	for _, e := range entries {
		n, err := strconv.ParseUint(strings.SplitN(e.Name(), "_", 2)[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migration %q: name must start with its number", e.Name())
		}
		latest = max(latest, n)
	}
	return uint(latest), nil
}

// Hash identifies the schema this binary migrates to: the embedded files and
// River's migration count. Test templates are keyed by it.
func Hash() (string, error) {
	h := sha256.New()
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return "", err
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	rm, err := riverMigrator(nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return "", err
	}
	for _, v := range rm.AllVersions() {
		fmt.Fprintf(h, "river\x00%d\x00%s", v.Version, v.SQLUp)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func withLock(ctx context.Context, sqlDB *sql.DB, fn func(conn *sql.Conn) error) (err error) {
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("get connection: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the unlock must run even if ctx was canceled.
		if _, uerr := conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey); uerr != nil && err == nil {
			err = fmt.Errorf("release migration lock: %w", uerr)
		}
	}()
	return fn(conn)
}

// newMigrate builds golang-migrate over one dedicated connection (not the
// pool: m.Close would close a pool it was given).
func newMigrate(ctx context.Context, conn *sql.Conn) (*migrate.Migrate, error) {
	src, err := iofs.New(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	drv, err := postgres.WithConnection(ctx, conn, &postgres.Config{})
	if err != nil {
		return nil, fmt.Errorf("open migration driver: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "postgres", drv)
	if err != nil {
		return nil, fmt.Errorf("init migrations: %w", err)
	}
	return m, nil
}

func riverMigrator(sqlDB *sql.DB, logger *slog.Logger) (*rivermigrate.Migrator[*sql.Tx], error) {
	m, err := rivermigrate.New(riverdatabasesql.New(sqlDB), &rivermigrate.Config{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("init river migrator: %w", err)
	}
	return m, nil
}

func isUndefinedTable(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "42P01"
}
