package queue_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/benchtest"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/queue"
	"github.com/signalops/signalops/platform/testdb"
)

type insertArgs struct {
	Text string `json:"text"`
}

func (insertArgs) Kind() string { return "insert_test" }

// TestFastInsert checks that the clients' prepared bulk insert in a
// transaction (InsertManyFastTx) stores exactly the rows riverdatabasesql's
// own stores, unique jobs and their conflicts included: the same jobs go
// through each into a database of its own, twice.
func TestFastInsert(t *testing.T) {
	t.Parallel()
	ctx := t.Context()

	at := time.Date(2026, 12, 4, 10, 0, 0, 123456000, time.UTC)
	params := []river.InsertManyParams{
		{Args: insertArgs{Text: `plain`}},
		{Args: insertArgs{Text: `"quoted" \ back\\slash, {brace} ünïcødé`}, InsertOpts: &river.InsertOpts{
			MaxAttempts: 3, Priority: 2, Queue: "other", Tags: []string{"alpha", "b-c"}, ScheduledAt: at,
			Metadata: []byte(`{"trace": "x\"y"}`)}},
		{Args: insertArgs{Text: "unique"}, InsertOpts: &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}},
		{Args: insertArgs{Text: "later"}, InsertOpts: &river.InsertOpts{MaxAttempts: 1 << 20, ScheduledAt: at.Add(time.Hour)}},
	}
	type row struct {
		Args         string     `db:"args"`
		Kind         string     `db:"kind"`
		MaxAttempts  int        `db:"max_attempts"`
		Metadata     string     `db:"metadata"`
		Priority     int        `db:"priority"`
		Queue        string     `db:"queue"`
		ScheduledAt  *time.Time `db:"scheduled_at"` // nil: when it was created
		State        string     `db:"state"`
		Tags         string     `db:"tags"`
		UniqueKey    []byte     `db:"unique_key"`
		UniqueStates *string    `db:"unique_states"`
		Recent       bool       `db:"recent"`
	}
	run := func(c *queue.Client, db *sqlx.DB) ([]int, []row) {
		var counts []int
		for range 2 {
			require.NoError(t, pg.InTx(ctx, db, func(tx *sqlx.Tx) error {
				n, err := c.InsertManyFastTx(ctx, tx.Tx, params)
				counts = append(counts, n)
				return err
			}))
		}
		var rows []row
		require.NoError(t, db.SelectContext(ctx, &rows, `
			SELECT args::text, kind, max_attempts, metadata::text, priority, queue,
				nullif(scheduled_at, created_at) AS scheduled_at, state, tags::text, unique_key,
				unique_states::text, created_at > now() - interval '1 minute' AS recent
			FROM river_job ORDER BY id`))
		return counts, rows
	}

	riverDB := testdb.New(t)
	rivers, err := river.NewClient(riverdatabasesql.New(riverDB.DB), &river.Config{})
	require.NoError(t, err)
	wantCounts, want := run(rivers, riverDB)

	db := testdb.New(t)
	ours, err := queue.NewInsertOnly(db.DB, queue.Config{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	counts, got := run(ours, db)

	require.Equal(t, []int{4, 3}, wantCounts, "the unique job is inserted once")
	require.Equal(t, wantCounts, counts)
	require.Len(t, want, 7)
	require.Equal(t, want, got)
}

// BenchmarkInsertManyFastTx100 is one transaction inserting 100 jobs, through
// River's driver and through the clients' prepared insert. cpu-ns/op is
// this process's CPU time per transaction (PostgreSQL's is not in it):
// steadier than ns/op on a shared machine.
func BenchmarkInsertManyFastTx100(b *testing.B) {
	params := make([]river.InsertManyParams, 100)
	for i := range params {
		params[i] = river.InsertManyParams{Args: insertArgs{Text: "event"}}
	}
	for _, bc := range []struct {
		name string
		mk   func(db *sqlx.DB) (*queue.Client, error)
	}{
		{"River", func(db *sqlx.DB) (*queue.Client, error) {
			return river.NewClient(riverdatabasesql.New(db.DB), &river.Config{})
		}},
		{"Prepared", func(db *sqlx.DB) (*queue.Client, error) {
			return queue.NewInsertOnly(db.DB, queue.Config{}, slog.New(slog.DiscardHandler))
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := b.Context()
			db := testdb.New(b)
			c, err := bc.mk(db)
			require.NoError(b, err)
			b.ReportAllocs()
			cpu := benchtest.CPU()
			for b.Loop() {
				require.NoError(b, pg.InTx(ctx, db, func(tx *sqlx.Tx) error {
					_, err := c.InsertManyFastTx(ctx, tx.Tx, params)
					return err
				}))
			}
			b.ReportMetric(float64(benchtest.CPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestNotify checks that a transaction's insert notification, sent by the
// prepared statement, reaches a listener as River's own does: the topic of
// the current schema, River's payload, once the transaction commits.
func TestNotify(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db, url := testdb.NewWithURL(t)
	conn, err := pg.ConnString(url)
	require.NoError(t, err)
	listener := pq.NewListener(conn, time.Second, time.Second, nil)
	t.Cleanup(func() { _ = listener.Close() })
	require.NoError(t, listener.Listen("public.river_insert"))

	c, err := queue.NewInsertOnly(db.DB, queue.Config{FetchCooldown: time.Millisecond}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	for _, q := range []string{"first", "second"} {
		require.NoError(t, pg.InTx(ctx, db, func(tx *sqlx.Tx) error {
			_, err := c.InsertManyFastTx(ctx, tx.Tx, []river.InsertManyParams{{Args: insertArgs{Text: q}, InsertOpts: &river.InsertOpts{Queue: q}}})
			return err
		}))
		select {
		case n := <-listener.Notify:
			require.Equal(t, "public.river_insert", n.Channel)
			require.JSONEq(t, `{"queue": "`+q+`"}`, n.Extra)
		case <-time.After(5 * time.Second):
			t.Fatalf("no notification for queue %s", q)
		}
	}
}
