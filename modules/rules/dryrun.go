package rules

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/platform/apperr"
)

// definitionFor resolves the definition a dry run or backtest evaluates:
// the one given, or the current version of a stored rule (then stored is
// its key, so the dry run can read the rule's history).
func (s *Service) definitionFor(ctx context.Context, tenantID uuid.UUID, raw json.RawMessage, ruleID *uuid.UUID) (c *Compiled, stored *versionKey, err error) {
	switch {
	case len(raw) > 0 && ruleID != nil:
		return nil, nil, apperr.Invalid("invalid_request", "Give either definition or ruleId, not both.",
			apperr.FieldError{Field: "ruleId", Message: "not allowed together with definition"})
	case ruleID != nil:
		r, err := s.repo.Get(ctx, s.db, tenantID, *ruleID, false)
		if err != nil {
			return nil, nil, err
		}
		k := versionKey{r.ID, r.Version}
		c, err := s.compiled(ctx, s.db, tenantID, k)
		return c, &k, err
	case len(raw) > 0:
		def, err := parseDefinition(raw, s.digestMinWindow, false)
		if err != nil {
			return nil, nil, err
		}
		c, err := Compile(def)
		return c, nil, err
	default:
		return nil, nil, apperr.Invalid("invalid_request", "Give a definition or a ruleId.",
			apperr.FieldError{Field: "definition", Message: "is required when ruleId is absent"})
	}
}

// TestResult is a dry run's answer, in the words of an event's matches
// (GET /api/events/{id}): whether the rule would fire for this event now
// and, if not, why. Nothing is stored or sent.
type TestResult struct {
	Matched  bool      `json:"matched"`
	Failed   string    `json:"failed,omitempty"` // the first condition that did not hold, and why
	Fired    bool      `json:"fired"`
	Reason   *string   `json:"reason"`
	GroupKey string    `json:"groupKey,omitempty"`
	Actions  []Planned `json:"actions"`
	// Note says what the answer could not take into account.
	Note string `json:"note,omitempty"`
}

// noHistoryNote explains a dry run of a definition that is not stored.
const noHistoryNote = "the definition is not a stored rule: thresholds, cooldowns and digests are judged as for the group's first event"

