package rules

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"unicode/utf8"
	"unsafe"
)

// The budget of one render. A template is tenant input run on shared
// processes, so every function a template can call charges what it is
// about to allocate or touch BEFORE doing it (see docs/security.md):
//
//   - cost is counted in units of roughly one byte produced or touched,
//     plus callCost per function call; a render may spend maxRenderCost.
//     The largest single allocation a function can make is therefore
//     bounded by the budget, and so is the sum of all of them.
//   - printf formats come only from the template's own text (checked when
//     the rule is saved, see checkFormats), with widths and precisions of
//     at most maxFormatWidth and at most maxFormatVerbs verbs.
//   - range iterations are counted (maxRangeIterations), and starting a
//     range over a collection charges its length (map keys are sorted).
//   - the request's or job's context is checked on every call, so a
//     deadline stops a render that is still within budget.
const (
	maxRangeIterations = 10_000
	maxRenderCost      = 2 << 20
	callCost           = 64
)

// budgetError is a render stopped by its budget or its deadline: the whole
// action fails, explained, instead of sending a partial message.
type budgetError struct{ reason string }

func (e *budgetError) Error() string { return e.reason }

var (
	errBudget   = &budgetError{"the template exceeded its execution budget"}
	errDeadline = &budgetError{"the template ran past its deadline"}
)

// renderState is the budget of one render; the functions of one pooled
// template instance close over it.
type renderState struct {
	iterations int
	cost       int
	done       <-chan struct{}
	sized      map[sizedKey]sized // long strings and arrays sized in this render
}

func (st *renderState) reset(done <-chan struct{}) {
	sizes := st.sized
	clear(sizes)
	*st = renderState{done: done, sized: sizes}
}

// Sizing a value is linear in its length, and a template may pass the same
// long string or array to function after function ({{range}} over 10,000
// items comparing two 60 KB strings each time): charged by size alone,
// the accounting cost more than the comparisons (2.5 ms per render, most
// of it counting escapes). So a render sizes each long string or array
// once and remembers it by its address and length. The entry keeps the
// value, so its memory cannot be reused by another value of that address
// while the render runs.
const memoMin = 1024

// elemCost is what sizeOf charges per element of an array or key of an
// object, beyond the element's own size.
const elemCost = 64

type sizedKey struct {
	p unsafe.Pointer
	n int
}

type sized struct {
	keep any // the value sized: alive while its address is a key
	n    int
}

func (st *renderState) memo(k sizedKey, v any, size func() int) int {
	if e, ok := st.sized[k]; ok {
		return e.n
	}
	n := size()
	if st.sized == nil {
		st.sized = make(map[sizedKey]sized)
	}
	st.sized[k] = sized{keep: v, n: n}
	return n
}

// spend charges one call that will produce or touch n bytes.
func (st *renderState) spend(n int) error {
	if n < 0 || n > maxRenderCost {
		return errBudget
	}
	st.cost += callCost + n
	if st.cost > maxRenderCost {
		return errBudget
	}
	if st.done != nil {
		select {
		case <-st.done:
			return errDeadline
		default:
		}
	}
	return nil
}

