package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// Limits of one rule definition. They keep a definition cheap to store,
// compile and evaluate: a worker evaluates every enabled rule of a tenant for
// every event, so no single rule may cost much.
const (
	MaxDefinitionBytes = 64 << 10 // raw JSON of one definition
	MaxDepth           = 8        // nesting of conditions; match.all[0] is depth 1
	MaxConditions      = 64       // leaves and groups, counted together
	MaxSetItems        = 256      // items of an in/nin array
	MaxStringBytes     = 1024     // any string operand
	MaxRegexBytes      = 256      // a regex pattern
	MaxFieldBytes      = 256      // a field path such as payload.items[0].sku
	MaxPathSteps       = 32       // keys and indexes of one field path
	MaxPathIndex       = 100_000  // largest [n] in a field path
	MaxTypeBytes       = 128      // a type pattern, as long as an event type
	MaxActions         = 20
	MaxTemplateBytes   = 4 << 10
	MinThresholdCount  = 2
	MaxThresholdCount  = 10_000
	MinDuration        = time.Second
	MaxDuration        = 31 * 24 * time.Hour
)

// Definition is a validated rule definition: what ParseDefinition returns
// and Compile accepts. Raw keeps the JSON as the client sent it; stored as
// jsonb it reads back equivalent (key order and whitespace may differ).
type Definition struct {
	Raw       json.RawMessage
	Match     MatchSpec
	Threshold *Threshold    // nil: every matching event fires
	Cooldown  time.Duration // 0: no cooldown
	Actions   []Action
}

// MatchSpec is a definition's match section: it selects events. Type, All,
// Any and Not combine with AND; a MatchSpec with none of them selects every
// event. (Match, the type, is a recorded match.)
type MatchSpec struct {
	Type string // exact type or glob over dot-separated segments; "" = any type
	All  []Condition
	Any  []Condition
	Not  *Condition
}

// Condition is either a leaf (Field, Op, Value) or a group with exactly one
// of All, Any and Not. Value is kept as raw JSON so that an absent value and
// a JSON null stay distinct.
type Condition struct {
	Field string
	Op    string
	Value json.RawMessage
	All   []Condition
	Any   []Condition
	Not   *Condition
}

func (c *Condition) isLeaf() bool  { return c.Field != "" || c.Op != "" || c.Value != nil }
func (c *Condition) isGroup() bool { return c.All != nil || c.Any != nil || c.Not != nil }

// Threshold makes a rule fire only when Count matching events of one group
// arrive within Within.
type Threshold struct {
	Count   int
	Within  time.Duration
	GroupBy string // field path; "" counts the whole rule as one group
}

// Action is one notification: a channel and the text/template of its
// message, the channels to fall back on when that channel fails for good,
// and, when set, the digest that collects its firings (workflow.go).
type Action struct {
	ChannelID uuid.UUID
	Template  string
	Fallback  []uuid.UUID
	Digest    *Digest
}

// ParseDefinition decodes and validates a rule definition. Every problem is
// reported, each by its JSON path ("definition.match.all[1].op"), in one
// *apperr.Error of kind Invalid with code invalid_rule. Unknown and
// duplicate keys are problems too, so a typo such as "feild" cannot silently
// turn a condition off.
func ParseDefinition(raw json.RawMessage) (Definition, error) {
	return parseDefinition(raw, MinDigestWindow, false)
}

// ParseStoredDefinition is ParseDefinition for a version saved earlier: it
// is read back with the shortest digest window (it was checked when
// written), and templates that a check added since refuses do not fail it
// (see CompileStored).
func ParseStoredDefinition(raw json.RawMessage) (Definition, error) {
	return parseDefinition(raw, MinDigestWindowFloor, true)
}

