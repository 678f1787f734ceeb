package rules_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/modules/rules"
	"github.com/signalops/signalops/platform/httpx/httpxtest"
)

// The dry run and the backtest speak the lineage vocabulary of
// GET /api/events/{id}: fired, and a reason when not (SPEC §9).

func testRule(t *testing.T, b *testBundle, definition string) uuid.UUID {
	t.Helper()
	rec := b.call(t, "POST", "/api/rules", `{"name":"r","definition":`+definition+`}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	return httpxtest.Decode[ruleView](t, rec).ID
}

func (b *testBundle) dryRun(t *testing.T, target, event string) rules.TestResult {
	t.Helper()
	rec := b.call(t, "POST", "/api/rules/test", `{`+target+`,"event":`+event+`}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return httpxtest.Decode[rules.TestResult](t, rec)
}

func reasonOf(r *string) string {
	if r == nil {
		return ""
	}
	return *r
}

func TestDryRunVocabulary(t *testing.T) {
	t.Parallel()
	b := setup(t)
	channel := uuid.NewString()
	login := `{"type":"login.failed","payload":{"user":"u1"}}`

	t.Run("ThresholdFromTheRulesHistory", func(t *testing.T) {
		definition := `{"match":{"type":"login.failed"},"threshold":{"count":3,"within":"1m","groupBy":"payload.user"},
			"actions":[{"channelId":"` + channel + `","template":"x"}]}`
		id := testRule(t, b, definition)
		byRule := `"ruleId":"` + id.String() + `"`

		res := b.dryRun(t, byRule, login)
		require.True(t, res.Matched)
		require.False(t, res.Fired)
		require.Equal(t, "threshold 1 of 3 within 1m", reasonOf(res.Reason))
		require.Empty(t, res.Note)

		e := b.ingestAndProcess(t, "login.failed", `{"user":"u1"}`)
		require.Equal(t, "threshold 1 of 3 within 1m", reasonOf(mustMatches(t, b, e)[0].Reason), "the worker says the same")
		res = b.dryRun(t, byRule, login)
		require.Equal(t, "threshold 2 of 3 within 1m", reasonOf(res.Reason), "the stored match counts")
		res = b.dryRun(t, byRule, `{"type":"login.failed","payload":{"user":"u2"}}`)
		require.Equal(t, "threshold 1 of 3 within 1m", reasonOf(res.Reason), "another group")

		res = b.dryRun(t, `"definition":`+definition, login)
		require.Equal(t, "threshold 1 of 3 within 1m", reasonOf(res.Reason), "a bare definition has no history")
		require.Contains(t, res.Note, "first event")
		nothingStored(t, b, 1)
	})

	t.Run("CooldownFromTheRulesHistory", func(t *testing.T) {
		id := testRule(t, b, `{"match":{"type":"deploy.done"},"cooldown":"1h","actions":[{"channelId":"`+channel+`","template":"x"}]}`)
		byRule := `"ruleId":"` + id.String() + `"`
		res := b.dryRun(t, byRule, `{"type":"deploy.done","payload":{}}`)
		require.True(t, res.Fired)
		require.Nil(t, res.Reason)

		e := b.ingestAndProcess(t, "deploy.done", `{}`)
		require.True(t, mustMatches(t, b, e)[0].Fired)
		res = b.dryRun(t, byRule, `{"type":"deploy.done","payload":{}}`)
		require.False(t, res.Fired)
		want := "cooldown until " + e.ReceivedAt.Add(time.Hour).UTC().Format(time.RFC3339)
		require.Equal(t, want, reasonOf(res.Reason))
	})

	t.Run("DigestAndFallback", func(t *testing.T) {
		other := uuid.NewString()
		definition := `{"match":{"type":"order.created"},"actions":[
			{"channelId":"` + channel + `","template":"{{.count}} orders:{{range .events}} {{.payload.orderId}}{{end}}",
			 "fallback":["` + other + `"],"digest":{"window":"10m","max":50}},
			{"channelId":"` + other + `","template":"order {{.payload.orderId}}"}]}`
		res := b.dryRun(t, `"definition":`+definition, `{"type":"order.created","payload":{"orderId":"X"}}`)
		require.True(t, res.Fired, "the second action sends at once")
		require.Equal(t, "collected into a digest", reasonOf(res.Reason))
		require.Len(t, res.Actions, 2)
		require.Equal(t, "1 orders: X", res.Actions[0].Message, "a preview: a digest of this event alone")
		require.Equal(t, &rules.Digest{Window: 10 * time.Minute, Max: 50}, res.Actions[0].Digest)
		require.Equal(t, []uuid.UUID{uuid.MustParse(other)}, res.Actions[0].Fallback)
		require.Equal(t, "order X", res.Actions[1].Message)
		require.Nil(t, res.Actions[1].Digest)

		// Stored, with a digest open: the dry run names it.
		id := testRule(t, b, `{"match":{"type":"order.created"},"actions":[{"channelId":"`+channel+`","template":"{{.count}}","digest":{"window":"10m"}}]}`)
		e := b.ingestAndProcess(t, "order.created", `{"orderId":"Y"}`)
		var reason string
		for _, m := range mustMatches(t, b, e) {
			if m.RuleID == id {
				require.False(t, m.Fired)
				reason = reasonOf(m.Reason)
			}
		}
		require.True(t, strings.HasPrefix(reason, "collected into digest "), reason)
		res = b.dryRun(t, `"ruleId":"`+id.String()+`"`, `{"type":"order.created","payload":{"orderId":"Z"}}`)
		require.False(t, res.Fired)
		require.Equal(t, reason, reasonOf(res.Reason))
	})
}

// nothingStored: dry runs add no matches (want: those the test processed).
func nothingStored(t *testing.T, b *testBundle, want int) {
	t.Helper()
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM rule_matches`))
	require.Equal(t, want, n)
}

func TestBacktestVocabulary(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 7 {
		in, err := events.ParseInput(fmt.Appendf(nil, `{"type":"order.created","payload":{"orderId":"%d"}}`, i), "")
		require.NoError(t, err)
		_, err = b.events.Ingest(t.Context(), b.tenant.ID, in)
		require.NoError(t, err)
	}
	channel := uuid.NewString()
	backtest := func(extra, action string) rules.BacktestResult {
		t.Helper()
		rec := b.call(t, "POST", "/api/rules/backtest", `{"definition":{"match":{"type":"order.*"}`+extra+`,
			"actions":[{"channelId":"`+channel+`","template":"x"`+action+`}]}}`)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		return httpxtest.Decode[rules.BacktestResult](t, rec)
	}

	bt := backtest(`,"threshold":{"count":3,"within":"1h"}`, "")
	require.Equal(t, 7, bt.Matched)
	require.Equal(t, 2, bt.Fired)
	require.Len(t, bt.Samples, 7, "every matched event, fired or not")
	for i, s := range bt.Samples {
		if (i+1)%3 == 0 {
			require.True(t, s.Fired, "sample %d", i)
			require.Nil(t, s.Reason)
			continue
		}
		require.False(t, s.Fired, "sample %d", i)
		require.Equal(t, fmt.Sprintf("threshold %d of 3 within 1h", i%3+1), reasonOf(s.Reason))
	}

	bt = backtest("", `,"digest":{"window":"1h","max":3}`)
	require.Equal(t, 7, bt.Matched)
	require.Zero(t, bt.Fired)
	require.Equal(t, 7, bt.Collected)
	require.Equal(t, 3, bt.Digests, "3 + 3 + 1")
	require.Equal(t, "collected into a digest", reasonOf(bt.Samples[0].Reason))
}
