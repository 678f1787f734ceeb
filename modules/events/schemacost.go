package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/signalops/signalops/platform/apperr"
)

// What validation costs, in estimated nanoseconds on the 2-core
// development machine (measured by BenchmarkSchemaWorstCase). A schema's
// cost is fixed when it is saved; a payload's comes from its shape. The
// estimate must not be below the real cost: it stands between a tenant's
// schema and the request goroutine.
//
// Without it, a 2 KB schema of 25 $defs each referring twice to the next
// took 68 s to validate one string (every $ref inlined: 2^25 subschemas),
// and one number such as 1e-999999 against "minimum" took 370 ms (exact
// comparison parses it as a big.Rat).
const (
	costNode        = 300    // one subschema applied to one value
	costEnumValue   = 50     // one enum or const value compared
	costNumber      = 5_000  // a number parsed as an exact rational (minimum…, multipleOf, "integer", numeric enum)
	costRegexFormat = 30_000 // "format": "regex" compiles the value
	costPerByte     = 5      // per pattern instruction and byte of string matched
	costUniqueValue = 300    // uniqueItems hashes each value below the array once
)

// schemaCost is what validating against a schema costs for a payload of a
// given shape: each unrolled subschema is applied to each value at its
// depth at most once, and to at most one value when no step on its way
// from the root applies to every member or item (properties and
// prefixItems name one; items, additionalProperties, patternProperties,
// propertyNames, contains and unevaluated* apply to all).
type schemaCost struct {
	nodes   int                        // unrolled subschemas (the save-time budget)
	once    int64                      // ns of subschemas applied at most once
	perItem [MaxPayloadDepth + 1]int64 // ns per value at depth d, of subschemas below a step that applies to every value at d
	perByte int64                      // ns per byte of strings and member names (patterns, formats, lengths)
	unique  int64                      // uniqueItems subschemas: each hashes every value at most once
}

func (c *schemaCost) add(o *schemaCost) {
	c.nodes += o.nodes
	c.once += o.once
	for d := range c.perItem {
		c.perItem[d] += o.perItem[d]
	}
	c.perByte += o.perByte
	c.unique += o.unique
}

// payloadShape counts what a payload holds: values per depth (the payload
// object is depth 0), all values, and bytes of strings and member names.
type payloadShape struct {
	values      [MaxPayloadDepth + 1]int64
	total       int64
	stringBytes int64
}

// estimate is the validation cost of a payload of shape p.
func (c *schemaCost) estimate(p *payloadShape) time.Duration {
	ns := c.once + c.perByte*p.stringBytes + c.unique*costUniqueValue*p.total
	for d, n := range p.values {
		ns += c.perItem[d] * n
	}
	return time.Duration(ns)
}

type costKey struct {
	s     *jsonschema.Schema
	depth int
}

// costWalk unrolls a compiled schema (every $ref inlined, recursion cut
// at the payload's maximal depth) without building it: each (subschema,
// depth) is costed once and shared.
type costWalk struct {
	memo    map[costKey]*schemaCost
	walking map[costKey]bool
}

// estimate computes a compiled schema's cost, refusing what the budget
// does not allow.
func estimate(sch *jsonschema.Schema) (schemaCost, error) {
	w := costWalk{memo: map[costKey]*schemaCost{}, walking: map[costKey]bool{}}
	c, err := w.cost(sch, 0)
	if err != nil {
		return schemaCost{}, err
	}
	return *c, nil
}

func (w *costWalk) cost(s *jsonschema.Schema, depth int) (*schemaCost, error) {
	if depth > MaxPayloadDepth {
		return &schemaCost{}, nil // no value that deep: never applied
	}
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

	c := &schemaCost{nodes: 1, once: own(s)}
	c.perByte = bytesCost(s)
	if s.UniqueItems {
		c.unique = 1
	}
	// Applied to the same value.
	self := []*jsonschema.Schema{s.Ref, s.Not, s.If, s.Then, s.Else}
	self = append(append(append(self, s.AllOf...), s.AnyOf...), s.OneOf...)
	for _, name := range sortedKeys(s.DependentSchemas) {
		self = append(self, s.DependentSchemas[name])
	}
	// Applied to at most one member or item of each value.
	named := slices.Clone(s.PrefixItems)
	for _, name := range sortedKeys(s.Properties) {
		named = append(named, s.Properties[name])
	}
	// Applied to every member or item.
	every := []*jsonschema.Schema{s.PropertyNames, s.Items2020, s.Contains, s.UnevaluatedProperties, s.UnevaluatedItems}
	if ap, ok := s.AdditionalProperties.(*jsonschema.Schema); ok {
		every = append(every, ap)
	}
	for re, sub := range s.PatternProperties {
		every = append(every, sub)
		c.perByte += patternCost(re)
	}

	for _, group := range []struct {
		subs  []*jsonschema.Schema
		depth int
		every bool
	}{{self, depth, false}, {named, depth + 1, false}, {every, depth + 1, true}} {
		for _, sub := range group.subs {
			if sub == nil {
				continue
			}
			sc, err := w.cost(sub, group.depth)
			if err != nil {
				return nil, err
			}
			if !group.every {
				c.add(sc)
				continue
			}
			// Below a step applying to every value at group.depth: what
			// was "once" there happens once per such value.
			moved := *sc
			moved.perItem[group.depth] += moved.once
			moved.once = 0
			c.add(&moved)
		}
		if c.nodes > MaxSchemaNodes {
			return nil, schemaError(apperr.FieldError{Field: schemaField(s.Location),
				Message: fmt.Sprintf("expands to more than %d subschemas once every $ref is inlined (recursion counted to the payload's depth of %d)",
					MaxSchemaNodes, MaxPayloadDepth)})
		}
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

// decodePayload decodes a payload for validation (numbers kept exact) and
// measures its shape. A number longer than MaxNumberChars or beyond
// float64's range is refused: comparing it exactly would cost up to
// hundreds of milliseconds.
func decodePayload(payload json.RawMessage) (any, payloadShape, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		return nil, payloadShape{}, fmt.Errorf("decode payload: %w", err) // ParseInput accepted it: not the producer's fault
	}
	var p payloadShape
	var path []string
	var bad *apperr.FieldError
	var walk func(v any, depth int)
	walk = func(v any, depth int) {
		if bad != nil {
			return
		}
		p.total++
		p.values[min(depth, MaxPayloadDepth)]++
		switch v := v.(type) {
		case string:
			p.stringBytes += int64(len(v))
		case json.Number:
			_, err := strconv.ParseFloat(string(v), 64)
			if len(v) > MaxNumberChars || errors.Is(err, strconv.ErrRange) {
				bad = &apperr.FieldError{Field: pointer(path),
					Message: fmt.Sprintf("must have at most %d characters and lie within ±1.8e308 to be checked against the schema", MaxNumberChars)}
			}
		case map[string]any:
			for k, member := range v {
				p.stringBytes += int64(len(k))
				path = append(path, k)
				walk(member, depth+1)
				path = path[:len(path)-1]
			}
		case []any:
			for i, item := range v {
				path = append(path, strconv.Itoa(i))
				walk(item, depth+1)
				path = path[:len(path)-1]
			}
		}
	}
	walk(v, 0)
	if bad != nil {
		return nil, p, apperr.Invalid("schema_violation", "The payload holds a number that cannot be checked against its schema.", *bad)
	}
	return v, p, nil
}
