package events

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/signalops/signalops/platform/apperr"
)

// What validation costs, in estimated nanoseconds on the 2-core
// development machine (BenchmarkSchemaWorstCase measures the estimate
// against the real cost). A schema's cost is computed when it is saved; a
// payload's shape prices each validation before it runs. The estimate must
// not be below the real cost: it stands between a tenant's schema and the
// request goroutine.
//
// Without it, a 2 KB schema of 25 $defs each referring twice to the next
// took 68 s to validate one string (every $ref inlined: 2^25 subschemas),
// and one number such as 1e-999999 against "minimum" took 370 ms (exact
// comparison parses it as a big.Rat).
const (
	costNode        = 1_000  // one subschema applied to one value
	costEnumValue   = 100    // one enum or const value compared
	costNumber      = 10_000 // a number parsed as an exact rational (minimum…, multipleOf, "integer", numeric enum)
	costRegexFormat = 80_000 // "format": "regex" compiles the value
	costPerByte     = 12     // per pattern instruction and byte of string matched (`a.{0,90}b` measured 8)
	costUniqueValue = 1_000  // uniqueItems hashes each value below the array once
	costSaturated   = 1 << 50
)

// costVec holds a cost per payload depth (the payload object is depth 0).
type costVec [MaxPayloadDepth + 1]int64

// schemaCost bounds what validating against a schema costs, two ways;
// the smaller bound applies to a given payload.
//
//   - unrolled: every $ref inlined, each subschema applies to at most one
//     value, unless a step on its way from the root applies to every member
//     or item (items, additionalProperties, patternProperties,
//     propertyNames, contains, unevaluated*): then to each value at the
//     depth that step entered. Tight for wide schemas; explodes for
//     recursion through two properties (a binary tree).
//   - perValue: the most the subschemas applied to any one value at a
//     depth can cost (of sibling properties only one applies to a member),
//     times the values at that depth. Tight for recursive schemas.
//
// Work on string bytes and uniqueItems is bounded per value only.
type schemaCost struct {
	once     int64   // unrolled: ns of subschemas applied at most once
	perItem  costVec // unrolled: ns per value at depth d
	perValue costVec // ns on one value at depth d, at most
	perByte  costVec // ns per byte of a string (or member name) at depth d, at most
	unique   costVec // uniqueItems applied to one value at depth d, at most
}

func sat(n int64) int64 { return min(n, costSaturated) }

// payloadShape counts what a payload holds per depth: values, and bytes
// of strings and member names (a name counts at its value's depth).
type payloadShape struct {
	values      costVec
	stringBytes costVec
	total       int64
}

// estimate is the validation cost of a payload of shape p.
func (c *schemaCost) estimate(p *payloadShape) time.Duration {
	unrolled, perValue := c.once, int64(0)
	var other int64
	for d := range p.values {
		unrolled = sat(unrolled + sat(c.perItem[d]*min(p.values[d], 1<<20)))
		perValue = sat(perValue + sat(c.perValue[d]*min(p.values[d], 1<<20)))
		other = sat(other + sat(c.perByte[d]*min(p.stringBytes[d], 1<<20)) + sat(c.unique[d]*costUniqueValue*min(p.total, 1<<20)))
	}
	return time.Duration(sat(min(unrolled, perValue) + other))
}

// minimal is the cost of a payload with one value at each depth and no
// strings: a schema over budget for it is over budget for any payload.
func (c *schemaCost) minimal() time.Duration {
	var p payloadShape
	for d := range p.values {
		p.values[d] = 1
	}
	return c.estimate(&p)
}

type costKey struct {
	s     *jsonschema.Schema
	depth int
}

// costWalk walks a compiled schema as if every $ref were inlined and
// recursion unrolled to the payload's maximal depth, without building
// it: each (subschema, depth) is costed once and shared.
type costWalk struct {
	memo    map[costKey]*schemaCost
	walking map[costKey]bool
}

// estimate computes a compiled schema's cost, refusing one that no
// payload could be validated against within MaxValidationEst.
func estimate(sch *jsonschema.Schema) (schemaCost, error) {
	w := costWalk{memo: map[costKey]*schemaCost{}, walking: map[costKey]bool{}}
	c, err := w.cost(sch, 0)
	if err != nil {
		return schemaCost{}, err
	}
	return *c, nil
}

