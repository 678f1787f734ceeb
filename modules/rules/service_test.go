package rules_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/modules/rules"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/httpx/httpxtest"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/queue"
	"github.com/signalops/signalops/platform/testdb"
)

type testBundle struct {
	db     *sqlx.DB
	router *echo.Echo
	events *events.Service
	rules  *rules.Service
	tenant authtest.Tenant
	token  string // a member's bearer token
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := testdb.New(t)
	logger := slog.New(slog.DiscardHandler)
	jobs, err := queue.NewInsertOnly(pool.DB, queue.Config{FetchCooldown: 10 * time.Millisecond}, logger)
	require.NoError(t, err)
	router := httpx.NewRouter(logger, httpx.Options{})
	authMod := auth.New(pool, logger, authtest.Options)
	ev := events.New(pool, jobs, nil, logger)
	rm := rules.New(pool, jobs, ev.Service, nil, nil, logger)
	ev.AddRelated(rm.Service.RelatedMatches)
	api := httpx.NewGroup(router, "/api")
	ev.Routes(api.With(authMod.APIKeyAuth()), api.With(authMod.AnyAuth()))
	rm.Routes(api.With(authMod.TokenAuth()))
	tenant := authtest.CreateTenant(t.Context(), t, pool, nil)
	_, email := authtest.CreateUser(t.Context(), t, pool, tenant, auth.RoleMember)
	return &testBundle{db: pool, router: router, events: ev.Service, rules: rm.Service, tenant: tenant,
		token: authtest.Token(t.Context(), t, pool, email)}
}

func (b *testBundle) call(t *testing.T, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	return httpxtest.Do(b.router, method, path, body, httpxtest.Bearer(b.token)...)
}

type ruleView struct {
	ID         uuid.UUID
	Name       string
	Enabled    bool
	Version    int
	Definition json.RawMessage
}

func def(minAmount int, extra string) string {
	return fmt.Sprintf(`{"match":{"type":"order.*","all":[{"field":"payload.amount","op":"gte","value":%d}]}%s,
		"actions":[{"channelId":"%s","template":"Order {{.payload.orderId}}: {{.payload.amount}}"}]}`, minAmount, extra, uuid.NewString())
}

// ingestAndProcess stores an event and evaluates it in one transaction, as
// the event.process worker does.
func (b *testBundle) ingestAndProcess(t *testing.T, typ string, payload string) events.Event {
	t.Helper()
	in, err := events.ParseInput([]byte(`{"type":"`+typ+`","payload":`+payload+`}`), "")
	require.NoError(t, err)
	res, err := b.events.Ingest(t.Context(), b.tenant.ID, in)
	require.NoError(t, err)
	e := res.Event
	require.NoError(t, pg.InTx(t.Context(), b.db, func(tx *sqlx.Tx) error {
		_, err := b.rules.EvaluateTx(t.Context(), tx, e)
		return err
	}))
	return e
}

