package cmd

import (
	"bytes"
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/testdb"
)

// TestDLQCommand runs `signalops dlq` against a database holding dead jobs:
// `delete` (and its old name `discard`) removes the job row; retry makes it
// available again.
func TestDLQCommand(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		app *app
		sys *system
		out *bytes.Buffer
	}

	setup := func(t *testing.T) *testBundle {
		t.Helper()
		pool, url := testdb.NewWithURL(t)
		out := &bytes.Buffer{}
		a := &app{cfg: testConfig(t, url), logger: slog.New(slog.DiscardHandler), stdout: out, stderr: out}
		sys, err := wire(pool, a.cfg, a.logger)
		require.NoError(t, err)
		return &testBundle{app: a, sys: sys, out: out}
	}

	// deadJob inserts an event.process job and marks it discarded, as River
	// does after its last failed attempt.
	deadJob := func(t *testing.T, b *testBundle) int64 {
		t.Helper()
		ctx := t.Context()
		res, err := b.sys.jobs.Insert(ctx, events.ProcessArgs{TenantID: uuid.New(), EventID: uuid.New()}, nil)
		require.NoError(t, err)
		_, err = b.sys.db.ExecContext(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE id = $1`, res.Job.ID)
		require.NoError(t, err)
		return res.Job.ID
	}

	jobCount := func(t *testing.T, b *testBundle, id int64) int {
		t.Helper()
		var n int
		require.NoError(t, b.sys.db.GetContext(t.Context(), &n, `SELECT count(*) FROM river_job WHERE id = $1`, id))
		return n
	}

	run := func(t *testing.T, b *testBundle, args ...string) error {
		t.Helper()
		b.out.Reset()
		c := newDLQCmd(b.app)
		c.SetArgs(args)
		c.SetOut(b.out)
		c.SetErr(b.out)
		return c.ExecuteContext(t.Context())
	}

	for _, tt := range []struct {
		name    string
		args    []string
		wantOut string
	}{
		{"Delete", []string{"delete"}, "job %d: deleted\n"},
		{"DeleteJSON", []string{"delete", "--json"}, `{"deleted":true,"id":%d}` + "\n"},
		{"DiscardIsAnAlias", []string{"discard"}, "job %d: deleted\n"},
		{"DiscardKeepsItsJSON", []string{"discard", "--json"}, `{"discarded":true,"id":%d}` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			id := deadJob(t, b)

			args := append([]string{tt.args[0], strconv.FormatInt(id, 10)}, tt.args[1:]...)
			require.NoError(t, run(t, b, args...))
			require.Equal(t, fmt.Sprintf(tt.wantOut, id), b.out.String())
			require.Zero(t, jobCount(t, b, id), "the job row is gone")

			require.EqualError(t, run(t, b, args...), "No such job in the dead-letter queue.", "a second delete finds nothing")
		})
	}

	t.Run("HelpSaysItDeletes", func(t *testing.T) {
		t.Parallel()
		b := &testBundle{app: &app{stdout: &bytes.Buffer{}}, out: &bytes.Buffer{}}
		require.NoError(t, run(t, b, "--help"))
		require.Contains(t, b.out.String(), "delete      Delete a dead job for good (alias: discard)")
		require.Contains(t, b.out.String(), "deletes the job row for good")
	})

	t.Run("Retry", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		id := deadJob(t, b)

		require.NoError(t, run(t, b, "retry", strconv.FormatInt(id, 10)))
		require.Equal(t, fmt.Sprintf("job %d: available again\n", id), b.out.String())
		require.Equal(t, 1, jobCount(t, b, id), "a retried job stays")
	})
}