// parseDefinition is ParseDefinition with another shortest digest window
// (tests may allow windows under a minute, Service), and for stored
// versions (see ParseStoredDefinition).
func parseDefinition(raw json.RawMessage, minWindow time.Duration, stored bool) (Definition, error) {
	var p problems
	switch {
	case len(raw) > MaxDefinitionBytes:
		p.add("definition", fmt.Sprintf("must be at most %d bytes", MaxDefinitionBytes))
		return Definition{}, p.err()
	case !json.Valid(raw):
		p.add("definition", "must be valid JSON")
		return Definition{}, p.err()
	case !utf8.Valid(raw):
		p.add("definition", "must be valid UTF-8")
		return Definition{}, p.err()
	}
	if msg := pg.JSONBProblem(raw); msg != "" {
		// PostgreSQL's jsonb, where definitions are stored, refuses (or
		// inflates) it: \u0000, an unpaired surrogate, a huge number.
		p.add("definition", msg)
		return Definition{}, p.err()
	}
	def := Definition{Raw: bytes.Clone(raw)}
	d := decoder{p: &p, minWindow: minWindow}
	d.definition(raw, &def)
	// The compiler checks what the decoder could read; problems at or under a
	// path the decoder already reported are dropped, so each is said once.
	c := compiler{p: &p, stored: stored}
	c.compile(&def)
	if len(p.list) > 0 {
		return Definition{}, p.err()
	}
	return def, nil
}

// problems collects field errors. Only the first problem at a path is kept,
// and none under a path that already has one.
type problems struct {
	list []apperr.FieldError
}

func (p *problems) add(path, msg string) {
	for _, f := range p.list {
		if f.Field == path || isUnder(path, f.Field) {
			return
		}
	}
	p.list = append(p.list, apperr.FieldError{Field: path, Message: msg})
}

func isUnder(path, parent string) bool {
	return len(path) > len(parent) && strings.HasPrefix(path, parent) &&
		(path[len(parent)] == '.' || path[len(parent)] == '[')
}

func (p *problems) err() error {
	return apperr.Invalid("invalid_rule", "The rule definition is invalid.", p.list...)
}

// decoder turns JSON into the typed Definition, checking shape: objects,
// arrays and strings where they belong, required and unknown keys. Value
// checks that do not depend on JSON (operators, ranges, templates) belong to
// the compiler, which also runs on hand-built definitions.
type decoder struct {
	p         *problems
	minWindow time.Duration // shortest digest window
}

var (
	definitionKeys = []string{"match", "threshold", "cooldown", "actions"}
	matchKeys      = []string{"type", "all", "any", "not"}
	conditionKeys  = []string{"field", "op", "value", "all", "any", "not"}
	thresholdKeys  = []string{"count", "within", "groupBy"}
	actionKeys     = []string{"channelId", "template", "fallback", "digest"}
)

// object reads a JSON object's members in order, reporting a non-object,
// duplicate keys and keys not in allowed. It returns the allowed members.
func (d *decoder) object(path string, raw json.RawMessage, allowed []string) (map[string]json.RawMessage, bool) {
	if jsonKind(raw) != '{' {
		d.p.add(path, "must be an object")
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		d.p.add(path, "must be an object")
		return nil, false
	}
	out := make(map[string]json.RawMessage)
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			d.p.add(path, "must be an object")
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			d.p.add(path, "must be an object")
			return nil, false
		}
		at := path + "." + key
		switch {
		case seen[key]:
			d.p.add(at, fmt.Sprintf("duplicate key %q", key))
		case !contains(allowed, key):
			d.p.add(at, unknownKey(key, allowed))
		default:
			out[key] = v
		}
		seen[key] = true
	}
	return out, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// unknownKey names an unknown key and, when one is close, the key the client
// probably meant.
func unknownKey(key string, allowed []string) string {
	msg := fmt.Sprintf("unknown field %q", key)
	best, bestDist := "", 3
	for _, a := range allowed {
		if d := editDistance(strings.ToLower(key), strings.ToLower(a)); d < bestDist {
			best, bestDist = a, d
		}
	}
	if best != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", best)
	}
	return msg
}

// editDistance is the Damerau–Levenshtein distance (adjacent swaps count
// one), enough to suggest "field" for "feild".
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

// jsonKind is the first byte of a JSON value: '{', '[', '"', 't', 'f', 'n',
// or a digit or '-' for numbers; 0 when raw is empty.
func jsonKind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// present reports whether an optional member is there; JSON null counts as
// absent, as clients that serialise optional fields as null expect.
func present(raw json.RawMessage) bool {
	return raw != nil && jsonKind(raw) != 'n'
}

