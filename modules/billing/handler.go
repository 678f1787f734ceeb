package billing

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/httpx"
)

// PeriodUsage is one month of a tenant's usage.
type PeriodUsage struct {
	Period          string           `json:"period"` // 2026-11
	Start           time.Time        `json:"start"`
	End             time.Time        `json:"end"`
	Events          EventUsage       `json:"events"`
	RuleEvaluations int64            `json:"ruleEvaluations"`
	Notifications   map[string]int64 `json:"notifications"` // by channel kind, plus "total"
	// EventsByDay has one entry per day of the month, from the counters
	// (events counted before days were recorded are in Events.Count only).
	EventsByDay []DayCount `json:"eventsByDay"`
}

// DayCount is one UTC day's count.
type DayCount struct {
	Date  string `json:"date"` // 2026-11-03
	Count int64  `json:"count"`
}

// EventUsage is the event count against the limits that apply now.
type EventUsage struct {
	Count             int64      `json:"count"`
	SoftLimit         *int64     `json:"softLimit"`
	HardLimit         *int64     `json:"hardLimit"`
	PercentOfSoft     *float64   `json:"percentOfSoft"`
	PercentOfHard     *float64   `json:"percentOfHard"`
	SoftLimitNoticeAt *time.Time `json:"softLimitReachedAt"`
}

// History returns the last `months` periods, newest first.
func (s *Service) History(ctx context.Context, tenantID uuid.UUID, months int) ([]PeriodUsage, error) {
	l, err := s.limitsOf(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	soft, hard := l.soft, l.hard
	now := PeriodOf(s.now())
	from := now.AddDate(0, -(months - 1), 0)
	totals, err := s.repo.Totals(ctx, s.reads(), tenantID, from, now)
	if err != nil {
		return nil, err
	}
	out := make([]PeriodUsage, months)
	index := map[time.Time]int{}
	for i := range out {
		start := now.AddDate(0, -i, 0)
		index[start] = i
		out[i] = PeriodUsage{Period: start.Format("2006-01"), Start: start, End: start.AddDate(0, 1, 0),
			Notifications: map[string]int64{"total": 0}, Events: EventUsage{SoftLimit: soft, HardLimit: hard}}
		for d := start; d.Before(out[i].End); d = d.AddDate(0, 0, 1) {
			out[i].EventsByDay = append(out[i].EventsByDay, DayCount{Date: d.Format(time.DateOnly)})
		}
	}
	days, err := s.repo.DailyTotals(ctx, s.db, tenantID, from, now, MetricEvents)
	if err != nil {
		return nil, err
	}
	for _, d := range days {
		if i, ok := index[PeriodOf(d.Period)]; ok && d.Day >= 1 && d.Day <= len(out[i].EventsByDay) {
			out[i].EventsByDay[d.Day-1].Count = d.Count
		}
	}
	for _, t := range totals {
		i, ok := index[PeriodOf(t.Period)]
		if !ok {
			continue
		}
		p := &out[i]
		switch {
		case t.Metric == MetricEvents:
			p.Events.Count = t.Count
		case t.Metric == MetricRuleEvaluations:
			p.RuleEvaluations = t.Count
		case strings.HasPrefix(t.Metric, MetricNotifications):
			p.Notifications[strings.TrimPrefix(t.Metric, MetricNotifications)] = t.Count
			p.Notifications["total"] += t.Count
		}
	}
	for i := range out {
		e := &out[i].Events
		e.PercentOfSoft, e.PercentOfHard = percent(e.Count, soft), percent(e.Count, hard)
		if e.SoftLimitNoticeAt, err = s.repo.NoticeAt(ctx, s.db, tenantID, out[i].Start, NoticeSoftLimit); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func percent(n int64, limit *int64) *float64 {
	if limit == nil || *limit == 0 {
		return nil
	}
	p := float64(n) * 100 / float64(*limit)
	p = float64(int64(p*10)) / 10
	return &p
}

type handler struct{ svc *Service }

func (h handler) usage(c echo.Context) error {
	ctx := c.Request().Context()
	ps, err := h.svc.History(ctx, auth.TenantID(ctx), 2)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"current": ps[0], "previous": ps[1]})
}

func (h handler) history(c echo.Context) error {
	q := httpx.ReadQuery(c)
	months := q.Int("months", 12, 1, 36)
	if err := q.Err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	ps, err := h.svc.History(ctx, auth.TenantID(ctx), months)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"data": ps})
}
