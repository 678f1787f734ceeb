package rules

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/tracing"
)

// Service is the rules use cases.
type Service struct {
	db      *sqlx.DB
	jobs    *river.Client[*sql.Tx] // insert-only: schedules rules.digest
	repo    repo
	events  *events.Service
	notify  *notify.Service  // nil: channels are not checked, no deliveries are made
	billing *billing.Service // nil: evaluations are not counted
	cache   *compiledCache
	logger  *slog.Logger
	// digestMinWindow is the shortest digest window a rule may be written
	// with: MinDigestWindow unless DIGEST_MIN_WINDOW (tests) lowers it.
	digestMinWindow time.Duration
}

// NewService returns the rules Service; jobs is the process's insert-only
// River client.
func NewService(db *sqlx.DB, jobs *river.Client[*sql.Tx], ev *events.Service, nt *notify.Service, bill *billing.Service, logger *slog.Logger) *Service {
	return &Service{db: db, jobs: jobs, events: ev, notify: nt, billing: bill, cache: newCompiledCache(), logger: logger,
		digestMinWindow: MinDigestWindow}
}

// SetDigestMinWindow lets rules be written with digest windows down to d
// (≥ MinDigestWindowFloor): DIGEST_MIN_WINDOW, for tests that cannot wait
// a minute. Stored rules keep working whatever it is set to.
func (s *Service) SetDigestMinWindow(d time.Duration) {
	s.digestMinWindow = max(d, MinDigestWindowFloor)
}

// Input creates or changes a rule; nil fields of a change stay as they are.
type Input struct {
	Name       *string
	Enabled    *bool
	Definition json.RawMessage
}

func (s *Service) validate(ctx context.Context, tenantID uuid.UUID, in Input, creating bool) (*Definition, error) {
	var fields []apperr.FieldError
	if in.Name != nil && (*in.Name == "" || len(*in.Name) > maxNameLen) {
		fields = append(fields, apperr.FieldError{Field: "name", Message: fmt.Sprintf("must be 1-%d characters", maxNameLen)})
	}
	if creating && in.Name == nil {
		fields = append(fields, apperr.FieldError{Field: "name", Message: "is required"})
	}
	if creating && len(in.Definition) == 0 {
		fields = append(fields, apperr.FieldError{Field: "definition", Message: "is required"})
	}
	var def *Definition
	if len(in.Definition) > 0 {
		d, err := parseDefinition(in.Definition, s.digestMinWindow, false)
		if e, ok := apperr.As(err); ok {
			fields = append(fields, e.Fields...)
		} else if err != nil {
			return nil, err
		} else {
			def = &d
		}
	}
	if def != nil && s.notify != nil {
		var ids []uuid.UUID
		for _, a := range def.Actions {
			ids = append(append(ids, a.ChannelID), a.Fallback...)
		}
		missing, err := s.notify.MissingChannels(ctx, tenantID, ids)
		if err != nil {
			return nil, err
		}
		for i, a := range def.Actions {
			if slices.Contains(missing, a.ChannelID) {
				fields = append(fields, apperr.FieldError{Field: fmt.Sprintf("definition.actions[%d].channelId", i), Message: "no such channel"})
			}
			for j, id := range a.Fallback {
				if slices.Contains(missing, id) {
					fields = append(fields, apperr.FieldError{Field: fmt.Sprintf("definition.actions[%d].fallback[%d]", i, j), Message: "no such channel"})
				}
			}
		}
	}
	if len(fields) > 0 {
		return nil, apperr.Invalid("invalid_rule", "The rule is invalid.", fields...)
	}
	return def, nil
}

func userOf(p auth.Principal) *uuid.UUID {
	if p.UserID == uuid.Nil {
		return nil
	}
	id := p.UserID
	return &id
}

// Create stores a rule as version 1.
func (s *Service) Create(ctx context.Context, p auth.Principal, in Input) (Rule, error) {
	def, err := s.validate(ctx, p.TenantID, in, true)
	if err != nil {
		return Rule{}, err
	}
	r := Rule{TenantID: p.TenantID, Name: *in.Name, Enabled: true, Definition: def.Raw, CreatedBy: userOf(p)}
	if in.Enabled != nil {
		r.Enabled = *in.Enabled
	}
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error { return s.repo.Insert(ctx, tx, &r) })
	return r, err
}

// Get returns a rule at its current version.
func (s *Service) Get(ctx context.Context, tenantID, id uuid.UUID) (Rule, error) {
	return s.repo.Get(ctx, s.db, tenantID, id, false)
}

