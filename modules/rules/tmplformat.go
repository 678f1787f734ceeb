package rules

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/big"
	"strconv"
	"strings"
	"text/template/parse"
)

// printf formats are checked when a rule is saved: the format must be a
// string literal in the template (a format taken from the payload could
// ask for anything), with at most maxFormatVerbs verbs, widths and
// precisions of at most maxFormatWidth, no '*' (a width taken from an
// argument), and only the verbs below: %p would print a memory address.
const (
	maxFormatVerbs = 64
	maxFormatWidth = 100
	formatVerbs    = "vsdfFeEgGxXobOqtcUT"
)

// verbSpec is one verb of a printf format.
type verbSpec struct {
	verb        byte
	width, prec int
	sharp       bool
	arg         int // index of the argument it prints; -1 for %%
}

// expansion is how many bytes a verb may write per byte of its argument:
// %q and %#v quote (\x00 is 4 bytes for one), %x writes two hex digits and
// "% x" a separator too, and %U "U+0041" six bytes per rune.
func (v verbSpec) expansion() int {
	switch {
	case v.verb == 'q' || v.verb == 'x' || v.verb == 'X' || v.verb == 'U' || v.sharp:
		return 6
	case v.verb == 'b' || v.verb == 'o' || v.verb == 'O':
		return 9 // a byte in binary
	}
	return 1
}

// parseFormat reads a printf format the way fmt does (flags, [n] argument
// indexes, width, precision) and refuses what the budget cannot bound.
func parseFormat(format string) ([]verbSpec, error) {
	var verbs []verbSpec
	arg := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		if i < len(format) && format[i] == '%' {
			continue
		}
		v := verbSpec{arg: -1}
		for ; i < len(format) && strings.IndexByte("+-# 0", format[i]) >= 0; i++ {
			if format[i] == '#' {
				v.sharp = true
			}
		}
		var err error
		if i, arg, err = formatIndex(format, i, arg); err != nil {
			return nil, err
		}
		if i, v.width, err = formatNumber(format, i, "width"); err != nil {
			return nil, err
		}
		if i < len(format) && format[i] == '.' {
			i++
			if i, arg, err = formatIndex(format, i, arg); err != nil {
				return nil, err
			}
			if i, v.prec, err = formatNumber(format, i, "precision"); err != nil {
				return nil, err
			}
		}
		if i, arg, err = formatIndex(format, i, arg); err != nil {
			return nil, err
		}
		if i >= len(format) {
			return nil, fmt.Errorf("printf format ends inside a verb")
		}
		v.verb = format[i]
		if strings.IndexByte(formatVerbs, v.verb) < 0 {
			return nil, fmt.Errorf("printf verb %%%c is not supported (use one of %%v %%s %%d %%f %%e %%g %%x %%o %%b %%q %%t %%c %%U %%T)", rune(v.verb))
		}
		v.arg = arg
		arg++
		if verbs = append(verbs, v); len(verbs) > maxFormatVerbs {
			return nil, fmt.Errorf("printf format has more than %d verbs", maxFormatVerbs)
		}
	}
	return verbs, nil
}

// formatIndex reads an optional [n] and returns the argument it selects.
func formatIndex(format string, i, arg int) (int, int, error) {
	if i >= len(format) || format[i] != '[' {
		return i, arg, nil
	}
	end := strings.IndexByte(format[i:], ']')
	if end < 0 {
		return 0, 0, fmt.Errorf("printf format has an unclosed [")
	}
	n, err := strconv.Atoi(format[i+1 : i+end])
	if err != nil || n < 1 || n > maxFormatVerbs {
		return 0, 0, fmt.Errorf("printf argument index %q must be between 1 and %d", format[i:i+end+1], maxFormatVerbs)
	}
	return i + end + 1, n - 1, nil
}