func TestRuleVersions(t *testing.T) {
	t.Parallel()
	b := setup(t)

	rec := b.call(t, "POST", "/api/rules", `{"name":"big orders","definition":`+def(1000, "")+`}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	r := httpxtest.Decode[ruleView](t, rec)
	require.Equal(t, 1, r.Version)
	require.True(t, r.Enabled)

	e1 := b.ingestAndProcess(t, "order.created", `{"orderId":"A","amount":1500}`)

	rec = b.call(t, "PUT", "/api/rules/"+r.ID.String(), `{"definition":`+def(2000, "")+`}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, 2, httpxtest.Decode[ruleView](t, rec).Version)
	e2 := b.ingestAndProcess(t, "order.created", `{"orderId":"B","amount":1500}`) // v2 wants 2000: no match
	e3 := b.ingestAndProcess(t, "order.created", `{"orderId":"C","amount":2500}`)

	rec = b.call(t, "POST", "/api/rules/"+r.ID.String()+"/rollback", `{"version":1}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rolled := httpxtest.Decode[ruleView](t, rec)
	require.Equal(t, 3, rolled.Version)
	e4 := b.ingestAndProcess(t, "order.created", `{"orderId":"D","amount":1500}`)

	for _, tt := range []struct {
		e       events.Event
		version int // 0: no match
	}{{e1, 1}, {e2, 0}, {e3, 2}, {e4, 3}} {
		got := httpxtest.Do(b.router, "GET", "/api/events/"+tt.e.ID.String(), "", "x-api-key", b.tenant.APIKey)
		var ev struct {
			Matches []struct {
				RuleID      uuid.UUID
				RuleVersion int
			}
		}
		require.NoError(t, json.Unmarshal(got.Body.Bytes(), &ev), got.Body.String())
		if tt.version == 0 {
			require.Empty(t, ev.Matches)
			continue
		}
		require.Len(t, ev.Matches, 1)
		require.Equal(t, r.ID, ev.Matches[0].RuleID)
		require.Equal(t, tt.version, ev.Matches[0].RuleVersion)
	}

	rec = b.call(t, "PUT", "/api/rules/"+r.ID.String(), `{"enabled":false,"name":"renamed"}`)
	require.Equal(t, 3, httpxtest.Decode[ruleView](t, rec).Version, "enabled and name change without a new version")
	require.Empty(t, mustMatches(t, b, b.ingestAndProcess(t, "order.created", `{"orderId":"E","amount":5000}`)), "disabled rules do not match")

	rec = b.call(t, "GET", "/api/rules/"+r.ID.String()+"/versions", "")
	versions := httpxtest.Decode[struct {
		Data []struct {
			Version   int
			CreatedBy *uuid.UUID
		}
	}](t, rec)
	require.Len(t, versions.Data, 3)
	require.Equal(t, 3, versions.Data[0].Version)
	require.NotNil(t, versions.Data[0].CreatedBy, "every change records who made it")

	require.Equal(t, http.StatusNoContent, b.call(t, "DELETE", "/api/rules/"+r.ID.String(), "").Code)
	require.Equal(t, http.StatusNotFound, b.call(t, "GET", "/api/rules/"+r.ID.String(), "").Code)
	require.Equal(t, http.StatusNotFound, b.call(t, "POST", "/api/rules/"+r.ID.String()+"/rollback", `{"version":1}`).Code)
}

func mustMatches(t *testing.T, b *testBundle, e events.Event) []rules.Match {
	t.Helper()
	ms, err := b.rules.MatchesOf(t.Context(), b.tenant.ID, e.ID)
	require.NoError(t, err)
	return ms
}

func TestRuleProblems(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, tt := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"MissingName", `{"definition":` + def(1, "") + `}`, 422, "name"},
		{"MissingDefinition", `{"name":"x"}`, 422, "definition"},
		{"UnknownOperator", `{"name":"x","definition":{"match":{"all":[{"field":"payload.a","op":"gt=","value":1}]},"actions":[{"channelId":"` + uuid.NewString() + `","template":"x"}]}}`, 422, "definition.match.all[0].op"},
		{"BadTemplate", `{"name":"x","definition":{"match":{"type":"a"},"actions":[{"channelId":"` + uuid.NewString() + `","template":"{{.payload"}]}}`, 422, "definition.actions[0].template"},
		{"UnknownField", `{"name":"x","definition":` + def(1, "") + `,"colour":"red"}`, 400, "colour"},
		{"NameWrongType", `{"name":1,"definition":` + def(1, "") + `}`, 400, "name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := b.call(t, "POST", "/api/rules", tt.body)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			p := httpxtest.Decode[httpx.Problem](t, rec)
			require.NotEmpty(t, p.Errors)
			require.Equal(t, tt.field, p.Errors[0].Field, rec.Body.String())
			var n int
			require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM rules`))
			require.Zero(t, n, "nothing stored")
		})
	}
}

// TestThresholdConcurrency: with a threshold of 2, two events of one group
// processed at the same moment fire exactly once — never twice, never zero.
func TestThresholdConcurrency(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.call(t, "POST", "/api/rules", `{"name":"burst","definition":`+def(0, `,"threshold":{"count":2,"within":"1h","groupBy":"payload.userId"}`)+`}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())

	evs := make([]events.Event, 2)
	for i := range evs {
		in, err := events.ParseInput([]byte(`{"type":"order.created","payload":{"userId":"u1","amount":5}}`), "")
		require.NoError(t, err)
		res, err := b.events.Ingest(t.Context(), b.tenant.ID, in)
		require.NoError(t, err)
		evs[i] = res.Event
	}
	var wg sync.WaitGroup
	fired := make([]int, 2)
	errs := make([]error, 2)
	start := make(chan struct{})
	for i := range evs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = pg.InTx(t.Context(), b.db, func(tx *sqlx.Tx) error {
				f, err := b.rules.EvaluateTx(t.Context(), tx, evs[i])
				fired[i] = len(f)
				return err
			})
		}()
	}
	close(start)
	wg.Wait()
	require.NoError(t, errs[0])
	require.NoError(t, errs[1])
	require.Equal(t, 1, fired[0]+fired[1], "exactly one of two concurrent events fires")

	// A third event starts a new count: it does not fire on its own.
	e3 := b.ingestAndProcess(t, "order.created", `{"userId":"u1","amount":5}`)
	ms := mustMatches(t, b, e3)
	require.Len(t, ms, 1)
	require.False(t, ms[0].Fired)
	// Another group counts separately.
	e4 := b.ingestAndProcess(t, "order.created", `{"userId":"u2","amount":5}`)
	require.False(t, mustMatches(t, b, e4)[0].Fired)
}

func TestCooldown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.call(t, "POST", "/api/rules", `{"name":"calm","definition":`+def(0, `,"cooldown":"1h"`)+`}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())

	first := b.ingestAndProcess(t, "order.created", `{"amount":1}`)
	second := b.ingestAndProcess(t, "order.created", `{"amount":1}`)
	require.True(t, mustMatches(t, b, first)[0].Fired)
	require.False(t, mustMatches(t, b, second)[0].Fired, "suppressed within the cooldown")
}

