package cmd

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
)

func setLimits(t *testing.T, sys *system, tenant authtest.Tenant, soft, hard int) {
	t.Helper()
	_, err := sys.db.Exec(`UPDATE tenants SET soft_limit = $2, hard_limit = $3 WHERE id = $1`, tenant.ID, soft, hard)
	require.NoError(t, err)
}

// TestSoftAndHardLimits is the acceptance: soft=5 hard=8.
func TestSoftAndHardLimits(t *testing.T) {
	t.Parallel()
	sys := newTestSystem(t)
	router := sys.router()
	tenant := authtest.CreateTenant(t.Context(), t, sys.db, nil)
	setLimits(t, sys, tenant, 5, 8)

	for i := 1; i <= 9; i++ {
		rec := serveReq(router, "POST", "/api/events", fmt.Sprintf(`{"type":"a","payload":{"i":%d}}`, i), "x-api-key", tenant.APIKey)
		switch {
		case i <= 5:
			require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
			require.Empty(t, rec.Header().Get("X-Usage-Warning"), "event %d", i)
		case i <= 8:
			require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
			require.NotEmpty(t, rec.Header().Get("X-Usage-Warning"), "event %d", i)
		default:
			require.Equal(t, http.StatusTooManyRequests, rec.Code)
			require.Contains(t, rec.Body.String(), `"code":"quota_exceeded"`)
			require.NotEmpty(t, rec.Header().Get("Retry-After"))
			continue
		}
		require.Equal(t, "8", rec.Header().Get("X-Usage-Limit"))
		require.Equal(t, fmt.Sprint(8-i), rec.Header().Get("X-Usage-Remaining"))
		require.NotEmpty(t, rec.Header().Get("X-Usage-Reset"))
	}
	var events, notices, noticeEvents int
	require.NoError(t, sys.db.Get(&events, `SELECT count(*) FROM events WHERE type = 'a'`))
	require.NoError(t, sys.db.Get(&notices, `SELECT count(*) FROM usage_notices WHERE kind = 'soft_limit_reached'`))
	require.NoError(t, sys.db.Get(&noticeEvents, `SELECT count(*) FROM events WHERE type = 'usage.soft_limit_reached'`))
	require.Equal(t, 8, events, "the 9th is not stored")
	require.Equal(t, 1, notices)
	require.Equal(t, 1, noticeEvents)

	token := authtest.Token(t.Context(), t, sys.db, tenant.OwnerEmail)
	rec := serveReq(router, "GET", "/api/usage", "", "Authorization", "Bearer "+token)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var usage struct {
		Current struct {
			Events struct {
				Count              int64
				SoftLimit          int64
				HardLimit          int64
				PercentOfHard      float64
				SoftLimitReachedAt *string
			}
			EventsByDay []struct {
				Date  string
				Count int64
			}
		}
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &usage))
	require.Equal(t, int64(8), usage.Current.Events.Count)
	require.Equal(t, float64(100), usage.Current.Events.PercentOfHard)
	require.NotNil(t, usage.Current.Events.SoftLimitReachedAt)
	// The chart's series: one entry per day of the month, today holding
	// the 8 events.
	now := time.Now().UTC()
	days := usage.Current.EventsByDay
	require.Len(t, days, time.Date(now.Year(), now.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day())
	require.Equal(t, now.Format(time.DateOnly), days[now.Day()-1].Date)
	require.Equal(t, int64(8), days[now.Day()-1].Count)

	// Counters of other days (and of before days were recorded, day 0)
	// add to the month; only days 1–31 appear in the series.
	other := 1 + now.Day()%28 // another day of this month
	_, err := sys.db.Exec(`INSERT INTO usage_counters (tenant_id, period, day, metric, shard, count)
		VALUES ($1, date_trunc('month', now() AT TIME ZONE 'UTC')::date, $2, 'events', 0, 5),
		       ($1, date_trunc('month', now() AT TIME ZONE 'UTC')::date, 0, 'events', 0, 100)`, tenant.ID, other)
	require.NoError(t, err)
	rec = serveReq(router, "GET", "/api/usage", "", "Authorization", "Bearer "+token)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &usage))
	require.Equal(t, int64(113), usage.Current.Events.Count)
	require.Equal(t, int64(5), usage.Current.EventsByDay[other-1].Count)
	require.Equal(t, int64(8), usage.Current.EventsByDay[now.Day()-1].Count)

	rec = serveReq(router, "GET", "/api/usage/history?months=3", "", "Authorization", "Bearer "+token)
	require.Equal(t, http.StatusOK, rec.Code)
	rec = serveReq(router, "GET", "/api/usage/history?months=0", "", "Authorization", "Bearer "+token)
	require.Equal(t, http.StatusBadRequest, rec.Code)
}

// TestSoftLimitNoticeOnceUnderConcurrency: many requests crossing the soft
// limit at once, through two systems (two processes' caches), record one
// notice; the hard limit is overshot by at most the requests in flight.
func TestSoftLimitNoticeOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	sys := newTestSystem(t)
	other, err := wire(sys.db, sys.cfg, sys.logger)
	require.NoError(t, err)
	routers := []http.Handler{sys.router(), other.router()}
	tenant := authtest.CreateTenant(t.Context(), t, sys.db, &authtest.TenantOpts{Plan: new("enterprise")})
	setLimits(t, sys, tenant, 10, 40)

	const clients, perClient = 16, 4
	codes := concurrentCodes(clients, perClient, func(c, i int) *httptest.ResponseRecorder {
		return serveReq(routers[c%2], "POST", "/api/events", fmt.Sprintf(`{"type":"a","payload":{"c":%d,"i":%d}}`, c, i), "x-api-key", tenant.APIKey)
	})
	var events, notices int
	require.NoError(t, sys.db.Get(&events, `SELECT count(*) FROM events WHERE type = 'a'`))
	require.NoError(t, sys.db.Get(&notices, `SELECT count(*) FROM usage_notices`))
	require.Equal(t, 1, notices, "exactly one soft-limit notice")
	require.Equal(t, codes[http.StatusAccepted], events)
	require.GreaterOrEqual(t, events, 40, "nothing refused below the hard limit")
	require.LessOrEqual(t, events, 40+clients, "overshoot bounded by the requests in flight")
	require.Equal(t, clients*perClient, codes[http.StatusAccepted]+codes[http.StatusTooManyRequests], "%v", codes)
}
