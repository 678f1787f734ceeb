package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signalops/signalops/modules/notify"
)

// Notification workflows of an action (SPEC §10) and the lineage
// vocabulary (SPEC §9): whether a match fired and, if not, why. The worker,
// the dry run and the backtest all say it with the functions here.
//
//	{"channelId": "A", "template": "…", "fallback": ["B", "C"],
//	 "digest": {"window": "10m", "max": 50}}
//
// fallback: notify tries B when the delivery to A fails for good, then C
// (notify/fallback.go). digest: the action's firings are collected per rule
// group and sent as one message (digest.go).

// Limits of the workflow members of an action.
const (
	MinDigestWindow = time.Minute
	MaxDigestWindow = 24 * time.Hour
	MinDigestMax    = 2
	MaxDigestMax    = 1000
	// MinDigestWindowFloor is the shortest window any configuration may
	// allow (DIGEST_MIN_WINDOW, for tests).
	MinDigestWindowFloor = time.Second
)

// Digest makes an action collect its firings, per rule group, from the
// first one for Window or until Max are collected, and then send one
// message whose template sees .count and .events.
type Digest struct {
	Window time.Duration
	Max    int // MaxDigestMax when the definition leaves it out
}

// MarshalJSON writes the digest as a definition spells it.
func (g Digest) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Window string `json:"window"`
		Max    int    `json:"max"`
	}{fmtDuration(g.Window), g.Max})
}