// List returns up to limit+1 rules, newest first.
func (s *Service) List(ctx context.Context, tenantID, before uuid.UUID, limit int) ([]Rule, error) {
	return s.repo.List(ctx, s.db, tenantID, before, limit+1)
}

// Update changes a rule. A new definition writes version N+1; name and
// enabled change in place.
func (s *Service) Update(ctx context.Context, p auth.Principal, id uuid.UUID, in Input) (Rule, error) {
	def, err := s.validate(ctx, p.TenantID, in, false)
	if err != nil {
		return Rule{}, err
	}
	var r Rule
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if r, err = s.repo.Get(ctx, tx, p.TenantID, id, true); err != nil {
			return err
		}
		if in.Name != nil {
			r.Name = *in.Name
		}
		if in.Enabled != nil {
			r.Enabled = *in.Enabled
		}
		r.UpdatedBy = userOf(p)
		if def != nil && !sameJSON(def.Raw, r.Definition) {
			r.Version++
			r.Definition = def.Raw
			if err := s.repo.InsertVersion(ctx, tx, p.TenantID, id, r.Version, def.Raw, r.UpdatedBy); err != nil {
				return err
			}
		}
		return s.repo.Update(ctx, tx, &r)
	})
	return r, err
}

// Rollback writes version N+1 equal to an earlier version.
func (s *Service) Rollback(ctx context.Context, p auth.Principal, id uuid.UUID, version int) (Rule, error) {
	var r Rule
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if r, err = s.repo.Get(ctx, tx, p.TenantID, id, true); err != nil {
			return err
		}
		old, err := s.repo.GetVersion(ctx, tx, p.TenantID, id, version)
		if err != nil {
			return err
		}
		// The old definition was valid when written; its channels may be gone.
		if _, err := s.validate(ctx, p.TenantID, Input{Definition: old.Definition}, false); err != nil {
			return err
		}
		r.Version++
		r.Definition = old.Definition
		r.UpdatedBy = userOf(p)
		if err := s.repo.InsertVersion(ctx, tx, p.TenantID, id, r.Version, old.Definition, r.UpdatedBy); err != nil {
			return err
		}
		return s.repo.Update(ctx, tx, &r)
	})
	return r, err
}

// Delete soft-deletes a rule: it stops matching; its versions and matches stay.
func (s *Service) Delete(ctx context.Context, p auth.Principal, id uuid.UUID) error {
	return s.repo.SoftDelete(ctx, s.db, p.TenantID, id, userOf(p))
}

// Versions lists every version of a rule, newest first.
func (s *Service) Versions(ctx context.Context, tenantID, id uuid.UUID) ([]Version, error) {
	if _, err := s.repo.Get(ctx, s.db, tenantID, id, false); err != nil {
		return nil, err
	}
	return s.repo.ListVersions(ctx, s.db, tenantID, id)
}

// MatchesOf lists the recorded matches of one event.
func (s *Service) MatchesOf(ctx context.Context, tenantID, eventID uuid.UUID) ([]Match, error) {
	return s.repo.MatchesOf(ctx, s.db, tenantID, eventID)
}

// DeleteExpired deletes the matches of events with the given retention
// below the before id: the events module calls it when it drops those
// events (events.Service.AddExpiry).
func (s *Service) DeleteExpired(ctx context.Context, retentionDays int, before uuid.UUID) (int64, error) {
	return s.repo.DeleteExpired(ctx, s.db, retentionDays, before)
}

// RelatedMatches adds an event's matches to its read view (wired into the
// events module by cmd).
func (s *Service) RelatedMatches(ctx context.Context, tenantID, eventID uuid.UUID, r *events.Related) error {
	ms, err := s.repo.MatchesOf(ctx, s.db, tenantID, eventID)
	if err != nil {
		return err
	}
	for _, m := range ms {
		r.Matches = append(r.Matches, events.MatchRef{RuleID: m.RuleID, RuleVersion: m.RuleVersion, Fired: m.Fired, Reason: m.Reason})
	}
	return nil
}

// compiled returns the compiled form of one stored version.
func (s *Service) compiled(ctx context.Context, q pg.Querier, tenantID uuid.UUID, k versionKey) (*Compiled, error) {
	if c, ok := s.cache.get(k); ok {
		return c, nil
	}
	v, err := s.repo.GetVersion(ctx, q, tenantID, k.rule, k.version)
	if err != nil {
		return nil, err
	}
	def, err := ParseStoredDefinition(v.Definition)
	if err != nil {
		return nil, fmt.Errorf("stored rule %s v%d no longer parses: %w", k.rule, k.version, err)
	}
	c, err := CompileStored(def)
	if err != nil {
		return nil, fmt.Errorf("compile rule %s v%d: %w", k.rule, k.version, err)
	}
	s.cache.put(k, c)
	return c, nil
}