// formatNumber reads an optional width or precision.
func formatNumber(format string, i int, what string) (int, int, error) {
	if i < len(format) && format[i] == '*' {
		return 0, 0, fmt.Errorf("printf %s * is not supported: write the %s in the format", what, what)
	}
	start := i
	for i < len(format) && isDigit(format[i]) {
		i++
	}
	if i == start {
		return i, 0, nil
	}
	if i-start > 3 {
		return 0, 0, fmt.Errorf("printf %s %s is over %d", what, format[start:i], maxFormatWidth)
	}
	n, _ := strconv.Atoi(format[start:i])
	if n > maxFormatWidth {
		return 0, 0, fmt.Errorf("printf %s %d is over %d", what, n, maxFormatWidth)
	}
	return i, n, nil
}

// checkFormats refuses a template whose printf calls do not take a valid
// literal format as their first argument.
func checkFormats(n parse.Node) error {
	var err error
	walkCommands(n, func(c *parse.CommandNode) {
		if err != nil || len(c.Args) == 0 {
			return
		}
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if !ok || id.Ident != "printf" {
			return
		}
		if len(c.Args) < 2 {
			err = fmt.Errorf("printf needs a format string in the template as its first argument")
			return
		}
		s, ok := c.Args[1].(*parse.StringNode)
		if !ok {
			err = fmt.Errorf("printf needs a format string in the template as its first argument, not %s", c.Args[1])
			return
		}
		_, err = parseFormat(s.Text)
	})
	return err
}

func walkCommands(n parse.Node, f func(*parse.CommandNode)) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, k := range n.Nodes {
			walkCommands(k, f)
		}
	case *parse.ActionNode:
		walkCommands(n.Pipe, f)
	case *parse.IfNode:
		walkBranch(&n.BranchNode, f)
	case *parse.RangeNode:
		walkBranch(&n.BranchNode, f)
	case *parse.WithNode:
		walkBranch(&n.BranchNode, f)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			walkCommands(c, f)
		}
	case *parse.CommandNode:
		f(n)
		for _, a := range n.Args {
			walkCommands(a, f)
		}
	case *parse.ChainNode:
		walkCommands(n.Node, f)
	}
}

func walkBranch(b *parse.BranchNode, f func(*parse.CommandNode)) {
	walkCommands(b.Pipe, f)
	walkCommands(b.List, f)
	walkCommands(b.ElseList, f)
}

// fmtNumber is a number given to printf: payload numbers (json.Number) and
// template literals. It formats exactly: %.2f rounds the decimal the
// producer sent, half away from zero, instead of its nearest float64.
type fmtNumber string

// maxNumberDigits bounds the digits a number may expand to when printed
// in full (1e999999 is a short text).
const maxNumberDigits = 400

func formatArg(a any) any {
	switch x := a.(type) {
	case nil:
		return missing{}
	case json.Number:
		return fmtNumber(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return x
		}
		return fmtNumber(strconv.FormatFloat(x, 'g', -1, 64))
	}
	if i, ok := intOf(a); ok {
		return fmtNumber(strconv.FormatInt(i, 10))
	}
	return a
}

// Format implements fmt.Formatter.
func (n fmtNumber) Format(f fmt.State, verb rune) {
	d, ok := parseDec(string(n))
	switch {
	case !ok:
		fmt.Fprintf(f, "%%!%c(number=%s)", verb, string(n))
	case verb == 'v' || verb == 's':
		pad(f, false, string(n))
	case verb == 'f' || verb == 'F':
		prec, ok := f.Precision()
		if !ok {
			prec = 6
		}
		body, neg, ok := fixedDigits(&d, prec)
		if !ok {
			fmt.Fprintf(f, "%%!%c(number=%s)", verb, string(n))
			return
		}
		pad(f, neg, body)
	case verb == 'e' || verb == 'E' || verb == 'g' || verb == 'G':
		x, err := strconv.ParseFloat(string(n), 64)
		if err != nil && !math.IsInf(x, 0) {
			fmt.Fprintf(f, "%%!%c(number=%s)", verb, string(n))
			return
		}
		fmt.Fprintf(f, fmtSpec(f, verb), x)
	default:
		if i, ok := d.int64(); ok {
			fmt.Fprintf(f, fmtSpec(f, verb), i)
			return
		}
		if b, ok := bigInt(&d); ok && strings.ContainsRune("dxXobO", verb) {
			fmt.Fprintf(f, fmtSpec(f, verb), b)
			return
		}
		fmt.Fprintf(f, "%%!%c(number=%s)", verb, string(n))
	}
}