// UnmarshalJSON reads what MarshalJSON writes (dry-run and backtest
// answers, for clients in Go).
func (g *Digest) UnmarshalJSON(b []byte) error {
	var v struct {
		Window string `json:"window"`
		Max    int    `json:"max"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	w, ok := parseDuration(v.Window)
	if !ok {
		return fmt.Errorf("invalid digest window %q", v.Window)
	}
	g.Window, g.Max = w, v.Max
	return nil
}

var digestKeys = []string{"window", "max"}

// fallback decodes an action's fallback chain: channel ids, none of them
// the action's own channel (a cycle) or repeated, at most MaxChain-1.
func (d *decoder) fallback(path string, raw json.RawMessage, own uuid.UUID) []uuid.UUID {
	items, ok := d.array(path, raw)
	if !ok {
		return nil
	}
	if len(items) > notify.MaxChain-1 {
		d.p.add(path, fmt.Sprintf("a chain holds at most %d channels: the action's channelId and %d fallbacks",
			notify.MaxChain, notify.MaxChain-1))
		return nil
	}
	out := make([]uuid.UUID, 0, len(items))
	for i, item := range items {
		at := fmt.Sprintf("%s[%d]", path, i)
		s, ok := d.string(at, item)
		if !ok {
			continue
		}
		id, err := uuid.Parse(s)
		if err != nil || len(s) != 36 {
			d.p.add(at, "must be a UUID like \"0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8a\"")
			continue
		}
		if id == own {
			d.p.add(at, "cycle: the chain comes back to the action's own channelId")
		} else if j := slices.Index(out, id); j >= 0 {
			d.p.add(at, fmt.Sprintf("duplicate: the channel is already at %s[%d]", path, j))
		}
		out = append(out, id)
	}
	return out
}

// digest decodes an action's digest: window required, max optional.
func (d *decoder) digest(path string, raw json.RawMessage) *Digest {
	m, ok := d.object(path, raw, digestKeys)
	if !ok {
		return nil
	}
	g := &Digest{Max: MaxDigestMax}
	if v, ok := d.required(m, path, "window"); ok {
		if s, ok := d.string(path+".window", v); ok {
			w, ok := parseDuration(s)
			switch {
			case !ok:
				d.p.add(path+".window", fmt.Sprintf("invalid duration %q: use numbers with units s, m or h, like \"10m\" or \"1h30m\"", truncate(s, 64)))
			case w < d.minWindow || w > MaxDigestWindow:
				d.p.add(path+".window", fmt.Sprintf("must be between %s and 24h", fmtDuration(d.minWindow)))
			}
			g.Window = w
		}
	}
	if v := m["max"]; present(v) {
		n, ok := jsonInt(v)
		if !ok || n < MinDigestMax || n > MaxDigestMax {
			d.p.add(path+".max", fmt.Sprintf("must be an integer from %d to %d", MinDigestMax, MaxDigestMax))
		}
		g.Max = int(n)
	}
	return g
}

// fmtDuration spells a duration the way definitions do: "1m", "1h30m",
// "90s", "2d".
func fmtDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String() // "1h30m0s"
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Reasons a match did not fire, as GET /api/events/{id}, the dry run and
// the backtest say them.
func thresholdReason(n int, t *Threshold) string {
	return fmt.Sprintf("threshold %d of %d within %s", n, t.Count, fmtDuration(t.Within))
}

func cooldownReason(until time.Time) string {
	return "cooldown until " + until.UTC().Format(time.RFC3339)
}

func digestReason(deliveryID uuid.UUID) string { return "collected into digest " + deliveryID.String() }

// digestReasonUnsaved is the reason where no digest exists (dry runs and
// backtests store nothing).
const digestReasonUnsaved = "collected into a digest"

// verdict is what thresholds and cooldowns decide for one matching event.
type verdict struct {
	fire   bool
	at     time.Time // fire: the firing's stamp (the latest receipt it consumed)
	reason string    // !fire: why
}

// countFunc counts a group's matches received after a time, and the
// latest of their receipts.
type countFunc func(after time.Time) (int, *time.Time, error)

// judge applies threshold and cooldown to an event of a group received at
// now; lastFired is when the group last fired. The worker calls it under
// the group's row lock, a dry run of a stored rule without one.
func judge(def Definition, now time.Time, lastFired *time.Time, count countFunc) (verdict, error) {
	if def.Cooldown > 0 && lastFired != nil && now.Before(lastFired.Add(def.Cooldown)) {
		return verdict{reason: cooldownReason(lastFired.Add(def.Cooldown))}, nil
	}
	// The firing is stamped with the latest receive time it consumed, so
	// none of the matches it counted is counted again, whatever order the
	// group's events were processed in.
	at := now
	if t := def.Threshold; t != nil {
		after := now.Add(-t.Within)
		if lastFired != nil && lastFired.After(after) {
			after = *lastFired
		}
		n, latest, err := count(after)
		if err != nil {
			return verdict{}, err
		}
		if n+1 < t.Count {
			return verdict{reason: thresholdReason(n+1, t)}, nil
		}
		if latest != nil && latest.After(at) {
			at = *latest
		}
	}
	if lastFired != nil && lastFired.After(at) {
		at = *lastFired
	}
	return verdict{fire: true, at: at}, nil
}

// Planned is what one action of a firing does: send Message to ChannelID
// at once (then down Fallback when it fails for good), or, with Digest,
// collect the firing into a digest (Message is then a preview of a digest
// of this event alone, in dry runs and backtests).
type Planned struct {
	Rendered
	Fallback []uuid.UUID `json:"fallback,omitempty"`
	Digest   *Digest     `json:"digest,omitempty"`
}

// hasDigest reports whether any action of the rule collects into a digest.
func (c *Compiled) hasDigest() bool {
	for _, a := range c.def.Actions {
		if a.Digest != nil {
			return true
		}
	}
	return false
}

// renderNow renders the actions a firing sends at once; digest actions
// are skipped (they are collected, and rendered when the digest goes out).
func (c *Compiled) renderNow(ctx context.Context, ev *Subject) []Planned {
	data := templateData(ev)
	out := make([]Planned, 0, len(c.actions))
	for i, a := range c.actions {
		spec := c.def.Actions[i]
		if spec.Digest != nil {
			continue
		}
		r := Rendered{ChannelID: a.channelID}
		r.Message, r.Error = a.render(ctx.Done(), data)
		out = append(out, Planned{Rendered: r, Fallback: spec.Fallback})
	}
	return out
}

// plan renders every action for a dry run or backtest: digest actions as
// a digest of this one event.
func (c *Compiled) plan(ctx context.Context, ev *Subject, snap notify.EventSnapshot) []Planned {
	data := templateData(ev)
	out := make([]Planned, len(c.actions))
	for i, a := range c.actions {
		spec := c.def.Actions[i]
		out[i] = Planned{Rendered: Rendered{ChannelID: a.channelID}, Fallback: spec.Fallback, Digest: spec.Digest}
		if spec.Digest != nil {
			out[i].Message, out[i].Error = c.renderDigest(ctx, i, []notify.EventSnapshot{snap})
		} else {
			out[i].Message, out[i].Error = a.render(ctx.Done(), data)
		}
	}
	return out
}

// renderDigest renders action i's template over a digest: .count and
// .events, oldest first, each {id, type, source, occurredAt, payload} as
// a single event's template sees them (payload numbers exactly as sent).
func (c *Compiled) renderDigest(ctx context.Context, i int, evs []notify.EventSnapshot) (msg, failed string) {
	items := make([]any, len(evs))
	for j, e := range evs {
		source := ""
		if e.Source != nil {
			source = *e.Source
		}
		var payload map[string]any
		if p := bytes.TrimSpace(e.Payload); len(p) > 0 && string(p) != "null" {
			dec := json.NewDecoder(bytes.NewReader(p))
			dec.UseNumber()
			if err := dec.Decode(&payload); err != nil {
				payload = nil // stored payloads are JSON objects; never expected
			}
		}
		if payload == nil {
			payload = map[string]any{}
		}
		items[j] = map[string]any{
			"id":         e.ID.String(),
			"type":       e.Type,
			"source":     source,
			"occurredAt": e.OccurredAt.UTC().Format(time.RFC3339Nano),
			"payload":    payload,
		}
	}
	return c.actions[i].render(ctx.Done(), map[string]any{"count": len(evs), "events": items})
}