// required returns the member key of the object at path, or adds "is
// required" at path.key when it is absent or null.
func (d *decoder) required(m map[string]json.RawMessage, path, key string) (json.RawMessage, bool) {
	v := m[key]
	if !present(v) {
		d.p.add(path+"."+key, "is required")
		return nil, false
	}
	return v, true
}

func (d *decoder) array(path string, raw json.RawMessage) ([]json.RawMessage, bool) {
	var items []json.RawMessage
	if jsonKind(raw) != '[' || json.Unmarshal(raw, &items) != nil {
		d.p.add(path, "must be an array")
		return nil, false
	}
	return items, true
}

func (d *decoder) string(path string, raw json.RawMessage) (string, bool) {
	var s string
	if jsonKind(raw) != '"' || json.Unmarshal(raw, &s) != nil {
		d.p.add(path, "must be a string")
		return "", false
	}
	return s, true
}

func (d *decoder) definition(raw json.RawMessage, def *Definition) {
	m, ok := d.object("definition", raw, definitionKeys)
	if !ok {
		return
	}
	if v, ok := d.required(m, "definition", "match"); ok {
		d.match("definition.match", v, &def.Match)
	}
	if v := m["threshold"]; present(v) {
		def.Threshold = d.threshold("definition.threshold", v)
	}
	if v := m["cooldown"]; present(v) {
		def.Cooldown, _ = d.duration("definition.cooldown", v)
	}
	if v, ok := d.required(m, "definition", "actions"); ok {
		d.actions("definition.actions", v, def)
	}
}

func (d *decoder) match(path string, raw json.RawMessage, match *MatchSpec) {
	m, ok := d.object(path, raw, matchKeys)
	if !ok {
		return
	}
	if v := m["type"]; present(v) {
		if s, ok := d.string(path+".type", v); ok {
			if s == "" {
				d.p.add(path+".type", "must not be empty; omit type to match every type")
			}
			match.Type = s
		}
	}
	match.All = d.conditions(path+".all", m["all"], 1)
	match.Any = d.conditions(path+".any", m["any"], 1)
	if v := m["not"]; present(v) {
		c := d.condition(path+".not", v, 1)
		match.Not = &c
	}
}

// conditions decodes a list of conditions at the given depth. An empty list
// comes back non-nil so that the compiler can reject it.
func (d *decoder) conditions(path string, raw json.RawMessage, depth int) []Condition {
	if !present(raw) {
		return nil
	}
	items, ok := d.array(path, raw)
	if !ok {
		return nil
	}
	out := make([]Condition, 0, len(items))
	for i, item := range items {
		out = append(out, d.condition(fmt.Sprintf("%s[%d]", path, i), item, depth))
	}
	return out
}

func (d *decoder) condition(path string, raw json.RawMessage, depth int) Condition {
	var c Condition
	if depth > MaxDepth {
		// Reading further would only cost time on an input that is rejected.
		d.p.add(path, fmt.Sprintf("conditions nest deeper than %d levels", MaxDepth))
		return c
	}
	m, ok := d.object(path, raw, conditionKeys)
	if !ok {
		return c
	}
	if v, ok := m["field"]; ok {
		c.Field, _ = d.string(path+".field", v)
	}
	if v, ok := m["op"]; ok {
		c.Op, _ = d.string(path+".op", v)
	}
	if v, ok := m["value"]; ok {
		c.Value = v
	}
	c.All = d.conditions(path+".all", m["all"], depth+1)
	c.Any = d.conditions(path+".any", m["any"], depth+1)
	if v := m["not"]; present(v) {
		n := d.condition(path+".not", v, depth+1)
		c.Not = &n
	}
	return c
}

func (d *decoder) threshold(path string, raw json.RawMessage) *Threshold {
	m, ok := d.object(path, raw, thresholdKeys)
	if !ok {
		return nil
	}
	t := &Threshold{}
	if v, ok := d.required(m, path, "count"); ok {
		n, ok := jsonInt(v)
		if !ok || n < MinThresholdCount || n > MaxThresholdCount {
			d.p.add(path+".count", fmt.Sprintf("must be an integer from %d to %d", MinThresholdCount, MaxThresholdCount))
		}
		t.Count = int(n)
	}
	if v, ok := d.required(m, path, "within"); ok {
		t.Within, _ = d.duration(path+".within", v)
	}
	if v := m["groupBy"]; present(v) {
		if s, ok := d.string(path+".groupBy", v); ok {
			if s == "" {
				d.p.add(path+".groupBy", "must not be empty; omit groupBy to count the whole rule as one group")
			}
			t.GroupBy = s
		}
	}
	return t
}

