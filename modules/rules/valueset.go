package rules

import (
	"encoding/json"
	"math"
)

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
