package rules

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

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

func (n *node) eval(subj *Subject) bool {
	switch n.kind {
	case nodeLeaf:
		return n.leaf.eval(subj)
	case nodeAll:
		for _, k := range n.kids {
			if !k.eval(subj) {
				return false
			}
		}
		return true
	case nodeAny:
		for _, k := range n.kids {
			if k.eval(subj) {
				return true
			}
		}
		return false
	case nodeNot:
		return !n.kids[0].eval(subj)
	}
	return false
}

// explain evaluates like eval and, on failure, says where and why. It must
// agree with eval on every event.
func (n *node) explain(subj *Subject) (bool, string) {
	switch n.kind {
	case nodeLeaf:
		if n.leaf.eval(subj) {
			return true, ""
		}
		return false, n.path + ": " + n.leaf.desc + ": " + n.leaf.got(subj)
	case nodeAll:
		for _, k := range n.kids {
			if ok, why := k.explain(subj); !ok {
				return false, why
			}
		}
		return true, ""
	case nodeAny:
		whys := make([]string, 0, len(n.kids))
		for _, k := range n.kids {
			ok, why := k.explain(subj)
			if ok {
				return true, ""
			}
			whys = append(whys, why)
		}
		return false, fmt.Sprintf("%s: none of %d conditions matched (%s)", n.path, len(n.kids), strings.Join(whys, "; "))
	case nodeNot:
		if !n.kids[0].eval(subj) {
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
func (l *leaf) eval(subj *Subject) bool {
	switch l.field.kind {
	case fieldType:
		if subj.Type == "" {
			return l.missing()
		}
		return l.evalString(subj.Type)
	case fieldSource:
		if subj.Source == "" {
			return l.missing()
		}
		return l.evalString(subj.Source)
	case fieldOccurredAt:
		if subj.OccurredAt.IsZero() {
			return l.missing()
		}
		return l.evalTime(subj.OccurredAt)
	}
	v, ok := l.field.lookup(subj.Payload)
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
func (l *leaf) got(subj *Subject) string {
	switch l.field.kind {
	case fieldType:
		return "got " + strconv.Quote(truncate(subj.Type, 64))
	case fieldSource:
		if subj.Source == "" {
			return "source is missing"
		}
		return "got " + strconv.Quote(truncate(subj.Source, 64))
	case fieldOccurredAt:
		if subj.OccurredAt.IsZero() {
			return "occurredAt is missing"
		}
		return "got " + subj.OccurredAt.UTC().Format(time.RFC3339Nano)
	}
	v, ok := l.field.lookup(subj.Payload)
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
