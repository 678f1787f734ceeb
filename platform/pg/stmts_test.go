package pg_test

import (
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

// Stmts gives the same results prepared (the pool, its transactions) as
// unprepared (nil Stmts, another pool), and prepares each query once.
func TestStmts(t *testing.T) {
	ctx := t.Context()
	db := testdb.New(t)
	db.SetMaxOpenConns(1) // one session: pg_prepared_statements shows what it prepared
	other := testdb.New(t)
	_, err := db.ExecContext(ctx, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
	require.NoError(t, err)
	_, err = other.ExecContext(ctx, `CREATE TABLE kv (k int PRIMARY KEY, v text)`)
	require.NoError(t, err)

	const put = `INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v`
	const get = `SELECT v FROM kv WHERE k = ANY($1::int[]) ORDER BY k`
	s := pg.NewStmts(db)
	var nilStmts *pg.Stmts
	for i, q := range []pg.Querier{db, other} {
		for _, st := range []*pg.Stmts{s, nilStmts} {
			_, err := st.Exec(ctx, q, put, 1, "one")
			require.NoError(t, err, "querier %d", i)
			inTx := st
			if q != db {
				inTx = nil // a transaction must be one of the Stmts' pool
			}
			require.NoError(t, pg.InTx(ctx, sqlxDB(q), func(tx *sqlx.Tx) error {
				_, err := inTx.Exec(ctx, tx, put, 2, "two")
				return err
			}))
			var got []string
			require.NoError(t, st.Select(ctx, q, &got, get, "{1,2}"))
			require.Equal(t, []string{"one", "two"}, got)
		}
	}
	var prepared []string
	require.NoError(t, db.SelectContext(ctx, &prepared, `SELECT statement FROM pg_prepared_statements ORDER BY statement`))
	require.ElementsMatch(t, []string{put, get}, prepared, "each query prepared once on the session")
	require.NoError(t, s.Close())
}

func sqlxDB(q pg.Querier) *sqlx.DB { return q.(*sqlx.DB) }
