package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
)

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

// decodeValue decodes an operand the way NewSubject decodes payloads, with
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