// Fired is one rule firing for an event: the actions it sends at once,
// rendered, for notify (its digest actions were collected instead).
type Fired struct {
	RuleID      uuid.UUID
	RuleVersion int
	GroupKey    string
	Actions     []Planned
}

// HandleTx evaluates the tenants' rules against freshly processed events
// and hands every firing to notify (one delivery and its notify.deliver job
// per action), all in the caller's transaction: a group of events costs a
// handful of statements, not a handful per event.
func (s *Service) HandleTx(ctx context.Context, tx *sqlx.Tx, evs []events.Event) error {
	fired, err := s.evaluateTx(ctx, tx, evs)
	if err != nil || s.notify == nil {
		return err
	}
	var ds []notify.NewDelivery
	for i, e := range evs {
		if len(fired[i]) == 0 {
			continue
		}
		snap := snapshot(e)
		for _, f := range fired[i] {
			for _, a := range f.Actions {
				ds = append(ds, notify.NewDelivery{TenantID: e.TenantID, RuleID: f.RuleID, RuleVersion: f.RuleVersion,
					ChannelID: a.ChannelID, Fallback: a.Fallback, Message: a.Message, Failed: a.Error, Event: snap, RetentionDays: e.RetentionDays,
					Trace: e.Trace})
			}
		}
	}
	return s.notify.EnqueueTx(ctx, tx, ds)
}

// EvaluateTx evaluates the tenant's enabled rules against one stored event
// and records every match in tx (HandleTx without the deliveries).
func (s *Service) EvaluateTx(ctx context.Context, tx *sqlx.Tx, e events.Event) ([]Fired, error) {
	fired, err := s.evaluateTx(ctx, tx, []events.Event{e})
	if err != nil {
		return nil, err
	}
	return fired[0], nil
}

// candidate is a firing waiting for its match row to be inserted.
type candidate struct {
	event    int
	fired    Fired
	key      matchKey
	deferred bool // stateless: its match is inserted with the others at the end
}

