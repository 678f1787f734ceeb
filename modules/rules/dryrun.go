package rules

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/apperr"
)

// definitionFor resolves the definition a dry run or backtest evaluates:
// the one given, or the current version of a stored rule.
func (s *Service) definitionFor(ctx context.Context, tenantID uuid.UUID, raw json.RawMessage, ruleID *uuid.UUID) (*Compiled, error) {
	switch {
	case len(raw) > 0 && ruleID != nil:
		return nil, apperr.Invalid("invalid_request", "Give either definition or ruleId, not both.",
			apperr.FieldError{Field: "ruleId", Message: "not allowed together with definition"})
	case ruleID != nil:
		r, err := s.repo.Get(ctx, s.db, tenantID, *ruleID, false)
		if err != nil {
			return nil, err
		}
		return s.compiled(ctx, s.db, tenantID, versionKey{r.ID, r.Version})
	case len(raw) > 0:
		def, err := ParseDefinition(raw)
		if err != nil {
			return nil, err
		}
		return Compile(def)
	default:
		return nil, apperr.Invalid("invalid_request", "Give a definition or a ruleId.",
			apperr.FieldError{Field: "definition", Message: "is required when ruleId is absent"})
	}
}

// TestResult is a dry run's answer. Nothing is stored or sent.
type TestResult struct {
	Matched  bool       `json:"matched"`
	Failed   string     `json:"failed,omitempty"` // the first condition that did not hold, and why
	GroupKey string     `json:"groupKey,omitempty"`
	Actions  []Rendered `json:"actions"`
	// Threshold and cooldown depend on history; a dry run evaluates one
	// event alone and says so.
	Note string `json:"note,omitempty"`
}

// Test evaluates a definition (or stored rule) against one event.
func (s *Service) Test(ctx context.Context, tenantID uuid.UUID, raw json.RawMessage, ruleID *uuid.UUID, in events.Input) (TestResult, error) {
	c, err := s.definitionFor(ctx, tenantID, raw, ruleID)
	if err != nil {
		return TestResult{}, err
	}
	occurred := time.Now().UTC()
	if in.OccurredAt != nil {
		occurred = *in.OccurredAt
	}
	source := ""
	if in.Source != nil {
		source = *in.Source
	}
	subj, err := NewSubject(in.Type, source, occurred, in.Payload)
	if err != nil {
		return TestResult{}, apperr.Invalid("validation_failed", "The event payload cannot be evaluated.",
			apperr.FieldError{Field: "event.payload", Message: err.Error()})
	}
	res := TestResult{Actions: []Rendered{}}
	res.Matched, res.Failed = c.Explain(&subj)
	if res.Matched {
		res.GroupKey = c.GroupKey(&subj)
		res.Actions = c.Render(ctx, &subj)
		if d := c.Definition(); d.Threshold != nil || d.Cooldown > 0 {
			res.Note = "threshold and cooldown are not applied to a single test event"
		}
	}
	return res, nil
}

// BacktestInput bounds a backtest: events received in [Since, Until), at
// most Limit of them scanned.
type BacktestInput struct {
	Definition json.RawMessage
	RuleID     *uuid.UUID
	Since      time.Time
	Until      time.Time
	Limit      int
}

// BacktestResult counts what would have fired.
type BacktestResult struct {
	Scanned   int              `json:"scanned"`
	Matched   int              `json:"matched"`
	Fired     int              `json:"fired"`
	Truncated bool             `json:"truncated"` // the limit stopped the scan before until
	Samples   []BacktestSample `json:"samples"`
}

// BacktestSample is one event that would have fired.
type BacktestSample struct {
	EventID    uuid.UUID  `json:"eventId"`
	Type       string     `json:"type"`
	ReceivedAt time.Time  `json:"receivedAt"`
	GroupKey   string     `json:"groupKey,omitempty"`
	Actions    []Rendered `json:"actions"`
}

const (
	backtestPage       = 500
	backtestMaxLimit   = 100_000
	backtestMaxSamples = 10
)