// Test evaluates a definition (or stored rule) against one event as if it
// arrived now. For a stored rule, thresholds, cooldowns and open digests
// are read from its history (without locking: a concurrent event may
// change the answer); a bare definition has no history.
func (s *Service) Test(ctx context.Context, tenantID uuid.UUID, raw json.RawMessage, ruleID *uuid.UUID, in events.Input) (TestResult, error) {
	c, stored, err := s.definitionFor(ctx, tenantID, raw, ruleID)
	if err != nil {
		return TestResult{}, err
	}
	now := time.Now().UTC()
	occurred := now
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
	res := TestResult{Actions: []Planned{}}
	res.Matched, res.Failed = c.Explain(&subj)
	if !res.Matched {
		return res, nil
	}
	res.GroupKey = c.GroupKey(&subj)
	snap := notify.EventSnapshot{Type: in.Type, Source: in.Source, OccurredAt: occurred.UTC(), Payload: in.Payload}
	res.Actions = c.plan(ctx, &subj, snap)
	def := c.Definition()
	v := verdict{fire: true}
	if def.Threshold != nil || def.Cooldown > 0 {
		var last *time.Time
		count := func(time.Time) (int, *time.Time, error) { return 0, nil, nil }
		if stored != nil {
			if last, err = s.repo.LastFired(ctx, s.db, tenantID, stored.rule, res.GroupKey); err != nil {
				return res, err
			}
			count = func(after time.Time) (int, *time.Time, error) {
				return s.repo.CountMatches(ctx, s.db, tenantID, stored.rule, res.GroupKey, after)
			}
		}
		if v, err = judge(def, now, last, count); err != nil {
			return res, err
		}
	}
	if stored == nil && (def.Threshold != nil || def.Cooldown > 0 || c.hasDigest()) {
		res.Note = noHistoryNote
	}
	if !v.fire {
		res.Reason = &v.reason
		return res, nil
	}
	var reasons []string
	for i, a := range def.Actions {
		if a.Digest == nil {
			res.Fired = true
			continue
		}
		reason := digestReasonUnsaved
		if stored != nil {
			id, err := s.repo.OpenDigestOf(ctx, s.db, tenantID, stored.rule, stored.version, i, res.GroupKey)
			if err != nil {
				return res, err
			}
			if id != nil {
				reason = digestReason(*id)
			}
		}
		reasons = append(reasons, reason)
	}
	if len(reasons) > 0 {
		r := strings.Join(reasons, "; ")
		res.Reason = &r
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

// BacktestResult counts what would have fired, in the words of an
// event's matches: fired counts matches that would have sent something at
// once, collected those whose firing went into a digest (digests: how many
// digest messages that makes).
type BacktestResult struct {
	Scanned   int              `json:"scanned"`
	Matched   int              `json:"matched"`
	Fired     int              `json:"fired"`
	Collected int              `json:"collected"`
	Digests   int              `json:"digests"`
	Truncated bool             `json:"truncated"` // the limit stopped the scan before until
	Samples   []BacktestSample `json:"samples"`
}

// BacktestSample is one matched event: whether it would have fired and,
// if not, why (the first matched events, fired or not).
type BacktestSample struct {
	EventID    uuid.UUID `json:"eventId"`
	Type       string    `json:"type"`
	ReceivedAt time.Time `json:"receivedAt"`
	GroupKey   string    `json:"groupKey,omitempty"`
	Fired      bool      `json:"fired"`
	Reason     *string   `json:"reason"`
	Actions    []Planned `json:"actions"`
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
	c, _, err := s.definitionFor(ctx, tenantID, in.Definition, in.RuleID)
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
			v := sim.fire(group, e.ReceivedAt)
			fired := v.fire && sim.immediate
			switch {
			case fired:
				res.Fired++
			case v.fire: // every action is a digest
				v.reason = digestReasonUnsaved
			}
			if v.fire && sim.digests > 0 {
				res.Collected++
				res.Digests += sim.collect(group, e.ReceivedAt)
				if fired {
					v.reason = digestReasonUnsaved
				}
			}
			if len(res.Samples) < backtestMaxSamples {
				smp := BacktestSample{EventID: e.ID, Type: e.Type, ReceivedAt: e.ReceivedAt.UTC(), GroupKey: group,
					Fired: fired, Actions: c.plan(ctx, &subj, snapshot(e))}
				if v.reason != "" {
					smp.Reason = &v.reason
				}
				res.Samples = append(res.Samples, smp)
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

// simulator replays threshold and cooldown decisions in memory with the
// worker's judge, and digest windows by receipt time (a digest action's
// windows: per group, the digest actions share them in a backtest).
type simulator struct {
	def       Definition
	groups    map[string]*simGroup
	immediate bool // some action sends at once
	digests   int  // digest actions
	window    time.Duration
	max       int
}

type simGroup struct {
	lastFired *time.Time
	recent    []time.Time // matches since the last firing, at most count

	digestFrom  time.Time // the open digest's first firing
	digestCount int       // 0: no digest open
}

func newSimulator(def Definition) *simulator {
	s := &simulator{def: def, groups: make(map[string]*simGroup)}
	for _, a := range def.Actions {
		if a.Digest == nil {
			s.immediate = true
			continue
		}
		if s.digests == 0 || a.Digest.Window < s.window {
			s.window = a.Digest.Window
		}
		if s.digests == 0 || a.Digest.Max < s.max {
			s.max = a.Digest.Max
		}
		s.digests++
	}
	return s
}

func (s *simulator) group(key string) *simGroup {
	g := s.groups[key]
	if g == nil {
		g = &simGroup{}
		s.groups[key] = g
	}
	return g
}

// fire decides one match of a group received at.
func (s *simulator) fire(group string, at time.Time) verdict {
	if s.def.Threshold == nil && s.def.Cooldown == 0 {
		return verdict{fire: true, at: at}
	}
	g := s.group(group)
	v, _ := judge(s.def, at, g.lastFired, func(after time.Time) (int, *time.Time, error) {
		n := 0
		var latest time.Time
		for _, r := range g.recent {
			if r.After(after) {
				n++
				if r.After(latest) {
					latest = r
				}
			}
		}
		if n == 0 {
			return 0, nil, nil
		}
		return n, &latest, nil
	})
	if v.fire {
		t := v.at
		g.lastFired = &t
	}
	if t := s.def.Threshold; t != nil {
		// Every match counts for later thresholds, fired or not, as the
		// worker's stored matches do; count of them are enough to decide.
		g.recent = append(g.recent, at)
		if len(g.recent) > t.Count {
			g.recent = g.recent[len(g.recent)-t.Count:]
		}
	}
	return v
}

// collect adds a firing to its group's digest and returns how many digests
// that opened (0 or 1).
func (s *simulator) collect(group string, at time.Time) int {
	g := s.group(group)
	if g.digestCount > 0 && g.digestCount < s.max && at.Before(g.digestFrom.Add(s.window)) {
		g.digestCount++
		return 0
	}
	g.digestFrom, g.digestCount = at, 1
	return 1
}
