package rules

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Event is what a rule sees of an event. Payload holds the JSON payload as
// NewEvent decodes it, with json.Decoder.UseNumber: objects are
// map[string]any, arrays []any, numbers json.Number (their exact text), and
// strings, bools and nil as usual. Keeping numbers as text lets eq compare
// 2^60 and 2^60+1 exactly and lets templates print 10.50 as sent. Hand-built
// payloads may also hold float64 and integer types; they compare by value,
// through float64 where exactness is not possible.
type Event struct {
	Type       string
	Source     string // "" when the producer sent none
	OccurredAt time.Time
	Payload    map[string]any
}

// NewEvent decodes a stored event's payload once, for every rule of the
// tenant to read. An empty or null payload gives a nil Payload.
func NewEvent(typ, source string, occurredAt time.Time, payload json.RawMessage) (Event, error) {
	ev := Event{Type: typ, Source: source, OccurredAt: occurredAt}
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || string(p) == "null" {
		return ev, nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Event{}, fmt.Errorf("decode payload: %w", err)
	}
	if dec.More() {
		return Event{}, errors.New("decode payload: data after the object")
	}
	ev.Payload = m
	return ev, nil
}

// Compiled is a rule definition ready to evaluate: type pattern, condition
// tree with field paths split into steps, sets and regexes built, templates
// parsed. It is immutable and safe for concurrent use; build it once per
// rule version and cache it.
type Compiled struct {
	def     Definition
	typ     typeMatcher
	root    *node     // AND of match.all[...], match.any and match.not
	groupBy *fieldRef // nil when the rule has no threshold.groupBy
	actions []*action
}

// Compile validates def (as ParseDefinition does, for hand-built
// definitions too) and compiles it.
func Compile(def Definition) (*Compiled, error) {
	var p problems
	c := compiler{p: &p}
	out := c.compile(&def)
	if len(p.list) > 0 {
		return nil, p.err()
	}
	return out, nil
}

// CompileStored is Compile for a version that was valid when it was saved:
// an action whose template a check added since refuses (a printf format
// from the payload, say) compiles to an action that always fails,
// explained, instead of failing the whole rule.
func CompileStored(def Definition) (*Compiled, error) {
	var p problems
	c := compiler{p: &p, stored: true}
	out := c.compile(&def)
	if len(p.list) > 0 {
		return nil, p.err()
	}
	return out, nil
}

// Definition returns the definition the rule was compiled from.
func (c *Compiled) Definition() Definition { return c.def }

// Match reports whether ev matches the rule's match section. It does not
// allocate, except inside regexp when a pattern first needs more state.
func (c *Compiled) Match(ev *Event) bool {
	return c.typ.match(ev.Type) && c.root.eval(ev)
}

// Explain is Match for a dry run. When ev does not match, failed is the path
// of the first condition that failed and why, such as
// `match.all[0]: payload.amount gte 1000: got 20`. A failed "any" group
// lists why each of its conditions failed.
func (c *Compiled) Explain(ev *Event) (matched bool, failed string) {
	if !c.typ.match(ev.Type) {
		return false, fmt.Sprintf("match.type: type %q does not match %q", ev.Type, c.def.Match.Type)
	}
	return c.root.explain(ev)
}

// MissingGroup is the group key of an event whose groupBy field is absent,
// null or empty: such events count together.
const MissingGroup = "<missing>"

// maxGroupKeyBytes bounds group keys; longer values are replaced by a hash.
const maxGroupKeyBytes = 200

