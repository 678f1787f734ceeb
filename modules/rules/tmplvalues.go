package rules

// How template values print, index and compare: JSON data with exact
// numbers (json.Number), missing values and JSON null.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// null is a JSON null in templates: falsy, empty in range, printed "null".
// A plain nil stands for a missing value.
type null []struct{}

func (null) String() string { return "null" }

// MarshalJSON writes null.
func (null) MarshalJSON() ([]byte, error) { return []byte("null"), nil }

var jsonNull = null(nil)

// missing prints a missing value passed to print, printf or println.
type missing struct{}

func (missing) String() string { return "<missing>" }

func markMissing(args []any) []any {
	for i, a := range args {
		if a == nil {
			args[i] = missing{}
		}
	}
	return args
}

// tmplGet walks keys from recv. It returns nil when a key is absent or a
// value on the way is not an object, and jsonNull for a JSON null.
func tmplGet(recv any, keys ...string) any {
	v := recv
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if v, ok = m[k]; !ok {
			return nil
		}
	}
	if v == nil {
		return jsonNull
	}
	return v
}

// tmplIndex is index for JSON data: string keys into objects, integer
// indexes into arrays. An absent key or an index out of range is missing
// (nil), not an error.
func tmplIndex(item any, keys ...any) (any, error) {
	v := item
	for _, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			key, ok := k.(string)
			if !ok {
				return nil, fmt.Errorf("index of an object must be a string, not %s", kindName(k))
			}
			if v, ok = x[key]; !ok {
				return nil, nil
			}
		case []any:
			i, ok := indexOf(k)
			if !ok {
				return nil, fmt.Errorf("index of an array must be an integer, not %s", kindName(k))
			}
			if i < 0 || i >= int64(len(x)) {
				return nil, nil
			}
			v = x[i]
		case nil, null:
			return nil, nil
		default:
			return nil, fmt.Errorf("can't index %s", kindName(v))
		}
	}
	if v == nil {
		return jsonNull, nil
	}
	return v, nil
}

func indexOf(k any) (int64, bool) {
	if n, ok := k.(json.Number); ok {
		d, ok := parseDec(string(n))
		if !ok {
			return 0, false
		}
		return d.int64()
	}
	return intOf(k)
}

// text is how a value prints: strings and numbers as they are, objects and
// arrays as compact JSON.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return string(x)
	case null:
		return "null"
	case bool:
		return strconv.FormatBool(x)
	case map[string]any, []any:
		return compactJSON(x)
	}
	return fmt.Sprint(v)
}

func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// argText joins arguments the way the html, js and urlquery builtins do.
func argText(args []any) string {
	if len(args) == 1 {
		if s, ok := args[0].(string); ok {
			return s
		}
	}
	return fmt.Sprint(args...)
}

func tmplEq(a any, bs ...any) (bool, error) {
	if len(bs) == 0 {
		return false, errors.New("missing argument for comparison")
	}
	for _, b := range bs {
		if equalValues(a, b) {
			return true, nil
		}
	}
	return false, nil
}

func tmplNe(a, b any) (bool, error) { return !equalValues(a, b), nil }

// equalValues compares template values: numbers by value (json.Number from
// the payload against template literals), text with text, bools with
// bools. Missing, null and the literal nil equal each other and nothing
// else; values of different kinds are unequal rather than an error.
func equalValues(a, b any) bool {
	if isNothing(a) || isNothing(b) {
		return isNothing(a) && isNothing(b)
	}
	if da, ok := numericOf(a); ok {
		if db, ok := numericOf(b); ok {
			return cmpDec(&da, &db) == 0
		}
	}
	if sa, ok := textOf(a); ok {
		sb, ok := textOf(b)
		return ok && sa == sb
	}
	if ba, ok := a.(bool); ok {
		bb, ok := b.(bool)
		return ok && ba == bb
	}
	ta := reflect.TypeOf(a)
	return ta == reflect.TypeOf(b) && ta.Comparable() && safeEqual(a, b)
}

func safeEqual(a, b any) (eq bool) {
	defer func() {
		if recover() != nil {
			eq = false
		}
	}()
	return a == b
}

// tmplOrder is lt/le/gt/ge: numbers by value, text byte-wise. A missing or
// null operand makes the comparison false; other mixed kinds are an error.
func tmplOrder(a, b any, op opcode) (bool, error) {
	if isNothing(a) || isNothing(b) {
		return false, nil
	}
	if da, ok := numericOf(a); ok {
		if db, ok := numericOf(b); ok {
			return op.holds(cmpDec(&da, &db)), nil
		}
	}
	if sa, ok := textOf(a); ok {
		if sb, ok := textOf(b); ok {
			return op.holds(strings.Compare(sa, sb)), nil
		}
	}
	return false, fmt.Errorf("can't compare %s with %s", kindName(a), kindName(b))
}

// numericOf reads payload numbers and template number literals as exact
// decimals. Strings are not numbers, even when they look like one.
func numericOf(v any) (dec, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return dec{}, false
		}
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case float32:
		s = strconv.FormatFloat(float64(x), 'g', -1, 32)
	case uint, uint64, uintptr:
		s = fmt.Sprint(x)
	default:
		i, ok := intOf(v)
		if !ok {
			return dec{}, false
		}
		s = strconv.FormatInt(i, 10)
	}
	return parseDec(s)
}

func isNothing(v any) bool {
	_, isNull := v.(null)
	return v == nil || isNull
}

func textOf(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	}
	return "", false
}

func kindName(v any) string {
	switch v.(type) {
	case nil:
		return "a missing value"
	case null:
		return "null"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	if _, ok := numericOf(v); ok {
		return "a number"
	}
	return fmt.Sprintf("a %T", v)
}
