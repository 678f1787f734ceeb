package rules

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

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

// Match reports whether subj matches the rule's match section. It does not
// allocate, except inside regexp when a pattern first needs more state.
func (c *Compiled) Match(subj *Subject) bool {
	return c.typ.match(subj.Type) && c.root.eval(subj)
}

// Explain is Match for a dry run. When subj does not match, failed is the path
// of the first condition that failed and why, such as
// `match.all[0]: payload.amount gte 1000: got 20`. A failed "any" group
// lists why each of its conditions failed.
func (c *Compiled) Explain(subj *Subject) (matched bool, failed string) {
	if !c.typ.match(subj.Type) {
		return false, fmt.Sprintf("match.type: type %q does not match %q", subj.Type, c.def.Match.Type)
	}
	return c.root.explain(subj)
}

// MissingGroup is the group key of an event whose groupBy field is absent,
// null or empty: such events count together.
const MissingGroup = "<missing>"

// maxGroupKeyBytes bounds group keys; longer values are replaced by a hash.
const maxGroupKeyBytes = 200

// GroupKey is the value of threshold.groupBy in subj, as a string: "" when the
// rule has no groupBy, MissingGroup when the field is absent, null or the
// empty string (as source is when a producer sends none). Strings
// are used as they are, numbers in one canonical spelling per value (5, 5.0
// and 5e0 group together), booleans as true/false, objects and arrays as compact JSON with
// sorted keys, occurredAt as RFC 3339. A key longer than 200 bytes becomes
// "sha256:" and the hex digest of the value, so keys stay cheap to store.
func (c *Compiled) GroupKey(subj *Subject) string {
	if c.groupBy == nil {
		return ""
	}
	var s string
	switch c.groupBy.kind {
	case fieldType:
		s = subj.Type
	case fieldSource:
		s = subj.Source
	case fieldOccurredAt:
		if !subj.OccurredAt.IsZero() {
			s = subj.OccurredAt.UTC().Format(time.RFC3339Nano)
		}
	default:
		v, ok := c.groupBy.lookup(subj.Payload)
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