// GroupKey is the value of threshold.groupBy in ev, as a string: "" when the
// rule has no groupBy, MissingGroup when the field is absent, null or the
// empty string (as source is when a producer sends none). Strings
// are used as they are, numbers in one canonical spelling per value (5, 5.0
// and 5e0 group together), booleans as true/false, objects and arrays as compact JSON with
// sorted keys, occurredAt as RFC 3339. A key longer than 200 bytes becomes
// "sha256:" and the hex digest of the value, so keys stay cheap to store.
func (c *Compiled) GroupKey(ev *Event) string {
	if c.groupBy == nil {
		return ""
	}
	var s string
	switch c.groupBy.kind {
	case fieldType:
		s = ev.Type
	case fieldSource:
		s = ev.Source
	case fieldOccurredAt:
		if !ev.OccurredAt.IsZero() {
			s = ev.OccurredAt.UTC().Format(time.RFC3339Nano)
		}
	default:
		v, ok := c.groupBy.lookup(ev.Payload)
		if !ok || v == nil {
			return MissingGroup
		}
		s = keyText(v)
	}
	if s == "" {
		return MissingGroup
	}
	if len(s) > maxGroupKeyBytes {
		sum := sha256.Sum256([]byte(s))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return s
}

func keyText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		if d, ok := parseDec(string(x)); ok {
			return d.canonical()
		}
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case float64:
		if d, ok := parseDec(strconv.FormatFloat(x, 'g', -1, 64)); ok {
			return d.canonical()
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		if n, ok := intOf(v); ok {
			return strconv.FormatInt(n, 10)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
}

// compiler validates a typed Definition and builds its Compiled form. Paths
// in problems start with "definition."; paths kept for Explain do not.
type compiler struct {
	p     *problems
	conds int
	// stored compiles a version saved earlier: a template that a newer
	// check refuses becomes an action that fails with the reason, so the
	// rest of the rule (and every other rule) keeps working.
	stored bool
}

func (c *compiler) fail(path, msg string) { c.p.add("definition."+path, msg) }

func (c *compiler) compile(def *Definition) *Compiled {
	out := &Compiled{def: *def}
	c.match(&def.Match, out)
	if t := def.Threshold; t != nil {
		if t.Count < MinThresholdCount || t.Count > MaxThresholdCount {
			c.fail("threshold.count", fmt.Sprintf("must be an integer from %d to %d", MinThresholdCount, MaxThresholdCount))
		}
		if t.Within < MinDuration || t.Within > MaxDuration {
			c.fail("threshold.within", "must be between 1s and 31d")
		}
		if t.GroupBy != "" {
			f, msg := parseField(t.GroupBy)
			if msg != "" {
				c.fail("threshold.groupBy", msg)
			}
			out.groupBy = &f
		}
	}
	if def.Cooldown != 0 && (def.Cooldown < MinDuration || def.Cooldown > MaxDuration) {
		c.fail("cooldown", "must be between 1s and 31d")
	}
	switch {
	case len(def.Actions) == 0:
		c.fail("actions", "must have at least one action")
	case len(def.Actions) > MaxActions:
		c.fail("actions", fmt.Sprintf("must have at most %d actions", MaxActions))
	}
	for i, a := range def.Actions {
		at := fmt.Sprintf("actions[%d]", i)
		if a.ChannelID == uuid.Nil {
			c.fail(at+".channelId", "is required")
		}
		act, msg := compileAction(a)
		switch {
		case msg != "" && c.stored:
			act = &action{channelID: a.ChannelID, rejected: "template refused: " + msg}
		case msg != "":
			c.fail(at+".template", msg)
		}
		out.actions = append(out.actions, act)
	}
	return out
}

func (c *compiler) match(m *MatchSpec, out *Compiled) {
	if m.Type != "" {
		t, msg := compileType(m.Type)
		if msg != "" {
			c.fail("match.type", msg)
		}
		out.typ = t
	}
	root := &node{kind: nodeAll, path: "match"}
	if m.All != nil {
		if len(m.All) == 0 {
			c.fail("match.all", "must have at least one condition")
		}
		for i := range m.All {
			root.add(c.condition(fmt.Sprintf("match.all[%d]", i), &m.All[i], 1))
		}
	}
	if m.Any != nil {
		root.add(c.group("match.any", "match.any", nodeAny, m.Any, 0))
	}
	if m.Not != nil {
		if n := c.condition("match.not", m.Not, 1); n != nil {
			root.add(&node{kind: nodeNot, path: "match.not", kids: []*node{n}})
		}
	}
	out.root = root
}

const conditionShape = `must be either a condition with "field", "op" and "value", or a group with one of "all", "any" or "not"`

// condition compiles one condition at the given depth (1 for the items of
// match.all, match.any and match.not).
func (c *compiler) condition(path string, cond *Condition, depth int) *node {
	c.conds++
	if c.conds > MaxConditions {
		if c.conds == MaxConditions+1 {
			c.fail(path, fmt.Sprintf("a rule may have at most %d conditions", MaxConditions))
		}
		return nil
	}
	if depth > MaxDepth {
		c.fail(path, fmt.Sprintf("conditions nest deeper than %d levels", MaxDepth))
		return nil
	}
	leaf, group := cond.isLeaf(), cond.isGroup()
	switch {
	case leaf == group:
		c.fail(path, conditionShape)
		return nil
	case leaf:
		return c.leaf(path, cond)
	}
	groups := 0
	for _, set := range []bool{cond.All != nil, cond.Any != nil, cond.Not != nil} {
		if set {
			groups++
		}
	}
	if groups > 1 {
		c.fail(path, `a group must have exactly one of "all", "any" or "not"`)
		return nil
	}
	switch {
	case cond.All != nil:
		return c.group(path, path+".all", nodeAll, cond.All, depth)
	case cond.Any != nil:
		return c.group(path, path+".any", nodeAny, cond.Any, depth)
	default:
		inner := c.condition(path+".not", cond.Not, depth+1)
		if inner == nil {
			return nil
		}
		return &node{kind: nodeNot, path: path, kids: []*node{inner}}
	}
}

func (c *compiler) group(path, listPath string, kind nodeKind, list []Condition, depth int) *node {
	if len(list) == 0 {
		c.fail(listPath, "must have at least one condition")
	}
	n := &node{kind: kind, path: path}
	for i := range list {
		n.add(c.condition(fmt.Sprintf("%s[%d]", listPath, i), &list[i], depth+1))
	}
	return n
}

func (c *compiler) leaf(path string, cond *Condition) *node {
	l := &leaf{}
	fieldOK := false
	switch f, msg := parseField(cond.Field); {
	case cond.Field == "":
		c.fail(path+".field", "is required")
	case msg != "":
		c.fail(path+".field", msg)
	default:
		l.field, fieldOK = f, true
	}
	op, known := opcodes[cond.Op]
	switch {
	case cond.Op == "":
		c.fail(path+".op", "is required")
	case !known:
		c.fail(path+".op", fmt.Sprintf("unknown operator %q", cond.Op))
	case fieldOK && l.field.kind == fieldOccurredAt && !timeOps[op]:
		c.fail(path+".op", fmt.Sprintf("operator %s is not supported on occurredAt; use eq, ne, gt, gte, lt, lte or exists", cond.Op))
		known = false
	}
	if cond.Value == nil {
		c.fail(path+".value", "is required")
		return nil
	}
	v, err := decodeValue(cond.Value)
	if err != nil {
		c.fail(path+".value", "must be valid JSON")
		return nil
	}
	if !known {
		return nil
	}
	l.op = op
	if !c.operand(path, l, v) || !fieldOK || !c.fieldOperand(path, l) {
		return nil
	}
	var raw bytes.Buffer
	if json.Compact(&raw, cond.Value) != nil {
		raw.Write(cond.Value)
	}
	l.desc = cond.Field + " " + cond.Op + " " + truncate(raw.String(), 80)
	return &node{kind: nodeLeaf, path: path, leaf: l}
}

// timeOps are the operators occurredAt supports.
var timeOps = map[opcode]bool{opEq: true, opNe: true, opGt: true, opGte: true, opLt: true, opLte: true, opExists: true}

// decodeValue decodes an operand the way NewEvent decodes payloads, with
// numbers as json.Number.
func decodeValue(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("data after the value")
	}
	return v, nil
}

const scalarKinds = "must be a string, number, boolean or null"

// operand checks v against the operator and stores it in l. It reports at
// path+".value" and returns false on a problem.
func (c *compiler) operand(path string, l *leaf, v any) bool {
	at := path + ".value"
	switch l.op {
	case opEq, opNe, opContains:
		if !c.scalar(at, v, l) {
			c.fail(at, scalarKinds)
			return false
		}
	case opGt, opGte, opLt, opLte:
		switch v.(type) {
		case string, json.Number:
			return c.scalar(at, v, l)
		}
		c.fail(at, fmt.Sprintf("must be a number or a string for %s", l.op))
		return false
	case opIn, opNin:
		items, ok := v.([]any)
		switch {
		case !ok:
			c.fail(at, fmt.Sprintf("must be an array for %s", l.op))
			return false
		case len(items) == 0:
			c.fail(at, "must have at least one item")
			return false
		case len(items) > MaxSetItems:
			c.fail(at, fmt.Sprintf("must have at most %d items", MaxSetItems))
			return false
		}
		l.set = &valueSet{}
		good := true
		for i, item := range items {
			var one leaf
			if !c.scalar(fmt.Sprintf("%s[%d]", at, i), item, &one) {
				c.fail(fmt.Sprintf("%s[%d]", at, i), scalarKinds)
				good = false
				continue
			}
			l.set.add(&one)
		}
		return good
	case opStartsWith, opEndsWith:
		if _, ok := v.(string); !ok {
			c.fail(at, fmt.Sprintf("must be a string for %s", l.op))
			return false
		}
		return c.scalar(at, v, l)
	case opExists:
		b, ok := v.(bool)
		if !ok {
			c.fail(at, "must be true or false for exists")
			return false
		}
		l.b = b
	case opRegex:
		s, ok := v.(string)
		switch {
		case !ok:
			c.fail(at, "must be a string for regex")
			return false
		case len(s) > MaxRegexBytes:
			c.fail(at, fmt.Sprintf("must be at most %d bytes", MaxRegexBytes))
			return false
		}
		re, err := regexp.Compile(s)
		if err != nil {
			c.fail(at, "invalid regular expression: "+strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			return false
		}
		l.kind, l.str, l.re = vString, s, re
	}
	return true
}

// scalar stores a string, number, bool or null operand in l. It reports
// only strings that are too long; other kinds return false unreported.
func (c *compiler) scalar(at string, v any, l *leaf) bool {
	switch x := v.(type) {
	case string:
		if len(x) > MaxStringBytes {
			c.fail(at, fmt.Sprintf("must be at most %d bytes", MaxStringBytes))
			return true // reported; the caller must not report again
		}
		l.kind, l.str = vString, x
	case json.Number:
		n, ok := newNumber(string(x))
		if !ok {
			return false
		}
		l.kind, l.num = vNumber, n
	case bool:
		l.kind, l.b = vBool, x
	case nil:
		l.kind = vNull
	default:
		return false
	}
	return true
}

// fieldOperand applies the rules of the built-in fields: type and source
// are strings; occurredAt is a time, compared as one.
func (c *compiler) fieldOperand(path string, l *leaf) bool {
	name := l.field.name
	switch l.field.kind {
	case fieldType, fieldSource:
		if l.op == opExists {
			return true
		}
		if l.set != nil {
			if len(l.set.strs) != l.set.size {
				c.fail(path+".value", "must be an array of strings for "+name)
				return false
			}
			return true
		}
		if l.kind != vString {
			c.fail(path+".value", "must be a string for "+name)
			return false
		}
	case fieldOccurredAt:
		if l.op == opExists {
			return true
		}
		t, err := time.Parse(time.RFC3339Nano, l.str)
		if l.kind != vString || err != nil {
			c.fail(path+".value", `must be an RFC 3339 timestamp like "2024-05-01T12:00:00Z" for occurredAt`)
			return false
		}
		l.kind, l.t = vTime, t
	}
	return true
}

// opcode is a compiled operator.
type opcode uint8

const (
	opEq opcode = iota + 1
	opNe
	opGt
	opGte
	opLt
	opLte
	opIn
	opNin
	opContains
	opStartsWith
	opEndsWith
	opExists
	opRegex
)

var opcodes = map[string]opcode{
	"eq": opEq, "ne": opNe, "gt": opGt, "gte": opGte, "lt": opLt, "lte": opLte,
	"in": opIn, "nin": opNin, "contains": opContains, "startsWith": opStartsWith,
	"endsWith": opEndsWith, "exists": opExists, "regex": opRegex,
}

func (o opcode) String() string {
	for name, op := range opcodes {
		if op == o {
			return name
		}
	}
	return "?"
}

// holds reports whether a comparison result c satisfies an ordering operator.
func (o opcode) holds(c int) bool {
	switch o {
	case opGt:
		return c > 0
	case opGte:
		return c >= 0
	case opLt:
		return c < 0
	case opLte:
		return c <= 0
	}
	return false
}

type nodeKind uint8

const (
	nodeLeaf nodeKind = iota + 1
	nodeAll
	nodeAny
	nodeNot
)

// node is a compiled condition. path is its JSON path without the
// "definition." prefix, for Explain.
type node struct {
	kind nodeKind
	path string
	kids []*node
	leaf *leaf
}

func (n *node) add(kid *node) {
	if kid != nil {
		n.kids = append(n.kids, kid)
	}
}

func (n *node) eval(ev *Event) bool {
	switch n.kind {
	case nodeLeaf:
		return n.leaf.eval(ev)
	case nodeAll:
		for _, k := range n.kids {
			if !k.eval(ev) {
				return false
			}
		}
		return true
	case nodeAny:
		for _, k := range n.kids {
			if k.eval(ev) {
				return true
			}
		}
		return false
	case nodeNot:
		return !n.kids[0].eval(ev)
	}
	return false
}

// explain evaluates like eval and, on failure, says where and why. It must
// agree with eval on every event.
func (n *node) explain(ev *Event) (bool, string) {
	switch n.kind {
	case nodeLeaf:
		if n.leaf.eval(ev) {
			return true, ""
		}
		return false, n.path + ": " + n.leaf.desc + ": " + n.leaf.got(ev)
	case nodeAll:
		for _, k := range n.kids {
			if ok, why := k.explain(ev); !ok {
				return false, why
			}
		}
		return true, ""
	case nodeAny:
		whys := make([]string, 0, len(n.kids))
		for _, k := range n.kids {
			ok, why := k.explain(ev)
			if ok {
				return true, ""
			}
			whys = append(whys, why)
		}
		return false, fmt.Sprintf("%s: none of %d conditions matched (%s)", n.path, len(n.kids), strings.Join(whys, "; "))
	case nodeNot:
		if !n.kids[0].eval(ev) {
			return true, ""
		}
		return false, fmt.Sprintf("%s: not: %s matched", n.path, n.kids[0].summary())
	}
	return false, n.path + ": invalid condition"
}

func (n *node) summary() string {
	switch n.kind {
	case nodeLeaf:
		return n.leaf.desc
	case nodeAll:
		return fmt.Sprintf("all of %d conditions", len(n.kids))
	case nodeAny:
		return fmt.Sprintf("any of %d conditions", len(n.kids))
	default:
		return "not (" + n.kids[0].summary() + ")"
	}
}

type valueKind uint8

const (
	vString valueKind = iota + 1
	vNumber
	vBool
	vNull
	vTime
)

// leaf is a compiled leaf condition. Which operand fields are set depends
// on op and kind.
type leaf struct {
	field fieldRef
	op    opcode
	kind  valueKind // kind of the operand (none for in, nin and exists)
	str   string
	num   number
	b     bool // bool operand, or exists' true/false
	t     time.Time
	set   *valueSet
	re    *regexp.Regexp
	desc  string // "payload.amount gte 1000", for Explain
}

// eval is the semantics of one leaf:
//
//   - A missing field (absent key, index out of range, a path through a
//     non-object, no source) makes every operator false except ne and nin,
//     which are true, and exists:false, which is true. "Not equal to X" then
//     holds for events that lack the field, as in SQL's IS DISTINCT FROM.
//   - eq/ne compare JSON values of the same kind: numbers by value (1000
//     equals 1000.0, exactly for any size), strings, bools, null. Values of
//     different kinds are never equal, so ne is true.
//   - gt/gte/lt/lte compare two numbers, or two strings byte-wise (so
//     RFC 3339 UTC timestamps in payloads compare in time order); other
//     pairs are false. occurredAt compares as a time.
//   - in/nin: the value equals (as eq) one of the array's items / none.
//   - contains: a string contains the substring, or an array has an item
//     equal (as eq) to the value.
//   - startsWith/endsWith/regex apply to strings only; regex is RE2 and
//     unanchored (use ^ and $).
//   - exists: true when the field is present and not null.
func (l *leaf) eval(ev *Event) bool {
	switch l.field.kind {
	case fieldType:
		if ev.Type == "" {
			return l.missing()
		}
		return l.evalString(ev.Type)
	case fieldSource:
		if ev.Source == "" {
			return l.missing()
		}
		return l.evalString(ev.Source)
	case fieldOccurredAt:
		if ev.OccurredAt.IsZero() {
			return l.missing()
		}
		return l.evalTime(ev.OccurredAt)
	}
	v, ok := l.field.lookup(ev.Payload)
	if !ok {
		return l.missing()
	}
	if s, ok := v.(string); ok {
		return l.evalString(s)
	}
	return l.evalValue(v)
}

func (l *leaf) missing() bool {
	switch l.op {
	case opNe, opNin:
		return true
	case opExists:
		return !l.b
	}
	return false
}

func (l *leaf) evalString(s string) bool {
	switch l.op {
	case opEq:
		return l.kind == vString && s == l.str
	case opNe:
		return l.kind != vString || s != l.str
	case opGt, opGte, opLt, opLte:
		return l.kind == vString && l.op.holds(strings.Compare(s, l.str))
	case opIn:
		return l.set.hasString(s)
	case opNin:
		return !l.set.hasString(s)
	case opContains:
		return l.kind == vString && strings.Contains(s, l.str)
	case opStartsWith:
		return strings.HasPrefix(s, l.str)
	case opEndsWith:
		return strings.HasSuffix(s, l.str)
	case opExists:
		return l.b
	case opRegex:
		return l.re.MatchString(s)
	}
	return false
}

// evalValue evaluates a payload value that is not a string.
func (l *leaf) evalValue(v any) bool {
	switch l.op {
	case opEq:
		return l.equals(v)
	case opNe:
		return !l.equals(v)
	case opGt, opGte, opLt, opLte:
		if l.kind != vNumber {
			return false
		}
		c, ok := cmpNumber(v, &l.num)
		return ok && l.op.holds(c)
	case opIn:
		return l.set.has(v)
	case opNin:
		return !l.set.has(v)
	case opContains:
		if items, ok := v.([]any); ok {
			for _, item := range items {
				if l.equals(item) {
					return true
				}
			}
		}
		return false
	case opExists:
		return l.b == (v != nil)
	}
	return false // startsWith, endsWith and regex need a string
}

func (l *leaf) equals(v any) bool {
	switch x := v.(type) {
	case string:
		return l.kind == vString && x == l.str
	case nil:
		return l.kind == vNull
	case bool:
		return l.kind == vBool && x == l.b
	}
	if l.kind != vNumber {
		return false
	}
	c, ok := cmpNumber(v, &l.num)
	return ok && c == 0
}

func (l *leaf) evalTime(t time.Time) bool {
	c := t.Compare(l.t)
	switch l.op {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opExists:
		return l.b
	}
	return l.op.holds(c)
}

// got describes the event's value of l's field, for Explain.
func (l *leaf) got(ev *Event) string {
	switch l.field.kind {
	case fieldType:
		return "got " + strconv.Quote(truncate(ev.Type, 64))
	case fieldSource:
		if ev.Source == "" {
			return "source is missing"
		}
		return "got " + strconv.Quote(truncate(ev.Source, 64))
	case fieldOccurredAt:
		if ev.OccurredAt.IsZero() {
			return "occurredAt is missing"
		}
		return "got " + ev.OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	v, ok := l.field.lookup(ev.Payload)
	if !ok {
		return l.field.name + " is missing"
	}
	switch x := v.(type) {
	case string:
		return "got " + strconv.Quote(truncate(x, 64))
	case nil:
		return "got null"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "got " + truncate(fmt.Sprint(v), 64)
	}
	return "got " + truncate(string(b), 64)
}

// fieldRef is a compiled field: a built-in one, or a payload path split into
// steps.
type fieldRef struct {
	kind  fieldKind
	name  string // as written, for messages
	steps []step
}

type fieldKind uint8

const (
	fieldPayload fieldKind = iota
	fieldType
	fieldSource
	fieldOccurredAt
)

// step is one key (index < 0) or array index of a payload path.
type step struct {
	key   string
	index int
}

// lookup walks a payload path. ok is false when a key is absent, an index is
// out of range, or the path runs through a value of the wrong kind.
func (f *fieldRef) lookup(payload map[string]any) (any, bool) {
	v, ok := payload[f.steps[0].key]
	if !ok {
		return nil, false
	}
	for _, s := range f.steps[1:] {
		if s.index >= 0 {
			items, ok := v.([]any)
			if !ok || s.index >= len(items) {
				return nil, false
			}
			v = items[s.index]
			continue
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[s.key]; !ok {
			return nil, false
		}
	}
	return v, true
}

// parseField compiles a field name: type, source, occurredAt, or payload.
// followed by keys ([A-Za-z0-9_-]+) joined by dots, each key optionally
// followed by array indexes: payload.items[0].sku, payload.a.b[2][1]. It
// returns a problem message, or "".
func parseField(s string) (fieldRef, string) {
	switch s {
	case "type":
		return fieldRef{kind: fieldType, name: s}, ""
	case "source":
		return fieldRef{kind: fieldSource, name: s}, ""
	case "occurredAt":
		return fieldRef{kind: fieldOccurredAt, name: s}, ""
	case "payload":
		return fieldRef{}, `field "payload" needs a path, like payload.amount`
	}
	if len(s) > MaxFieldBytes {
		return fieldRef{}, fmt.Sprintf("must be at most %d bytes", MaxFieldBytes)
	}
	rest, ok := strings.CutPrefix(s, "payload.")
	if !ok {
		return fieldRef{}, fmt.Sprintf("unknown field %q: use type, source, occurredAt or payload.<path>", s)
	}
	f := fieldRef{kind: fieldPayload, name: s}
	for {
		end := strings.IndexAny(rest, ".[")
		if end < 0 {
			end = len(rest)
		}
		key := rest[:end]
		if key == "" {
			return fieldRef{}, fmt.Sprintf("invalid field %q: empty key", s)
		}
		if !validKey(key) {
			return fieldRef{}, fmt.Sprintf("invalid field %q: key %q may contain only letters, digits, _ and -", s, key)
		}
		f.steps = append(f.steps, step{key: key, index: -1})
		rest = rest[end:]
		for strings.HasPrefix(rest, "[") {
			close := strings.IndexByte(rest, ']')
			if close < 0 {
				return fieldRef{}, fmt.Sprintf("invalid field %q: missing ]", s)
			}
			num := rest[1:close]
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 || num == "" || num[0] == '+' || num[0] == '-' {
				return fieldRef{}, fmt.Sprintf("invalid field %q: index [%s] must be a non-negative integer", s, num)
			}
			if n > MaxPathIndex {
				return fieldRef{}, fmt.Sprintf("invalid field %q: index [%s] is larger than %d", s, num, MaxPathIndex)
			}
			f.steps = append(f.steps, step{index: n})
			rest = rest[close+1:]
		}
		if rest == "" {
			break
		}
		if rest[0] != '.' {
			return fieldRef{}, fmt.Sprintf("invalid field %q: expected . or [ after ]", s)
		}
		rest = rest[1:]
	}
	if len(f.steps) > MaxPathSteps {
		return fieldRef{}, fmt.Sprintf("invalid field %q: more than %d keys and indexes", s, MaxPathSteps)
	}
	return f, ""
}

func validKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// typeMatcher matches event types against match.type: "" matches every
// type; a pattern without wildcards matches exactly; otherwise the pattern
// and the type are split on dots, "*" matches exactly one segment and "**"
// any number of segments, including none ("order.**" matches "order").
type typeMatcher struct {
	exact string
	segs  []string // nil for exact patterns
	any   bool
}

func compileType(p string) (typeMatcher, string) {
	if len(p) > MaxTypeBytes {
		return typeMatcher{any: true}, fmt.Sprintf("must be at most %d characters", MaxTypeBytes)
	}
	segs := strings.Split(p, ".")
	wild, anyOnly := false, true
	for _, s := range segs {
		switch {
		case s == "*" || s == "**":
			wild = true
			anyOnly = anyOnly && s == "**"
			continue
		case s == "":
			return typeMatcher{any: true}, fmt.Sprintf("invalid type pattern %q: empty segment", p)
		case !validTypeSegment(s):
			return typeMatcher{any: true}, fmt.Sprintf("invalid type pattern %q: segment %q must be a name (letters, digits, _, : and -), * or **", p, s)
		}
		anyOnly = false
	}
	switch {
	case !wild:
		return typeMatcher{exact: p}, ""
	case anyOnly:
		return typeMatcher{any: true}, ""
	}
	return typeMatcher{segs: segs}, ""
}

func validTypeSegment(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

func (m *typeMatcher) match(t string) bool {
	switch {
	case m.any:
		return true
	case m.segs == nil:
		return m.exact == "" || t == m.exact
	}
	return globMatch(m.segs, t)
}

// globMatch is the classic wildcard match with one backtracking point, over
// segments instead of bytes: "**" plays "*" and "*" plays "?". It walks t in
// place, without splitting it.
func globMatch(segs []string, t string) bool {
	end := len(t) + 1 // ti == end: every segment of t is consumed
	pi, ti := 0, 0
	starP, starT := -1, 0
	for {
		if pi < len(segs) && segs[pi] == "**" {
			starP, starT = pi, ti
			pi++
			continue
		}
		if ti < end && pi < len(segs) {
			seg, next := segmentAt(t, ti)
			if segs[pi] == "*" || segs[pi] == seg {
				pi, ti = pi+1, next
				continue
			}
		} else if ti == end && pi == len(segs) {
			return true
		}
		if starP < 0 || starT == end {
			return false
		}
		_, starT = segmentAt(t, starT)
		pi, ti = starP+1, starT
	}
}

// segmentAt returns the segment of t starting at byte i and where the next
// one starts (len(t)+1 after the last).
func segmentAt(t string, i int) (string, int) {
	if j := strings.IndexByte(t[i:], '.'); j >= 0 {
		return t[i : i+j], i + j + 1
	}
	return t[i:], len(t) + 1
}

// valueSet is the compiled array of in/nin: hashed strings and integers,
// plus a short list for other numbers.
type valueSet struct {
	strs          map[string]struct{}
	ints          map[int64]struct{}
	nums          []number // non-integers and integers beyond int64
	null, yes, no bool
	size          int
}

func (s *valueSet) add(one *leaf) {
	s.size++
	switch one.kind {
	case vString:
		if s.strs == nil {
			s.strs = make(map[string]struct{})
		}
		s.strs[one.str] = struct{}{}
	case vNumber:
		if one.num.isInt {
			if s.ints == nil {
				s.ints = make(map[int64]struct{})
			}
			s.ints[one.num.i] = struct{}{}
		} else {
			s.nums = append(s.nums, one.num)
		}
	case vBool:
		if one.b {
			s.yes = true
		} else {
			s.no = true
		}
	case vNull:
		s.null = true
	}
}

func (s *valueSet) hasString(v string) bool {
	_, ok := s.strs[v]
	return ok
}

func (s *valueSet) has(v any) bool {
	switch x := v.(type) {
	case string:
		return s.hasString(x)
	case nil:
		return s.null
	case bool:
		if x {
			return s.yes
		}
		return s.no
	case json.Number:
		d, ok := parseDec(string(x))
		if !ok {
			return false
		}
		if i, ok := d.int64(); ok {
			_, hit := s.ints[i]
			return hit // an int64 integer cannot equal anything in nums
		}
		for k := range s.nums {
			if cmpDec(&d, &s.nums[k].d) == 0 {
				return true
			}
		}
		return false
	case float64:
		if x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 {
			if _, hit := s.ints[int64(x)]; hit {
				return true
			}
		}
		for k := range s.nums {
			if x == s.nums[k].f {
				return true
			}
		}
		return false
	}
	if i, ok := intOf(v); ok {
		_, hit := s.ints[i]
		return hit
	}
	return false
}

// number is a compiled numeric operand: its exact decimal form and the
// float64 and int64 views used for hand-built payloads and sets.
type number struct {
	d     dec
	f     float64
	i     int64
	isInt bool
}

func newNumber(text string) (number, bool) {
	d, ok := parseDec(text)
	if !ok {
		return number{}, false
	}
	f, _ := strconv.ParseFloat(text, 64) // ±Inf beyond float64's range
	i, isInt := d.int64()
	return number{d: d, f: f, i: i, isInt: isInt}, true
}

// cmpNumber compares a payload number with an operand. json.Number compares
// exactly; float64 compares as float64; integer types exactly against
// integer operands. ok is false when v is not a number.
func cmpNumber(v any, n *number) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		d, ok := parseDec(string(x))
		if !ok {
			return 0, false
		}
		return cmpDec(&d, &n.d), true
	case float64:
		return cmpFloat(x, n.f)
	case float32:
		return cmpFloat(float64(x), n.f)
	case uint64:
		return n.cmpUint(x)
	case uint:
		return n.cmpUint(uint64(x))
	}
	if i, ok := intOf(v); ok {
		return n.cmpInt(i), true
	}
	return 0, false
}

func (n *number) cmpInt(i int64) int {
	if n.isInt {
		return cmp.Compare(i, n.i)
	}
	c, _ := cmpFloat(float64(i), n.f)
	return c
}

func (n *number) cmpUint(u uint64) (int, bool) {
	switch {
	case u <= math.MaxInt64:
		return n.cmpInt(int64(u)), true
	case n.isInt:
		return 1, true // above every int64
	}
	return cmpFloat(float64(u), n.f)
}

func cmpFloat(a, b float64) (int, bool) {
	if math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return cmp.Compare(a, b), true
}

// intOf reads the signed and small unsigned integer types.
func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	}
	return 0, false
}

// dec is an exact view of a decimal number's text, without copying it:
// value = ±0.d₁d₂…dₙ × 10^exp, where the n significant digits are read from
// ip+fp after skipping lz leading zeros. Zero has n == 0. Exponents are
// clamped at ±10⁹, far beyond any float64.
type dec struct {
	neg    bool
	ip, fp string // integer and fraction digits as written
	lz, n  int
	exp    int
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseDec reads a JSON number (a leading '+' or a bare '.5' are accepted
// too, as they cost nothing).
func parseDec(s string) (dec, bool) {
	var d dec
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		d.neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	d.ip = s[start:i]
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		d.fp = s[start:i]
	}
	if len(d.ip)+len(d.fp) == 0 {
		return dec{}, false
	}
	e := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start = i
		for i < len(s) && isDigit(s[i]) {
			e = min(e*10+int(s[i]-'0'), 1e9)
			i++
		}
		if i == start {
			return dec{}, false
		}
		if eneg {
			e = -e
		}
	}
	if i != len(s) {
		return dec{}, false
	}
	total := len(d.ip) + len(d.fp)
	lz := 0
	for lz < total && d.at(lz) == '0' {
		lz++
	}
	if lz == total {
		return dec{ip: d.ip, fp: d.fp}, true // zero, and -0 == 0
	}
	tz := 0
	for d.at(total-1-tz) == '0' {
		tz++
	}
	d.lz, d.n, d.exp = lz, total-lz-tz, len(d.ip)-lz+e
	return d, true
}

// at is byte k of ip+fp.
func (d *dec) at(k int) byte {
	if k < len(d.ip) {
		return d.ip[k]
	}
	return d.fp[k-len(d.ip)]
}

// digit is significant digit k (0-based).
func (d *dec) digit(k int) byte { return d.at(d.lz + k) }

func (d *dec) sign() int {
	switch {
	case d.n == 0:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

func cmpDec(a, b *dec) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb || sa == 0 {
		return cmp.Compare(sa, sb)
	}
	m := 0
	switch {
	case a.exp != b.exp:
		m = cmp.Compare(a.exp, b.exp)
	default:
		for k := 0; k < a.n && k < b.n && m == 0; k++ {
			m = cmp.Compare(a.digit(k), b.digit(k))
		}
		if m == 0 {
			m = cmp.Compare(a.n, b.n)
		}
	}
	return m * sa
}

// canonical spells d one way per value: 5 for 5.0 and 5e0, 12.5, 0.001,
// and 1.5e+30 or 1e-7 when plain digits would run long.
func (d *dec) canonical() string {
	if d.n == 0 {
		return "0"
	}
	digits := make([]byte, d.n)
	for k := range digits {
		digits[k] = d.digit(k)
	}
	var b strings.Builder
	if d.neg {
		b.WriteByte('-')
	}
	switch {
	case d.exp >= d.n && d.exp <= 21:
		b.Write(digits)
		b.WriteString(strings.Repeat("0", d.exp-d.n))
	case d.exp > 0 && d.exp < d.n:
		b.Write(digits[:d.exp])
		b.WriteByte('.')
		b.Write(digits[d.exp:])
	case d.exp <= 0 && d.exp > -6:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -d.exp))
		b.Write(digits)
	default:
		b.WriteByte(digits[0])
		if d.n > 1 {
			b.WriteByte('.')
			b.Write(digits[1:])
		}
		b.WriteString("e")
		if d.exp-1 > 0 {
			b.WriteByte('+')
		}
		b.WriteString(strconv.Itoa(d.exp - 1))
	}
	return b.String()
}

// int64 returns the value when it is an integer that fits in int64.
func (d *dec) int64() (int64, bool) {
	if d.n == 0 {
		return 0, true
	}
	if d.exp < d.n || d.exp > 19 {
		return 0, false
	}
	var u uint64
	for k := 0; k < d.exp; k++ {
		var digit uint64
		if k < d.n {
			digit = uint64(d.digit(k) - '0')
		}
		if u > (math.MaxUint64-digit)/10 {
			return 0, false
		}
		u = u*10 + digit
	}
	switch {
	case d.neg && u == 1<<63:
		return math.MinInt64, true
	case u > math.MaxInt64:
		return 0, false
	case d.neg:
		return -int64(u), true
	}
	return int64(u), true
}