// fmtSpec rebuilds the verb fmt was asked for, to format a converted value.
func fmtSpec(f fmt.State, verb rune) string {
	var b strings.Builder
	b.WriteByte('%')
	for _, c := range "+-# 0" {
		if f.Flag(int(c)) {
			b.WriteRune(c)
		}
	}
	if w, ok := f.Width(); ok {
		b.WriteString(strconv.Itoa(w))
	}
	if p, ok := f.Precision(); ok {
		b.WriteByte('.')
		b.WriteString(strconv.Itoa(p))
	}
	b.WriteRune(verb)
	return b.String()
}

// pad writes a number's sign and digits honouring the width and the +, -,
// space and 0 flags.
func pad(f fmt.State, neg bool, body string) {
	sign := ""
	switch {
	case neg:
		sign = "-"
	case f.Flag('+'):
		sign = "+"
	case f.Flag(' '):
		sign = " "
	}
	w, _ := f.Width()
	fill := w - len(sign) - len(body)
	switch {
	case fill <= 0:
		_, _ = io.WriteString(f, sign+body)
	case f.Flag('-'):
		_, _ = io.WriteString(f, sign+body+strings.Repeat(" ", fill))
	case f.Flag('0'):
		_, _ = io.WriteString(f, sign+strings.Repeat("0", fill)+body)
	default:
		_, _ = io.WriteString(f, strings.Repeat(" ", fill)+sign+body)
	}
}

// fixedDigits writes |d| with prec decimals, rounded half away from zero,
// and whether the rounded value is negative (never for a rounded zero).
func fixedDigits(d *dec, prec int) (string, bool, bool) {
	// d = 0.D × 10^exp with n digits D; the rounded result is the integer
	// R = round(D × 10^(exp-n+prec)), printed with prec decimals.
	digits := make([]byte, d.n)
	for k := range digits {
		digits[k] = d.digit(k)
	}
	shift := d.exp - d.n + prec
	if d.n > 0 && (d.exp > maxNumberDigits || shift > maxNumberDigits+prec || -shift > maxNumberDigits) {
		return "", false, false
	}
	var r []byte
	switch {
	case d.n == 0:
		r = []byte{'0'}
	case shift >= 0:
		r = append(digits, strings.Repeat("0", shift)...)
	default:
		keep := d.n + shift
		switch {
		case keep < 0:
			r = []byte{'0'}
		case keep == 0:
			r = []byte{'0'}
			if digits[0] >= '5' {
				r[0] = '1'
			}
		default:
			r = digits[:keep]
			if digits[keep] >= '5' {
				r = increment(r)
			}
		}
	}
	r = []byte(strings.TrimLeft(string(r), "0"))
	zero := len(r) == 0
	if len(r) < prec+1 {
		r = append([]byte(strings.Repeat("0", prec+1-len(r))), r...)
	}
	body := string(r)
	if prec > 0 {
		body = body[:len(body)-prec] + "." + body[len(body)-prec:]
	}
	return body, d.neg && !zero, true
}

// increment adds one to a decimal integer's digits.
func increment(r []byte) []byte {
	r = append([]byte(nil), r...)
	for k := len(r) - 1; k >= 0; k-- {
		if r[k] < '9' {
			r[k]++
			return r
		}
		r[k] = '0'
	}
	return append([]byte{'1'}, r...)
}

// bigInt is d as an integer, when it is one of at most maxNumberDigits.
func bigInt(d *dec) (*big.Int, bool) {
	if d.n == 0 {
		return new(big.Int), true
	}
	if d.exp < d.n || d.exp > maxNumberDigits {
		return nil, false
	}
	body, neg, ok := fixedDigits(d, 0)
	if !ok {
		return nil, false
	}
	b, ok := new(big.Int).SetString(body, 10)
	if ok && neg {
		b.Neg(b)
	}
	return b, ok
}
