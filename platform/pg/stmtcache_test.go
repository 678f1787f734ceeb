package pg_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

// TestStatementCache: queries with parameters run as statements prepared
// once per connection, at most StatementCache of them, the least recently
// used closed first; queries without keep the simple protocol (several
// statements in one string); a schema change that alters a statement's
// result type fails it once, and the next run prepares it again.
func TestStatementCache(t *testing.T) {
	t.Parallel()
	_, url := testdb.NewWithURL(t)
	ctx := t.Context()
	db, err := pg.Open(ctx, url, pg.PoolConfig{MaxOpenConns: 1, MaxIdleConns: 1, StatementCache: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	prepared := func() []string {
		var qs []string
		require.NoError(t, db.SelectContext(ctx, &qs, `SELECT statement FROM pg_prepared_statements ORDER BY prepare_time, statement`))
		return qs
	}
	var n int
	require.NoError(t, db.GetContext(ctx, &n, `SELECT $1::int + 1`, 1))
	require.Equal(t, 2, n)
	require.NoError(t, db.GetContext(ctx, &n, `SELECT $1::int + 1`, 41), "a second run uses the prepared statement")
	require.Equal(t, 42, n)
	require.NoError(t, db.GetContext(ctx, &n, `SELECT $1::int * 2`, 4))
	require.Equal(t, 8, n)
	// The listing itself has no parameter: it is not kept.
	require.Equal(t, []string{`SELECT $1::int + 1`, `SELECT $1::int * 2`}, prepared())

	// A third statement closes the least recently used (the + 1 ran last
	// before the * 2, so the + 1 goes).
	require.NoError(t, db.GetContext(ctx, &n, `SELECT $1::int - 1`, 4))
	require.Equal(t, 3, n)
	require.Equal(t, []string{`SELECT $1::int * 2`, `SELECT $1::int - 1`}, prepared())

	// Several statements without parameters still run in one string.
	_, err = db.ExecContext(ctx, `CREATE TABLE cached (id int PRIMARY KEY); INSERT INTO cached VALUES (1)`)
	require.NoError(t, err)

	// A statement whose result type changed fails once, then works again.
	var row []int
	require.NoError(t, db.SelectContext(ctx, &row, `SELECT * FROM cached WHERE id = $1`, 1))
	require.Equal(t, []int{1}, row)
	_, err = db.ExecContext(ctx, `ALTER TABLE cached ADD COLUMN note text`)
	require.NoError(t, err)
	var rows []struct {
		ID   int
		Note *string
	}
	err = db.SelectContext(ctx, &rows, `SELECT * FROM cached WHERE id = $1`, 1)
	require.ErrorContains(t, err, "cached plan must not change result type")
	require.NoError(t, db.SelectContext(ctx, &rows, `SELECT * FROM cached WHERE id = $1`, 1))
	require.Len(t, rows, 1)

	// Errors of a statement leave the connection usable.
	_, err = db.ExecContext(ctx, `INSERT INTO cached (id) VALUES ($1)`, 1)
	require.True(t, pg.IsUniqueViolation(err, ""), "%v", err)
	require.NoError(t, db.GetContext(ctx, &n, `SELECT $1::int * 2`, 5))
	require.Equal(t, 10, n)
}

// TestStatementCacheOff: with StatementCache 0 nothing is kept prepared.
func TestStatementCacheOff(t *testing.T) {
	t.Parallel()
	_, url := testdb.NewWithURL(t)
	ctx := t.Context()
	db, err := pg.Open(ctx, url, pg.PoolConfig{MaxOpenConns: 1, MaxIdleConns: 1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	var n int
	require.NoError(t, db.GetContext(ctx, &n, `SELECT $1::int + 1`, 1))
	require.NoError(t, db.GetContext(ctx, &n, `SELECT count(*) FROM pg_prepared_statements`))
	require.Zero(t, n)
}