// evaluateTx evaluates rules against events and records their matches,
// each with whether it fired and, if not, why; fired[i] are the firings of
// evs[i] that send something at once, in rule order. A rule without
// threshold or cooldown needs no state, so its matches are inserted
// together in one statement at the end. A stateful rule is decided under
// the row lock of its group, and its match is inserted at once, so that
// the next event of the same group, in this group or a concurrent one,
// counts it: concurrent events of one group can neither both fire nor
// both be missed. Digest actions are collected as their firings are
// decided (digest.go), before the match that names the digest is stored.
func (s *Service) evaluateTx(ctx context.Context, tx *sqlx.Tx, evs []events.Event) (_ [][]Fired, err error) {
	fired := make([][]Fired, len(evs))
	spans := startEvaluateSpans(ctx, evs)
	defer func() { endEvaluateSpans(spans, fired, err) }()
	tenants := make([]uuid.UUID, 0, 1)
	for _, e := range evs {
		if !slices.Contains(tenants, e.TenantID) {
			tenants = append(tenants, e.TenantID)
		}
	}
	active, err := s.repo.ListActiveMany(ctx, tx, tenants)
	if err != nil || len(active) == 0 {
		return fired, err
	}
	evaluations := make(map[uuid.UUID]int64, len(tenants))
	var cands []candidate
	var stateless []Match
	var col collector
	for i, e := range evs {
		rs := active[e.TenantID]
		if len(rs) == 0 {
			continue
		}
		evaluations[e.TenantID] += int64(len(rs))
		spans[i].SetAttributes(attribute.Int("signalops.rules.evaluated", len(rs)))
		source := ""
		if e.Source != nil {
			source = *e.Source
		}
		subj, err := NewSubject(e.Type, source, e.OccurredAt, e.Payload)
		if err != nil {
			return nil, fmt.Errorf("decode payload of event %s: %w", e.ID, err)
		}
		for _, a := range rs {
			c, err := s.compiled(ctx, tx, e.TenantID, versionKey{a.ID, a.Version})
			if err != nil {
				return nil, err
			}
			if !c.Match(&subj) {
				continue
			}
			group := c.GroupKey(&subj)
			def := c.Definition()
			m := Match{TenantID: e.TenantID, EventID: e.ID, RuleID: a.ID, RuleVersion: a.Version,
				GroupKey: group, ReceivedAt: e.ReceivedAt, Actions: json.RawMessage(`[]`), RetentionDays: e.RetentionDays}
			key := matchKey{e.ID, a.ID}
			isStateless := def.Threshold == nil && def.Cooldown == 0
			v := verdict{fire: true}
			if !isStateless {
				if v, err = s.decide(ctx, tx, e, a.ID, group, def); err != nil {
					return nil, err
				}
			}
			var planned []Planned
			if v.fire {
				planned = c.renderNow(ctx, &subj)
				m.Fired = len(planned) > 0
				if c.hasDigest() {
					reason, err := s.collectAllTx(ctx, tx, &col, e, a, group, def)
					if err != nil {
						return nil, err
					}
					m.Reason = &reason
				}
				if len(planned) > 0 {
					if m.Actions, err = json.Marshal(planned); err != nil {
						return nil, fmt.Errorf("encode rendered actions: %w", err)
					}
				}
			} else {
				m.Reason = &v.reason
			}
			f := Fired{RuleID: a.ID, RuleVersion: a.Version, GroupKey: group, Actions: planned}
			if isStateless {
				stateless = append(stateless, m)
				if m.Fired {
					cands = append(cands, candidate{event: i, key: key, deferred: true, fired: f})
				}
				continue
			}
			inserted, err := s.repo.InsertMatch(ctx, tx, &m)
			if err != nil {
				return nil, err
			}
			if inserted && m.Fired {
				cands = append(cands, candidate{event: i, key: key, fired: f})
			}
		}
	}
	var inserted map[matchKey]bool
	if len(stateless) > 0 {
		if inserted, err = s.repo.InsertMatches(ctx, tx, stateless); err != nil {
			return nil, err
		}
	}
	for _, c := range cands {
		if !c.deferred || inserted[c.key] {
			fired[c.event] = append(fired[c.event], c.fired)
		}
	}
	if err := s.scheduleTx(ctx, tx, &col); err != nil {
		return nil, err
	}
	// Counted last, so the counter rows stay locked for the shortest time.
	if s.billing != nil && len(evaluations) > 0 {
		ts := slices.SortedFunc(maps.Keys(evaluations), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		ns := make([]int64, len(ts))
		for i, t := range ts {
			ns[i] = evaluations[t]
		}
		if err := s.billing.CountManyTx(ctx, tx, ts, billing.MetricRuleEvaluations, ns); err != nil {
			return nil, err
		}
	}
	return fired, nil
}

// startEvaluateSpans starts one rules.evaluate span per event, each the
// child of its event's trace (events.Event.Trace: its event.process job's
// span), however many events share the transaction.
func startEvaluateSpans(ctx context.Context, evs []events.Event) []trace.Span {
	spans := make([]trace.Span, len(evs))
	tracer := tracing.Tracer()
	for i, e := range evs {
		pctx := ctx
		if e.Trace.IsValid() {
			pctx = trace.ContextWithSpanContext(ctx, e.Trace)
		}
		_, spans[i] = tracer.Start(pctx, "rules.evaluate", trace.WithAttributes(
			attribute.String("signalops.event.id", e.ID.String()), attribute.String("signalops.event.type", e.Type)))
	}
	return spans
}

// endEvaluateSpans ends them once the matches are stored, with how many
// rules fired for each event.
func endEvaluateSpans(spans []trace.Span, fired [][]Fired, err error) {
	for i, span := range spans {
		span.SetAttributes(attribute.Int("signalops.rules.fired", len(fired[i])))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
}

// collectAllTx collects a firing into the digest of each of the rule's
// digest actions and returns the match's reason naming them.
func (s *Service) collectAllTx(ctx context.Context, tx *sqlx.Tx, col *collector, e events.Event, a activeRule, group string, def Definition) (string, error) {
	var reasons []string
	for idx, act := range def.Actions {
		if act.Digest == nil {
			continue
		}
		id, err := s.collectTx(ctx, tx, col, e, a.ID, a.Version, group, idx, *act.Digest)
		if err != nil {
			return "", err
		}
		reasons = append(reasons, digestReason(id))
	}
	return strings.Join(reasons, "; "), nil
}

// decide applies threshold and cooldown (judge) and records a firing. The
// group's row lock is held until the transaction ends.
func (s *Service) decide(ctx context.Context, tx pg.Querier, e events.Event, ruleID uuid.UUID, group string, def Definition) (verdict, error) {
	lastFired, err := s.repo.LockGroup(ctx, tx, e.TenantID, ruleID, group)
	if err != nil {
		return verdict{}, err
	}
	v, err := judge(def, e.ReceivedAt, lastFired, func(after time.Time) (int, *time.Time, error) {
		return s.repo.CountMatches(ctx, tx, e.TenantID, ruleID, group, after)
	})
	if err != nil || !v.fire {
		return v, err
	}
	return v, s.repo.SetFired(ctx, tx, e.TenantID, ruleID, group, v.at)
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}