func (st *renderState) funcs() template.FuncMap {
	return template.FuncMap{
		"_get":  st.get,
		"_show": st.show,
		"_tick": st.tick,
		"_iter": st.iter,
		"index": st.index,
		"eq":    st.eq,
		"ne":    st.ne,
		"lt":    func(a, b any) (bool, error) { return st.order(a, b, opLt) },
		"le":    func(a, b any) (bool, error) { return st.order(a, b, opLte) },
		"gt":    func(a, b any) (bool, error) { return st.order(a, b, opGt) },
		"ge":    func(a, b any) (bool, error) { return st.order(a, b, opGte) },
		"json":  st.json,
		"upper": func(v any) (any, error) { return st.mapText(v, strings.ToUpper) },
		"lower": func(v any) (any, error) { return st.mapText(v, strings.ToLower) },
		"print": func(args ...any) (string, error) {
			return st.sprint(fmt.Sprint, args, 1)
		},
		"println": func(args ...any) (string, error) {
			return st.sprint(fmt.Sprintln, args, 1)
		},
		"printf": st.printf,
		// html, js and urlquery write at most 6 bytes per byte they read
		// (js: \u003C; html: &#34;; urlquery: %XX).
		"html": func(args ...any) (string, error) {
			return st.escape(template.HTMLEscapeString, args)
		},
		"js": func(args ...any) (string, error) {
			return st.escape(template.JSEscapeString, args)
		},
		"urlquery": func(args ...any) (string, error) {
			return st.escape(url.QueryEscape, args)
		},
		"fixed":     st.fixed,
		"thousands": st.thousands,
		"date":      st.date,
		"default":   st.deflt,
		"truncate":  st.truncate,
	}
}

func (st *renderState) get(recv any, keys ...string) (any, error) {
	if err := st.spend(len(keys)); err != nil {
		return nil, err
	}
	return tmplGet(recv, keys...), nil
}

func (st *renderState) index(item any, keys ...any) (any, error) {
	if err := st.spend(len(keys)); err != nil {
		return nil, err
	}
	return tmplIndex(item, keys...)
}

func (st *renderState) tick() (string, error) {
	st.iterations++
	if st.iterations > maxRangeIterations {
		return "", errBudget
	}
	return "", st.spend(0)
}

// iter is the last command of every range pipeline: starting a range
// costs the length of what it ranges over (text/template sorts a map's
// keys first), whether or not the loop runs to its end.
func (st *renderState) iter(v any) (any, error) {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		n = len(x) * 64 // text/template sorts the keys through reflect
	case []any:
		n = len(x)
	case string:
		n = len(x)
	}
	return v, st.spend(n)
}

// show is the last command of every printing action.
func (st *renderState) show(name string, v any) (string, error) {
	if v == nil {
		return "<missing: " + name + ">", st.spend(len(name))
	}
	if err := st.spend(st.sizeOf(v)); err != nil {
		return "", err
	}
	return text(v), nil
}

func (st *renderState) json(v any) (any, error) {
	if v == nil {
		return nil, nil // stays missing, so the action prints a marker
	}
	if err := st.spend(st.sizeOf(v)); err != nil {
		return nil, err
	}
	return compactJSON(v), nil
}

// mapText is upper and lower: a rune's case mapping is at most three
// times its size in UTF-8.
func (st *renderState) mapText(v any, f func(string) string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if err := st.spend(3 * st.sizeOf(v)); err != nil {
		return nil, err
	}
	return f(text(v)), nil
}

func (st *renderState) escape(f func(string) string, args []any) (string, error) {
	if err := st.spend(6 * st.argsSize(args)); err != nil {
		return "", err
	}
	return f(argText(args)), nil
}

// sprint is print and println. fmt prints a map or an array at most a few
// bytes per element longer than its JSON (sizeOf counts that).
func (st *renderState) sprint(f func(...any) string, args []any, mult int) (string, error) {
	if err := st.spend(mult*st.argsSize(args) + 2*len(args)); err != nil {
		return "", err
	}
	return f(markMissing(args)...), nil
}

// printf formats with a format from the template's text (checkFormats
// refused any other when the rule was saved; it is parsed again here,
// which costs its length). Numbers print exactly (see fmtNumber.Format).
func (st *renderState) printf(format string, args ...any) (string, error) {
	verbs, err := parseFormat(format)
	if err != nil {
		return "", err
	}
	sizes := make([]int, len(args))
	est := len(format)
	for i, a := range args {
		sizes[i] = st.sizeOf(a)
		est += sizes[i] + 32 // an argument no verb uses is printed as %!(EXTRA …)
	}
	for _, v := range verbs {
		est += v.width + v.prec + 32
		if v.arg >= 0 && v.arg < len(args) {
			est += v.expansion() * sizes[v.arg]
		}
	}
	if err := st.spend(est); err != nil {
		return "", err
	}
	for i, a := range args {
		args[i] = formatArg(a)
	}
	return fmt.Sprintf(format, args...), nil
}

