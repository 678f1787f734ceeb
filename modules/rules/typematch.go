package rules

import (
	"fmt"
	"strings"
)

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