// jsonInt reads an integral JSON number ("5", "5.0", "5e0") that fits int32.
func jsonInt(raw json.RawMessage) (int64, bool) {
	k := jsonKind(raw)
	if k != '-' && (k < '0' || k > '9') {
		return 0, false
	}
	d, ok := parseDec(string(bytes.TrimSpace(raw)))
	if !ok {
		return 0, false
	}
	n, ok := d.int64()
	if !ok || n < -1<<31 || n > 1<<31-1 {
		return 0, false
	}
	return n, true
}

func (d *decoder) duration(path string, raw json.RawMessage) (time.Duration, bool) {
	s, ok := d.string(path, raw)
	if !ok {
		return 0, false
	}
	v, msg := checkDuration(s)
	if msg != "" {
		d.p.add(path, msg)
		return 0, false
	}
	return v, true
}

func (d *decoder) actions(path string, raw json.RawMessage, def *Definition) {
	items, ok := d.array(path, raw)
	if !ok {
		return
	}
	def.Actions = make([]Action, 0, min(len(items), MaxActions))
	for i, item := range items {
		if i == MaxActions {
			break // the compiler reports the count
		}
		at := fmt.Sprintf("%s[%d]", path, i)
		m, ok := d.object(at, item, actionKeys)
		if !ok {
			def.Actions = append(def.Actions, Action{})
			continue
		}
		var a Action
		if v, ok := d.required(m, at, "channelId"); ok {
			if s, ok := d.string(at+".channelId", v); ok {
				if id, err := uuid.Parse(s); err != nil || len(s) != 36 {
					d.p.add(at+".channelId", "must be a UUID like \"0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8a\"")
				} else {
					a.ChannelID = id
				}
			}
		}
		if v, ok := d.required(m, at, "template"); ok {
			a.Template, _ = d.string(at+".template", v)
		}
		if v := m["fallback"]; present(v) {
			a.Fallback = d.fallback(at+".fallback", v, a.ChannelID)
		}
		if v := m["digest"]; present(v) {
			a.Digest = d.digest(at+".digest", v)
		}
		def.Actions = append(def.Actions, a)
	}
	if len(items) > MaxActions {
		d.p.add(path, fmt.Sprintf("must have at most %d actions", MaxActions))
	}
}

// checkDuration parses a duration and checks its range. It returns a
// problem message, or "".
func checkDuration(s string) (time.Duration, string) {
	v, ok := parseDuration(s)
	if !ok {
		return 0, fmt.Sprintf("invalid duration %q: use numbers with units s, m, h or d, like \"10m\", \"1h30m\" or \"7d\"", truncate(s, 64))
	}
	if v < MinDuration || v > MaxDuration {
		return 0, "must be between 1s and 31d"
	}
	return v, ""
}

// parseDuration reads a Go duration restricted to the units s, m and h, plus
// d for 24 hours: "90s", "10m", "1h30m", "1.5h", "7d". Signs and the units
// ns, us and ms are not accepted: a rule's windows are human-scale.
func parseDuration(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	const limit = 100 * 365 * 24 * time.Hour // far above MaxDuration; avoids overflow
	var total time.Duration
	for rest := s; rest != ""; {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, false
		}
		num, unit := rest[:i], rest[i]
		rest = rest[i+1:]
		var part time.Duration
		switch unit {
		case 's', 'm', 'h':
			v, err := time.ParseDuration(num + string(unit))
			if err != nil {
				return 0, false
			}
			part = v
		case 'd':
			v, err := time.ParseDuration(num + "h")
			if err != nil || v > limit/24 {
				return 0, false
			}
			part = v * 24
		default:
			return 0, false
		}
		if part > limit || total > limit-part {
			return 0, false
		}
		total += part
	}
	return total, true
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut
// with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
