package rules

import (
	"fmt"
	"strconv"
	"strings"
)

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
