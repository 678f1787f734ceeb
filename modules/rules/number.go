package rules

import (
	"cmp"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// number is a compiled numeric operand: its exact decimal form and the
// float64 and int64 views used for hand-built payloads and sets.
type number struct {
	d     dec
	f     float64
	i     int64
	isInt bool
}

func newNumber(text string) (number, bool) {
	d, ok := parseDec(text)
	if !ok {
		return number{}, false
	}
	f, _ := strconv.ParseFloat(text, 64) // ±Inf beyond float64's range
	i, isInt := d.int64()
	return number{d: d, f: f, i: i, isInt: isInt}, true
}

// cmpNumber compares a payload number with an operand. json.Number compares
// exactly; float64 compares as float64; integer types exactly against
// integer operands. ok is false when v is not a number.
func cmpNumber(v any, n *number) (int, bool) {
	switch x := v.(type) {
	case json.Number:
		d, ok := parseDec(string(x))
		if !ok {
			return 0, false
		}
		return cmpDec(&d, &n.d), true
	case float64:
		return cmpFloat(x, n.f)
	case float32:
		return cmpFloat(float64(x), n.f)
	case uint64:
		return n.cmpUint(x)
	case uint:
		return n.cmpUint(uint64(x))
	}
	if i, ok := intOf(v); ok {
		return n.cmpInt(i), true
	}
	return 0, false
}

func (n *number) cmpInt(i int64) int {
	if n.isInt {
		return cmp.Compare(i, n.i)
	}
	c, _ := cmpFloat(float64(i), n.f)
	return c
}

func (n *number) cmpUint(u uint64) (int, bool) {
	switch {
	case u <= math.MaxInt64:
		return n.cmpInt(int64(u)), true
	case n.isInt:
		return 1, true // above every int64
	}
	return cmpFloat(float64(u), n.f)
}

func cmpFloat(a, b float64) (int, bool) {
	if math.IsNaN(a) || math.IsNaN(b) {
		return 0, false
	}
	return cmp.Compare(a, b), true
}

// intOf reads the signed and small unsigned integer types.
func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	}
	return 0, false
}

// dec is an exact view of a decimal number's text, without copying it:
// value = ±0.d₁d₂…dₙ × 10^exp, where the n significant digits are read from
// ip+fp after skipping lz leading zeros. Zero has n == 0. Exponents are
// clamped at ±10⁹, far beyond any float64.
type dec struct {
	neg    bool
	ip, fp string // integer and fraction digits as written
	lz, n  int
	exp    int
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseDec reads a JSON number (a leading '+' or a bare '.5' are accepted
// too, as they cost nothing).
func parseDec(s string) (dec, bool) {
	var d dec
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		d.neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	d.ip = s[start:i]
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		d.fp = s[start:i]
	}
	if len(d.ip)+len(d.fp) == 0 {
		return dec{}, false
	}
	e := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start = i
		for i < len(s) && isDigit(s[i]) {
			e = min(e*10+int(s[i]-'0'), 1e9)
			i++
		}
		if i == start {
			return dec{}, false
		}
		if eneg {
			e = -e
		}
	}
	if i != len(s) {
		return dec{}, false
	}
	total := len(d.ip) + len(d.fp)
	lz := 0
	for lz < total && d.at(lz) == '0' {
		lz++
	}
	if lz == total {
		return dec{ip: d.ip, fp: d.fp}, true // zero, and -0 == 0
	}
	tz := 0
	for d.at(total-1-tz) == '0' {
		tz++
	}
	d.lz, d.n, d.exp = lz, total-lz-tz, len(d.ip)-lz+e
	return d, true
}

// at is byte k of ip+fp.
func (d *dec) at(k int) byte {
	if k < len(d.ip) {
		return d.ip[k]
	}
	return d.fp[k-len(d.ip)]
}

// digit is significant digit k (0-based).
func (d *dec) digit(k int) byte { return d.at(d.lz + k) }

func (d *dec) sign() int {
	switch {
	case d.n == 0:
		return 0
	case d.neg:
		return -1
	}
	return 1
}

func cmpDec(a, b *dec) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb || sa == 0 {
		return cmp.Compare(sa, sb)
	}
	m := 0
	switch {
	case a.exp != b.exp:
		m = cmp.Compare(a.exp, b.exp)
	default:
		for k := 0; k < a.n && k < b.n && m == 0; k++ {
			m = cmp.Compare(a.digit(k), b.digit(k))
		}
		if m == 0 {
			m = cmp.Compare(a.n, b.n)
		}
	}
	return m * sa
}

// canonical spells d one way per value: 5 for 5.0 and 5e0, 12.5, 0.001,
// and 1.5e+30 or 1e-7 when plain digits would run long.
func (d *dec) canonical() string {
	if d.n == 0 {
		return "0"
	}
	digits := make([]byte, d.n)
	for k := range digits {
		digits[k] = d.digit(k)
	}
	var b strings.Builder
	if d.neg {
		b.WriteByte('-')
	}
	switch {
	case d.exp >= d.n && d.exp <= 21:
		b.Write(digits)
		b.WriteString(strings.Repeat("0", d.exp-d.n))
	case d.exp > 0 && d.exp < d.n:
		b.Write(digits[:d.exp])
		b.WriteByte('.')
		b.Write(digits[d.exp:])
	case d.exp <= 0 && d.exp > -6:
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", -d.exp))
		b.Write(digits)
	default:
		b.WriteByte(digits[0])
		if d.n > 1 {
			b.WriteByte('.')
			b.Write(digits[1:])
		}
		b.WriteString("e")
		if d.exp-1 > 0 {
			b.WriteByte('+')
		}
		b.WriteString(strconv.Itoa(d.exp - 1))
	}
	return b.String()
}

// int64 returns the value when it is an integer that fits in int64.
func (d *dec) int64() (int64, bool) {
	if d.n == 0 {
		return 0, true
	}
	if d.exp < d.n || d.exp > 19 {
		return 0, false
	}
	var u uint64
	for k := 0; k < d.exp; k++ {
		var digit uint64
		if k < d.n {
			digit = uint64(d.digit(k) - '0')
		}
		if u > (math.MaxUint64-digit)/10 {
			return 0, false
		}
		u = u*10 + digit
	}
	switch {
	case d.neg && u == 1<<63:
		return math.MinInt64, true
	case u > math.MaxInt64:
		return 0, false
	case d.neg:
		return -int64(u), true
	}
	return int64(u), true
}
