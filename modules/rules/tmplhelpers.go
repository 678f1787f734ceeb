package rules

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Helpers for formatting messages (docs/rules.md, "Formatting"). Each takes
// the value last, so it works in a pipeline: {{.payload.amount | fixed 2}}.
// A missing value passes through (the action prints its marker), except in
// default, which replaces it.

const (
	maxFixedDecimals = 20
	maxDateLayout    = 64
)

// decimalOf reads a number: payload numbers, template literals and strings
// that spell a JSON number ("12.50", which producers often send).
func decimalOf(v any) (dec, string, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = strings.TrimSpace(x)
	case float64, float32, uint, uint64, uintptr:
		d, ok := numericOf(v)
		return d, fmt.Sprint(v), ok
	default:
		i, ok := intOf(v)
		if !ok {
			return dec{}, "", false
		}
		s = strconv.FormatInt(i, 10)
	}
	if len(s) > maxNumberDigits {
		return dec{}, "", false
	}
	d, ok := parseDec(s)
	return d, s, ok
}

func smallInt(v any) (int, bool) {
	if n, ok := v.(json.Number); ok {
		i, err := n.Int64()
		return int(i), err == nil && i >= -1<<31 && i < 1<<31
	}
	i, ok := intOf(v)
	return int(i), ok && i >= -1<<31 && i < 1<<31
}

// fixed prints a number with exactly n decimals, rounded half away from
// zero: {{fixed 2 .payload.amount}} → 12.35 for 12.345.
func (st *renderState) fixed(n any, v any) (any, error) {
	prec, ok := smallInt(n)
	if !ok || prec < 0 || prec > maxFixedDecimals {
		return nil, fmt.Errorf("decimals must be an integer from 0 to %d", maxFixedDecimals)
	}
	if isNothing(v) {
		return v, nil
	}
	if err := st.spend(maxNumberDigits + prec); err != nil {
		return nil, err
	}
	d, _, ok := decimalOf(v)
	if !ok {
		return nil, fmt.Errorf("%s is not a number", kindName(v))
	}
	body, neg, ok := fixedDigits(&d, prec)
	if !ok {
		return nil, fmt.Errorf("the number is out of range")
	}
	if neg {
		body = "-" + body
	}
	return body, nil
}

// thousands groups a number's integer digits by three with commas, keeping
// its decimals as written: 1234567.5 → 1,234,567.5.
func (st *renderState) thousands(v any) (any, error) {
	if isNothing(v) {
		return v, nil
	}
	if err := st.spend(2 * maxNumberDigits); err != nil {
		return nil, err
	}
	d, s, ok := decimalOf(v)
	if !ok {
		return nil, fmt.Errorf("%s is not a number", kindName(v))
	}
	decimals := max(d.n-d.exp, 0)
	if !strings.ContainsAny(s, "eE") {
		decimals = len(d.fp) // as written: 12.50 keeps its zero
	}
	body, neg, ok := fixedDigits(&d, decimals)
	if !ok || decimals > maxNumberDigits {
		return nil, fmt.Errorf("the number is out of range")
	}
	ip, fp, _ := strings.Cut(body, ".")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range len(ip) {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(ip[i])
	}
	if fp != "" {
		b.WriteByte('.')
		b.WriteString(fp)
	}
	return b.String(), nil
}

var zones sync.Map // name → *time.Location, time zones that loaded

// date formats a time with a Go layout ("2006-01-02 15:04"): an RFC 3339
// string (.occurredAt) or Unix seconds; in UTC, or in the IANA time zone
// given last: {{date "02.01.2006 15:04" .occurredAt "Europe/Berlin"}}.
func (st *renderState) date(layout string, v any, zone ...string) (any, error) {
	if len(layout) > maxDateLayout {
		return nil, fmt.Errorf("the layout must be at most %d bytes", maxDateLayout)
	}
	if len(zone) > 1 {
		return nil, fmt.Errorf("give at most one time zone")
	}
	if isNothing(v) {
		return v, nil
	}
	// A layout element prints at most 9 bytes ("Wednesday") for 3 ("Mon").
	if err := st.spend(4*len(layout) + 64); err != nil {
		return nil, err
	}
	var t time.Time
	switch x := v.(type) {
	case string:
		if len(x) > 64 {
			return nil, fmt.Errorf("not an RFC 3339 time")
		}
		var err error
		if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return nil, fmt.Errorf("not an RFC 3339 time")
		}
	default:
		d, _, ok := decimalOf(v)
		secs, isInt := d.int64()
		if !ok || !isInt {
			return nil, fmt.Errorf("%s is neither an RFC 3339 time nor whole Unix seconds", kindName(v))
		}
		t = time.Unix(secs, 0)
	}
	loc := time.UTC
	if len(zone) == 1 && zone[0] != "" && zone[0] != "UTC" {
		if len(zone[0]) > 64 {
			return nil, fmt.Errorf("unknown time zone")
		}
		if l, ok := zones.Load(zone[0]); ok {
			loc = l.(*time.Location)
		} else {
			l, err := time.LoadLocation(zone[0])
			if err != nil {
				return nil, fmt.Errorf("unknown time zone %q", zone[0])
			}
			zones.Store(zone[0], l)
			loc = l
		}
	}
	return t.In(loc).Format(layout), nil
}

// deflt is default: def when v is missing, null or the empty string.
func (st *renderState) deflt(def, v any) (any, error) {
	if err := st.spend(0); err != nil {
		return nil, err
	}
	if s, ok := v.(string); isNothing(v) || (ok && s == "") {
		return def, nil
	}
	return v, nil
}

// truncate cuts text to at most n characters, ending with "…" when cut.
func (st *renderState) truncate(n any, v any) (any, error) {
	limit, ok := smallInt(n)
	if !ok || limit < 1 || limit > MaxMessageBytes {
		return nil, fmt.Errorf("the length must be an integer from 1 to %d", MaxMessageBytes)
	}
	if v == nil {
		return nil, nil
	}
	if err := st.spend(st.sizeOf(v)); err != nil {
		return nil, err
	}
	s := text(v)
	if utf8.RuneCountInString(s) <= limit {
		return s, nil
	}
	i, count := 0, 0
	for i < len(s) && count < limit-1 {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		count++
	}
	return s[:i] + "…", nil
}
