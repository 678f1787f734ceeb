package cmd

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
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

// TestBulkDLQRetry: POST /api/dlq/retry and `dlq retry --all` retry every
// matching dead job of the tenant, and only those, and are idempotent:
// retrying twice, or twice at once, sends each delivery once.
func TestBulkDLQRetry(t *testing.T) {
	t.Parallel()

	const n = 4
	b := setupTenant(t, nil)
	rxs := map[string]*flowReceiver{}
	chs := map[string]string{}
	var actions []string
	for _, name := range []string{"api", "twice", "cli"} {
		rxs[name] = newFlowReceiver(t)
		rxs[name].answer.Store(http.StatusGone) // permanent: the job is cancelled into the DLQ at once
		chs[name] = b.flowChannel(t, name, rxs[name].url(), "")
		actions = append(actions, `{"channelId":"`+chs[name]+`","template":"x"}`)
	}
	b.rule(t, `{"match":{"type":"order.*"},"actions":[`+strings.Join(actions, ",")+`]}`)
	b.ingestN(t, n)
	require.Eventually(t, func() bool { return len(b.deadDeliveries(t)) == 3*n }, 30*time.Second, 20*time.Millisecond)
	for _, rx := range rxs {
		rx.answer.Store(0) // the receivers are fixed
	}
	retry := func(t *testing.T, body string) int {
		t.Helper()
		rec := b.api(t, "POST", "/api/dlq/retry", body)
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		var out struct{ Retried *int }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
		require.NotNil(t, out.Retried)
		return *out.Retried
	}
	delivered := func(t *testing.T, name string) {
		t.Helper()
		rx := rxs[name]
		require.Eventually(t, func() bool { _, total, _, _ := rx.snapshot(); return total >= n }, 20*time.Second, 10*time.Millisecond)
		time.Sleep(200 * time.Millisecond) // room for a duplicate
		_, total, distinct, _ := rx.snapshot()
		require.Equal(t, n, distinct, name)
		require.Equal(t, n, total, "%s: each dead delivery was sent once", name)
	}

	t.Run("Problems", func(t *testing.T) {
		for _, tt := range []struct {
			name, body string
			status     int
			field      string
		}{
			{"NotJSON", `retry`, http.StatusBadRequest, "body"},
			{"UnknownField", `{"channel":"x"}`, http.StatusBadRequest, "channel"},
			{"BadChannel", `{"channelId":"nope"}`, http.StatusUnprocessableEntity, "channelId"},
			{"EmptyKind", `{"kind":""}`, http.StatusUnprocessableEntity, "kind"},
			{"BadSince", `{"since":"yesterday"}`, http.StatusUnprocessableEntity, "since"},
			{"UntilBeforeSince", `{"since":"2026-01-02T00:00:00Z","until":"2026-01-01T00:00:00Z"}`, http.StatusUnprocessableEntity, "until"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				rec := b.api(t, "POST", "/api/dlq/retry", tt.body)
				require.Equal(t, tt.status, rec.Code, rec.Body.String())
				require.Equal(t, "application/problem+json", rec.Header().Get("Content-Type"))
				require.Contains(t, rec.Body.String(), `"field":"`+tt.field+`"`)
			})
		}
		require.Len(t, b.deadDeliveries(t), 3*n, "a refused request retries nothing")
	})

	t.Run("ListTakesTheSameFilter", func(t *testing.T) {
		list := func(t *testing.T, query string) int {
			t.Helper()
			rec := b.api(t, "GET", "/api/dlq?limit=200&"+query, "")
			require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			var out struct {
				Data []struct {
					Args struct {
						ChannelID string `json:"channel_id"`
					}
				}
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
			for _, j := range out.Data {
				if strings.Contains(query, "channelId=") {
					require.Contains(t, query, j.Args.ChannelID, "a job of another channel listed")
				}
			}
			return len(out.Data)
		}
		past := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
		future := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		require.Equal(t, 3*n, list(t, ""))
		require.Equal(t, n, list(t, "channelId="+chs["api"]))
		require.Equal(t, n, list(t, "channelId="+chs["api"]+"&kind=notify.deliver&since="+past+"&until="+future))
		require.Zero(t, list(t, "since="+future))
		require.Zero(t, list(t, "until="+past))
		require.Zero(t, list(t, "kind=event.process"))
		require.Zero(t, list(t, "channelId="+uuid.NewString()))
		for _, tt := range []struct{ name, query, field string }{
			{"BadChannel", "channelId=nope", "channelId"},
			{"BadSince", "since=yesterday", "since"},
			{"UntilBeforeSince", "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "until"},
			{"ControlInKind", "kind=a%00b", "kind"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				rec := b.api(t, "GET", "/api/dlq?"+tt.query, "")
				require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
				require.Contains(t, rec.Body.String(), `"code":"invalid_query"`)
				require.Contains(t, rec.Body.String(), `"field":"`+tt.field+`"`)
			})
		}
	})

	t.Run("FiltersThatMatchNothing", func(t *testing.T) {
		past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		require.Zero(t, retry(t, `{"until":"`+past+`"}`))
		require.Zero(t, retry(t, `{"since":"`+future+`"}`))
		require.Zero(t, retry(t, `{"kind":"event.process"}`))
		require.Zero(t, retry(t, `{"channelId":"`+uuid.NewString()+`"}`))
		other := authtest.CreateTenant(t.Context(), t, b.sys.db, nil)
		rec := serveReq(b.router, "POST", "/api/dlq/retry", `{}`, "Authorization",
			"Bearer "+authtest.Token(t.Context(), t, b.sys.db, other.OwnerEmail))
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		require.JSONEq(t, `{"retried":0}`, rec.Body.String(), "another tenant's DLQ is not this one")
		require.Len(t, b.deadDeliveries(t), 3*n)
	})

	t.Run("APIByChannelTwice", func(t *testing.T) {
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		require.Equal(t, n, retry(t, `{"channelId":"`+chs["api"]+`","kind":"notify.deliver","since":"`+since+`"}`))
		require.Zero(t, retry(t, `{"channelId":"`+chs["api"]+`"}`), "the second call finds them no longer dead")
		delivered(t, "api")
	})

	t.Run("APIConcurrentCalls", func(t *testing.T) {
		var wg sync.WaitGroup
		got := make([]int, 2)
		for i := range got {
			wg.Go(func() { got[i] = retry(t, `{"channelId":"`+chs["twice"]+`"}`) })
		}
		wg.Wait()
		require.Equal(t, n, got[0]+got[1], "each job retried once across overlapping calls: %v", got)
		delivered(t, "twice")
	})

	t.Run("CLI", func(t *testing.T) {
		out := &bytes.Buffer{}
		a := &app{cfg: b.sys.cfg, logger: slog.New(slog.DiscardHandler), stdout: out, stderr: out}
		run := func(args ...string) string {
			out.Reset()
			c := newDLQCmd(a)
			c.SetArgs(args)
			c.SetOut(out)
			c.SetErr(out)
			require.NoError(t, c.ExecuteContext(t.Context()), out.String())
			return out.String()
		}
		args := []string{"retry", "--all", "--tenant", b.tenant.ID.String(), "--channel", chs["cli"], "--json"}
		require.JSONEq(t, fmt.Sprintf(`{"retried":%d}`, n), run(args...))
		require.JSONEq(t, `{"retried":0}`, run(args...))
		require.Equal(t, "0 dead jobs available again\n", run("retry", "--all", "--since", time.Now().Add(time.Hour).Format(time.RFC3339)))
		delivered(t, "cli")

		c := newDLQCmd(a)
		c.SetArgs([]string{"retry", "--channel", chs["cli"]})
		c.SetOut(out)
		c.SetErr(out)
		require.ErrorContains(t, c.ExecuteContext(t.Context()), "go with --all")
	})

	require.Empty(t, b.deadDeliveries(t), "every entry was retried and delivered")
}
