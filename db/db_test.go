package db_test

import (
	"database/sql"
	"log/slog"
	"sync"
	"testing"

	_ "github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/db"
	"github.com/signalops/signalops/platform/testdb"
)

func open(t *testing.T) *sql.DB {
	t.Helper()
	d, err := sql.Open("postgres", testdb.Empty(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func TestMigrations(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.DiscardHandler)

	t.Run("ConcurrentUpOnEmptyDatabase", func(t *testing.T) {
		t.Parallel()
		d := open(t)

		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = db.Up(t.Context(), d, logger)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			require.NoError(t, err)
		}
		st, err := db.Version(t.Context(), d, logger)
		require.NoError(t, err)
		require.True(t, st.Current(), st.String())
	})

	t.Run("UpIsIdempotentAndDownReverses", func(t *testing.T) {
		t.Parallel()
		d := open(t)

		st, err := db.Version(t.Context(), d, logger)
		require.NoError(t, err)
		require.False(t, st.Current())
		require.Zero(t, st.AppVersion)

		require.NoError(t, db.Up(t.Context(), d, logger))
		require.NoError(t, db.Up(t.Context(), d, logger))
		st, err = db.Version(t.Context(), d, logger)
		require.NoError(t, err)
		require.True(t, st.Current(), st.String())

		require.NoError(t, db.Down(t.Context(), d, logger, 1, false))
		st, err = db.Version(t.Context(), d, logger)
		require.NoError(t, err)
		require.Equal(t, st.AppLatest-1, st.AppVersion)
		require.False(t, st.Current())

		require.NoError(t, db.Down(t.Context(), d, logger, 0, true))
		var tables int
		require.NoError(t, d.QueryRow(`SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'schema_migrations'`).Scan(&tables))
		require.Zero(t, tables, "down --all removes app and River tables")

		require.NoError(t, db.Up(t.Context(), d, logger))
		st, err = db.Version(t.Context(), d, logger)
		require.NoError(t, err)
		require.True(t, st.Current(), st.String())
	})
}