func TestDryRunAndBacktest(t *testing.T) {
	t.Parallel()
	b := setup(t)

	rec := b.call(t, "POST", "/api/rules/test", `{"definition":`+def(1000, "")+`,"event":{"type":"order.created","payload":{"orderId":"X","amount":2000}}}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	res := httpxtest.Decode[rules.TestResult](t, rec)
	require.True(t, res.Matched)
	require.Len(t, res.Actions, 1)
	require.Equal(t, "Order X: 2000", res.Actions[0].Message)

	rec = b.call(t, "POST", "/api/rules/test", `{"definition":`+def(1000, "")+`,"event":{"type":"order.created","payload":{"amount":20}}}`)
	res = httpxtest.Decode[rules.TestResult](t, rec)
	require.False(t, res.Matched)
	require.Contains(t, res.Failed, "payload.amount")

	rec = b.call(t, "POST", "/api/rules/test", `{"definition":`+def(1000, "")+`,"event":{"type":"bad type!","payload":{}}}`)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code)
	require.Equal(t, "event.type", httpxtest.Decode[httpx.Problem](t, rec).Errors[0].Field)

	for i := range 30 {
		in, err := events.ParseInput(fmt.Appendf(nil, `{"type":"order.created","payload":{"orderId":"%d","amount":%d}}`, i, i*100), "")
		require.NoError(t, err)
		_, err = b.events.Ingest(t.Context(), b.tenant.ID, in)
		require.NoError(t, err)
	}
	var n int
	require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM rule_matches`))
	require.Zero(t, n, "dry runs store nothing")

	rec = b.call(t, "POST", "/api/rules/backtest", `{"definition":`+def(1000, "")+`,"limit":25}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	bt := httpxtest.Decode[rules.BacktestResult](t, rec)
	require.Equal(t, 25, bt.Scanned)
	require.Equal(t, 15, bt.Matched, "amounts 1000..2400 of the first 25")
	require.Equal(t, 15, bt.Fired)
	require.True(t, bt.Truncated)
	require.Len(t, bt.Samples, 10)

	rec = b.call(t, "POST", "/api/rules/backtest", `{"definition":`+def(1000, `,"threshold":{"count":5,"within":"1h"}`)+`}`)
	bt = httpxtest.Decode[rules.BacktestResult](t, rec)
	require.Equal(t, 30, bt.Scanned)
	require.Equal(t, 20, bt.Matched)
	require.Equal(t, 4, bt.Fired, "every 5th match fires")
	require.False(t, bt.Truncated)
}

// TestGroupOfEventsInOneTransaction: the worker evaluates a whole group of
// events in one transaction (HandleTx). A stateless rule fires for each
// event, once; a threshold rule counts the group's own earlier events, so
// six events of one user with a threshold of two fire exactly three times.
func TestGroupOfEventsInOneTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	rec := b.call(t, "POST", "/api/rules", `{"name":"pairs","definition":`+def(0, `,"threshold":{"count":2,"within":"1h","groupBy":"payload.userId"}`)+`}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	pairs := httpxtest.Decode[ruleView](t, rec)
	rec = b.call(t, "POST", "/api/rules", `{"name":"every","definition":`+def(0, "")+`}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	every := httpxtest.Decode[ruleView](t, rec)

	evs := make([]events.Event, 6)
	for i := range evs {
		in, err := events.ParseInput([]byte(fmt.Sprintf(`{"type":"order.created","payload":{"userId":"u1","amount":%d}}`, i)), "")
		require.NoError(t, err)
		res, err := b.events.Ingest(t.Context(), b.tenant.ID, in)
		require.NoError(t, err)
		evs[i] = res.Event
	}
	require.NoError(t, pg.InTx(t.Context(), b.db, func(tx *sqlx.Tx) error { return b.rules.HandleTx(t.Context(), tx, evs) }))
	// The same group again (a job worked twice): nothing new.
	require.NoError(t, pg.InTx(t.Context(), b.db, func(tx *sqlx.Tx) error { return b.rules.HandleTx(t.Context(), tx, evs) }))

	count := func(ruleID string, fired bool) int {
		var n int
		require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM rule_matches WHERE rule_id = $1 AND fired = $2`, ruleID, fired))
		return n
	}
	require.Equal(t, 6, count(every.ID.String(), true), "the stateless rule: one firing per event")
	require.Equal(t, 3, count(pairs.ID.String(), true), "the threshold rule: one firing per pair")
	require.Equal(t, 3, count(pairs.ID.String(), false))
}