func (st *renderState) eq(a any, bs ...any) (bool, error) {
	if err := st.spend(st.argsSize(append(bs, a))); err != nil {
		return false, err
	}
	return tmplEq(a, bs...)
}

func (st *renderState) ne(a, b any) (bool, error) {
	if err := st.spend(st.sizeOf(a) + st.sizeOf(b)); err != nil {
		return false, err
	}
	return tmplNe(a, b)
}

func (st *renderState) order(a, b any, op opcode) (bool, error) {
	if err := st.spend(st.sizeOf(a) + st.sizeOf(b)); err != nil {
		return false, err
	}
	return tmplOrder(a, b, op)
}

func (st *renderState) argsSize(args []any) int {
	n := 0
	for _, a := range args {
		n += st.sizeOf(a)
		if n > maxRenderCost {
			return n
		}
	}
	return n
}

// sizeOf bounds what printing v costs: the length of its compact JSON
// (escapes counted), plus 16 bytes per object or array for fmt's longer
// spelling of them ("map[…]") and elemCost per element or key: json and fmt
// reach each through reflection (~60 ns, the time of ~100 bytes of string
// work; keys are sorted too). It stops counting past maxRenderCost, and is
// itself linear in what it counts.
func (st *renderState) sizeOf(v any) int {
	n := 0
	st.sizeInto(v, &n)
	return n
}

func (st *renderState) sizeInto(v any, n *int) {
	if *n > maxRenderCost {
		return
	}
	switch x := v.(type) {
	case string:
		if len(x) >= memoMin {
			*n += st.memo(sizedKey{unsafe.Pointer(unsafe.StringData(x)), len(x)}, x, func() int { return jsonStringSize(x) }) //nolint:gosec // G103: the address identifies the string, never read through
			return
		}
		*n += jsonStringSize(x)
	case json.Number:
		*n += len(x)
	case fmtNumber:
		*n += len(x)
	case map[string]any:
		*n += 16
		for k, e := range x {
			*n += jsonStringSize(k) + elemCost
			st.sizeInto(e, n)
			if *n > maxRenderCost {
				return
			}
		}
	case []any:
		if len(x) >= memoMin/8 {
			*n += st.memo(sizedKey{unsafe.Pointer(unsafe.SliceData(x)), len(x)}, x, func() int { return st.arraySize(x) }) //nolint:gosec // G103: as for strings
			return
		}
		*n += st.arraySize(x)
	default:
		// bool, nil, null, template literals (numbers), missing: short.
		*n += 24
	}
}

// arraySize is sizeOf of an array, stopping past maxRenderCost.
func (st *renderState) arraySize(x []any) int {
	n := 16
	for _, e := range x {
		n += elemCost
		st.sizeInto(e, &n)
		if n > maxRenderCost {
			break
		}
	}
	return n
}

// jsonStringSize is the length of s as a JSON string without HTML
// escaping, quotes included (fmt's %q is never longer per byte than 4x,
// which verbSpec.expansion charges separately).
func jsonStringSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plainJSON8(s[i:i+8]) { // eight bytes at a time while nothing needs escaping
			n += 8
			i += 8
			continue
		}
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// plainJSON8 reports whether the eight bytes of s are all ASCII that JSON
// prints as is: no control character, '"', '\\' or byte >= 0x80. It tests
// them at once, as one 64-bit word (the "has a zero byte" trick: a byte
// below 0x20 borrows, and so does a byte equal to '"' or '\\' once xored
// with it).
func plainJSON8(s string) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	_ = s[7]
	w := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	q, b := w^(0x22*lo), w^(0x5c*lo)
	return (w|(w-0x20*lo)|((q-lo)&^q)|((b-lo)&^b))&hi == 0
}