// Backtest replays stored events through a definition, oldest first, one page
// at a time: memory stays bounded by the page size plus one small state per
// group (thresholds keep at most `count` timestamps per group).
func (s *Service) Backtest(ctx context.Context, tenantID uuid.UUID, in BacktestInput) (BacktestResult, error) {
	if in.Limit <= 0 || in.Limit > backtestMaxLimit {
		return BacktestResult{}, apperr.Invalid("validation_failed", "The backtest is invalid.",
			apperr.FieldError{Field: "limit", Message: "must be from 1 to 100000"})
	}
	if !in.Until.After(in.Since) {
		return BacktestResult{}, apperr.Invalid("validation_failed", "The backtest is invalid.",
			apperr.FieldError{Field: "until", Message: "must be after since"})
	}
	c, err := s.definitionFor(ctx, tenantID, in.Definition, in.RuleID)
	if err != nil {
		return BacktestResult{}, err
	}
	def := c.Definition()
	sim := newSimulator(def)
	res := BacktestResult{Samples: []BacktestSample{}}
	after := uuid.Nil
	for res.Scanned < in.Limit {
		page, err := s.events.Scan(ctx, tenantID, in.Since, in.Until, after, min(backtestPage, in.Limit-res.Scanned))
		if err != nil {
			return res, err
		}
		for _, e := range page {
			res.Scanned++
			source := ""
			if e.Source != nil {
				source = *e.Source
			}
			subj, err := NewSubject(e.Type, source, e.OccurredAt, e.Payload)
			if err != nil || !c.Match(&subj) {
				continue
			}
			res.Matched++
			group := c.GroupKey(&subj)
			if !sim.fire(group, e.ReceivedAt) {
				continue
			}
			res.Fired++
			if len(res.Samples) < backtestMaxSamples {
				res.Samples = append(res.Samples, BacktestSample{EventID: e.ID, Type: e.Type,
					ReceivedAt: e.ReceivedAt.UTC(), GroupKey: group, Actions: c.Render(ctx, &subj)})
			}
		}
		if len(page) == 0 {
			return res, nil
		}
		after = page[len(page)-1].ID
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	more, err := s.events.Scan(ctx, tenantID, in.Since, in.Until, after, 1)
	if err != nil {
		return res, err
	}
	res.Truncated = len(more) > 0
	return res, nil
}

// simulator replays threshold and cooldown decisions in memory, the same
// way decide does against the database.
type simulator struct {
	def    Definition
	groups map[string]*simGroup
}

type simGroup struct {
	lastFired *time.Time
	recent    []time.Time // matches since the last firing, at most count
}

func newSimulator(def Definition) *simulator {
	return &simulator{def: def, groups: make(map[string]*simGroup)}
}

func (s *simulator) fire(group string, at time.Time) bool {
	if s.def.Threshold == nil && s.def.Cooldown == 0 {
		return true
	}
	g := s.groups[group]
	if g == nil {
		g = &simGroup{}
		s.groups[group] = g
	}
	if s.def.Cooldown > 0 && g.lastFired != nil && at.Before(g.lastFired.Add(s.def.Cooldown)) {
		g.recent = append(g.recent, at)
		s.trim(g)
		return false
	}
	if t := s.def.Threshold; t != nil {
		cut := at.Add(-t.Within)
		kept := g.recent[:0]
		for _, r := range g.recent {
			if r.After(cut) && (g.lastFired == nil || r.After(*g.lastFired)) {
				kept = append(kept, r)
			}
		}
		g.recent = kept
		if len(g.recent)+1 < t.Count {
			g.recent = append(g.recent, at)
			s.trim(g)
			return false
		}
	}
	g.lastFired = &at
	g.recent = g.recent[:0]
	return true
}

func (s *simulator) trim(g *simGroup) {
	if t := s.def.Threshold; t != nil && len(g.recent) > t.Count {
		g.recent = g.recent[len(g.recent)-t.Count:]
	}
}
