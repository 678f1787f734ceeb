package db_test

import (
	"database/sql"
	"log/slog"
	"os"
	"strconv"
	"strings"
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

// previousMigration is the number of the migration file before latest:
// numbers need not be consecutive (a branch may hold a later number while
// an earlier one is still being written elsewhere).
func previousMigration(t *testing.T, latest uint) uint {
	t.Helper()
	files, err := os.ReadDir("migrations")
	require.NoError(t, err)
	var prev uint
	for _, f := range files {
		n, err := strconv.ParseUint(strings.SplitN(f.Name(), "_", 2)[0], 10, 32)
		require.NoError(t, err, f.Name())
		if uint(n) < latest {
			prev = max(prev, uint(n))
		}
	}
	return prev
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
		require.Equal(t, previousMigration(t, st.AppLatest), st.AppVersion)
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

	t.Run("PartitioningEventsKeepsTheirData", func(t *testing.T) {
		t.Parallel()
		d := open(t)
		require.NoError(t, db.Up(t.Context(), d, logger))
		// Back to 0005, one plain events table: down past every later
		// migration (their numbers need not be consecutive), 0006
		// (partitioning) the last.
		to0005 := func() {
			t.Helper()
			for {
				st, err := db.Version(t.Context(), d, logger)
				require.NoError(t, err)
				if st.AppVersion <= 5 {
					require.EqualValues(t, 5, st.AppVersion)
					return
				}
				require.NoError(t, db.Down(t.Context(), d, logger, 1, false))
			}
		}
		to0005()

		exec := func(q string, args ...any) {
			t.Helper()
			_, err := d.Exec(q, args...)
			require.NoError(t, err)
		}
		exec(`INSERT INTO tenants (id, slug, name, plan) VALUES
			('00000000-0000-7000-8000-000000000001', 'free', 'Free', 'free'),
			('00000000-0000-7000-8000-000000000002', 'ent', 'Ent', 'enterprise')`)
		// 60 events over the last 300 days, every third with an idempotency key.
		exec(`INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, idempotency_key, request_hash)
			SELECT (lpad(to_hex(floor(extract(epoch FROM now() - g * interval '5 days') * 1000)::bigint), 12, '0')
			        || '7000' || '8000' || lpad(g::text, 12, '0'))::uuid,
			       CASE WHEN g % 2 = 0 THEN '00000000-0000-7000-8000-000000000001'::uuid ELSE '00000000-0000-7000-8000-000000000002'::uuid END,
			       't', '{}', now() - g * interval '5 days', now() - g * interval '5 days',
			       CASE WHEN g % 3 = 0 THEN 'k-' || g END, CASE WHEN g % 3 = 0 THEN '\x01'::bytea END
			FROM generate_series(0, 59) g`)
		exec(`INSERT INTO rules (id, tenant_id, name, version) VALUES ('00000000-0000-7000-8000-0000000000aa', '00000000-0000-7000-8000-000000000001', 'r', 1)`)
		exec(`INSERT INTO rule_matches (id, tenant_id, event_id, rule_id, rule_version, group_key, fired, received_at)
			SELECT gen_random_uuid(), tenant_id, id, '00000000-0000-7000-8000-0000000000aa', 1, '', true, received_at
			FROM events WHERE tenant_id = '00000000-0000-7000-8000-000000000001'`)

		require.NoError(t, db.Up(t.Context(), d, logger))
		counts := func(q string) (n int) {
			t.Helper()
			require.NoError(t, d.QueryRow(q).Scan(&n))
			return n
		}
		require.Equal(t, 60, counts(`SELECT count(*) FROM events`))
		require.Equal(t, 30, counts(`SELECT count(*) FROM events WHERE retention_days = 30`), "the free tenant's")
		require.Equal(t, 30, counts(`SELECT count(*) FROM events WHERE retention_days = 365`), "the enterprise tenant's")
		require.Equal(t, 20, counts(`SELECT count(*) FROM event_idempotency`))
		require.Equal(t, 30, counts(`SELECT count(*) FROM rule_matches WHERE retention_days = 30`))
		require.Zero(t, counts(`SELECT count(*) FROM ONLY events`), "rows live in the partitions")
		require.Equal(t, 60, counts(`SELECT count(*) FROM events WHERE tableoid::regclass::text ~ '^events_r(30|365)_p[0-9]{8}$'`))
		// An event received now (or within 4 weeks) has its partition before any worker ran.
		for _, class := range []int{30, 90, 365} {
			exec(`INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, retention_days)
				VALUES ((lpad(to_hex(floor(extract(epoch FROM now() + interval '27 days') * 1000)::bigint), 12, '0') || '70008000' || lpad($1::text, 12, '0'))::uuid,
				'00000000-0000-7000-8000-000000000001', 't', '{}', now(), now(), $1::smallint)`, class)
		}

		to0005()
		require.Equal(t, 63, counts(`SELECT count(*) FROM events`))
		require.Equal(t, 20, counts(`SELECT count(*) FROM events WHERE idempotency_key IS NOT NULL`))
		require.Zero(t, counts(`SELECT count(*) FROM pg_class WHERE relname ~ '^events_r[0-9]+'`), "no partition is left behind")
		_, err := d.Exec(`INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, idempotency_key, request_hash)
			SELECT gen_random_uuid(), tenant_id, type, payload, occurred_at, received_at, idempotency_key, request_hash
			FROM events WHERE idempotency_key = 'k-3'`)
		require.Error(t, err, "the unique index on idempotency keys is back")
	})
}