func (w *costWalk) cost(s *jsonschema.Schema, depth int) (*schemaCost, error) {
	k := costKey{s, depth}
	if c, ok := w.memo[k]; ok {
		return c, nil
	}
	if w.walking[k] {
		return nil, schemaError(apperr.FieldError{Field: schemaField(s.Location),
			Message: "is a $ref cycle that never reaches into the payload: it cannot be validated"})
	}
	w.walking[k] = true
	defer delete(w.walking, k)

	switch {
	case s.DraftVersion != 0 && s.DraftVersion != 2020:
		return nil, schemaError(apperr.FieldError{Field: schemaField(s.Location) + "/$schema",
			Message: "must be " + schemaDraft + " or absent: only JSON Schema 2020-12 is supported"})
	case s.DynamicRef != nil || s.RecursiveRef != nil:
		// A dynamic reference is resolved at validation time, so its cost
		// cannot be bounded here.
		return nil, schemaError(apperr.FieldError{Field: schemaField(s.Location) + "/$dynamicRef",
			Message: "is not supported in event type schemas; use $ref"})
	}

	c := &schemaCost{once: own(s)}
	c.perValue[depth] = c.once
	c.perByte[depth] = bytesCost(s)
	if s.UniqueItems {
		c.unique[depth] = 1
	}
	// Applied to the same value.
	self := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else}
	self = append(append(append(self, s.AllOf...), s.AnyOf...), s.OneOf...)
	for _, name := range sortedKeys(s.DependentSchemas) {
		self = append(self, s.DependentSchemas[name])
	}
	// Each applied to at most one member or item.
	named := slices.Clone(s.PrefixItems)
	for _, name := range sortedKeys(s.Properties) {
		named = append(named, s.Properties[name])
	}
	// Applied to every member or item (or member name).
	every := []*jsonschema.Schema{s.PropertyNames, s.Items2020, s.Contains, s.UnevaluatedProperties, s.UnevaluatedItems}
	if ap, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		every = append(every, ap)
	}
	for re, sub := range s.PatternProperties {
		every = append(every, sub)
		if depth < MaxPayloadDepth {
			c.perByte[depth+1] = sat(c.perByte[depth+1] + patternCost(re)) // matched against member names
		}
	}

	var maxNamed schemaCost // per depth, the costliest of the named subschemas
	for _, group := range []struct {
		subs  []*jsonschema.Schema
		depth int
		kind  int // 0 same value, 1 named, 2 every
	}{{self, depth, 0}, {named, depth + 1, 1}, {every, depth + 1, 2}} {
		if group.depth > MaxPayloadDepth {
			continue // no value that deep: never applied
		}
		for _, sub := range group.subs {
			if sub == nil {
				continue
			}
			sc, err := w.cost(sub, group.depth)
			if err != nil {
				return nil, err
			}
			once, perItem := sc.once, sc.perItem
			if group.kind == 2 {
				// What was applied once there is applied once per value at
				// group.depth.
				perItem[group.depth] = sat(perItem[group.depth] + once)
				once = 0
			}
			c.once = sat(c.once + once)
			for d := range c.perItem {
				c.perItem[d] = sat(c.perItem[d] + perItem[d])
				if group.kind == 1 {
					maxNamed.perValue[d] = max(maxNamed.perValue[d], sc.perValue[d])
					maxNamed.perByte[d] = max(maxNamed.perByte[d], sc.perByte[d])
					maxNamed.unique[d] = max(maxNamed.unique[d], sc.unique[d])
					continue
				}
				c.perValue[d] = sat(c.perValue[d] + sc.perValue[d])
				c.perByte[d] = sat(c.perByte[d] + sc.perByte[d])
				c.unique[d] = sat(c.unique[d] + sc.unique[d])
			}
		}
	}
	for d := range c.perValue {
		c.perValue[d] = sat(c.perValue[d] + maxNamed.perValue[d])
		c.perByte[d] = sat(c.perByte[d] + maxNamed.perByte[d])
		c.unique[d] = sat(c.unique[d] + maxNamed.unique[d])
	}
	if est := c.minimal(); est > MaxValidationEst {
		return nil, schemaError(apperr.FieldError{Field: schemaField(s.Location),
			Message: fmt.Sprintf("would take about %s to check against even a minimal payload (every $ref inlined, recursion to the payload's depth of %d), more than the %s allowed",
				est.Round(time.Millisecond), MaxPayloadDepth, MaxValidationEst)})
	}
	w.memo[k] = c
	return c, nil
}

// own is what applying s alone to one value costs, without its subschemas
// and without the per-byte work.
func own(s *jsonschema.Schema) int64 {
	ns := int64(costNode)
	values := func(vs []any) {
		for _, v := range vs {
			if _, ok := v.(json.Number); ok {
				ns += 2 * costNumber // both sides are parsed
			} else {
				ns += costEnumValue
			}
		}
	}
	if s.Enum != nil {
		values(s.Enum.Values)
	}
	if s.Const != nil {
		values([]any{*s.Const})
	}
	if s.Minimum != nil || s.Maximum != nil || s.ExclusiveMinimum != nil || s.ExclusiveMaximum != nil ||
		s.MultipleOf != nil || (s.Types != nil && slices.Contains(s.Types.ToStrings(), "integer")) {
		ns += costNumber
	}
	if s.Format != nil && s.Format.Name == "regex" {
		ns += costRegexFormat
	}
	return ns
}

// bytesCost is s's work per byte of a string value: its pattern, its
// format's parser, counting characters for min/maxLength.
func bytesCost(s *jsonschema.Schema) int64 {
	var n int64
	if s.Pattern != nil {
		n += patternCost(s.Pattern)
	}
	if s.Format != nil {
		n += 4 * costPerByte
	}
	if s.MinLength != nil || s.MaxLength != nil {
		n += costPerByte
	}
	return n
}

func patternCost(re jsonschema.Regexp) int64 {
	if b, ok := re.(boundedRegexp); ok {
		return int64(b.insts) * costPerByte
	}
	return MaxPatternInsts * costPerByte
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
