package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// render compiles one action with tmpl and renders it over the payload.
func render(t testing.TB, tmpl, payload string) string {
	t.Helper()
	c, err := Compile(Definition{Actions: []Action{{ChannelID: uuid.MustParse(testChannel), Template: tmpl}}})
	require.NoError(t, err)
	out := c.Render(context.Background(), mustEvent(t, "order.created", "shop", payload))
	require.Len(t, out, 1)
	require.Equal(t, uuid.MustParse(testChannel), out[0].ChannelID)
	if out[0].Error != "" {
		return "FAILED: " + out[0].Error
	}
	return out[0].Message
}

func TestRender(t *testing.T) {
	t.Parallel()

	const payload = `{"orderId": "o-1", "amount": 10.50, "big": 1152921504606846977, "user": {"name": "Ann", "tags": ["a", "b"]},
		"items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}], "nothing": null, "vip": false, "order-id": "dash",
		"html": "<b>&</b>", "count": 3, "text": "Café"}`

	for _, tt := range []struct{ name, tmpl, want string }{
		{"Example", "Order {{.payload.orderId}}: {{.payload.amount}}", "Order o-1: 10.50"},
		{"BuiltIns", "{{.type}} from {{.source}} at {{.occurredAt}}", "order.created from shop at 2024-05-01T12:00:00Z"},
		{"MissingKey", "Order {{.payload.nope}}!", "Order <missing: .payload.nope>!"},
		{"MissingNested", "{{.payload.user.address.city}}", "<missing: .payload.user.address.city>"},
		{"KeyOnString", "{{.payload.orderId.x}}", "<missing: .payload.orderId.x>"},
		{"NestedKey", "{{.payload.user.name}}", "Ann"},
		{"BigNumberExact", "{{.payload.big}}", "1152921504606846977"},
		{"Null", "{{.payload.nothing}}", "null"},
		{"Object", "{{.payload.user}}", `{"name":"Ann","tags":["a","b"]}`},
		{"Array", "{{.payload.user.tags}}", `["a","b"]`},
		{"NoHTMLEscaping", "{{.payload.html}}", "<b>&</b>"},
		{"Bool", "{{.payload.vip}}", "false"},
		{"IfMissing", "{{if .payload.nope}}yes{{else}}no{{end}}", "no"},
		{"IfNull", "{{if .payload.nothing}}yes{{else}}no{{end}}", "no"},
		{"WithMissing", "{{with .payload.nope}}{{.}}{{else}}none{{end}}", "none"},
		{"Range", "{{range .payload.items}}{{.sku}}x{{.qty}} {{end}}", "A1x2 B2x1 "},
		{"RangeIndex", "{{range $i, $it := .payload.items}}{{$i}}={{$it.sku}};{{end}}", "0=A1;1=B2;"},
		{"RangeMissing", "[{{range .payload.nope}}x{{else}}empty{{end}}]", "[empty]"},
		{"RangeNull", "[{{range .payload.nothing}}x{{end}}]", "[]"},
		{"RangeMissingKeyInItem", "{{range .payload.items}}{{.price}} {{end}}", "<missing: .price> <missing: .price> "},
		{"Variable", "{{$u := .payload.user}}{{$u.name}} {{$u.age}}", "Ann <missing: $u.age>"},
		{"Root", "{{$.payload.orderId}}", "o-1"},
		{"Chain", "{{(.payload.user).name}}", "Ann"},
		{"IndexDash", `{{index .payload "order-id"}}`, "dash"},
		{"IndexMissing", `{{index .payload "nope"}}`, `<missing: index .payload "nope">`},
		{"IndexArray", `{{index .payload.items 1 "sku"}}`, "B2"},
		{"IndexOutOfRange", `{{index .payload.items 7}}`, "<missing: index .payload.items 7>"},
		{"EqNumber", "{{if eq .payload.amount 10.5}}ok{{end}}", "ok"},
		{"EqNumberInt", "{{if eq .payload.count 3}}ok{{end}}", "ok"},
		{"EqString", `{{if eq .payload.orderId "o-1" "o-2"}}ok{{end}}`, "ok"},
		{"EqMissing", `{{if eq .payload.nope "x"}}yes{{else}}no{{end}}`, "no"},
		{"EqMissingNil", `{{if eq .payload.nope nil}}yes{{end}}`, "yes"},
		{"NeMissing", `{{if ne .payload.nope "x"}}yes{{end}}`, "yes"},
		{"EqKinds", `{{if eq .payload.count "3"}}yes{{else}}no{{end}}`, "yes"},
		{"GtNumber", "{{if gt .payload.amount 10}}big{{end}}", "big"},
		{"LeNumber", "{{if le .payload.big 1152921504606846976}}small{{else}}large{{end}}", "large"},
		{"LtMissing", "{{if lt .payload.nope 10}}yes{{else}}no{{end}}", "no"},
		{"AndOr", "{{if and .payload.orderId (not .payload.vip)}}ok{{end}}", "ok"},
		{"Printf", `{{printf "%s/%v" .payload.orderId .payload.amount}}`, "o-1/10.50"},
		{"PrintfMissing", `{{printf "%v|%s|%v" .payload.nope .payload.nope .payload.nothing}}`, "<missing>|<missing>|null"},
		{"PipeMissing", `{{.payload.nope | printf "%v"}}`, "<missing>"},
		{"PrintMissing", `{{print .payload.nope 1}}`, "<missing> 1"},
		{"Upper", "{{upper .payload.text}} {{lower .payload.orderId}}", "CAFÉ o-1"},
		{"UpperMissing", "{{upper .payload.nope}}", "<missing: upper .payload.nope>"},
		{"JSON", "{{json .payload.user}}", `{"name":"Ann","tags":["a","b"]}`},
		{"JSONString", "{{json .payload.html}}", `"<b>&</b>"`},
		{"JSONMissing", "{{json .payload.nope}}", "<missing: json .payload.nope>"},
		{"Len", "{{len .payload.items}}", "2"},
		{"HTML", "{{html .payload.html}}", "&lt;b&gt;&amp;&lt;/b&gt;"},
		{"URLQuery", "{{urlquery .payload.html}}", "%3Cb%3E%26%3C%2Fb%3E"},
		{"Assign", "{{$x := 1}}{{$x = 2}}{{$x}}", "2"},
		{"Comment", "a{{/* hidden */}}b", "ab"},
		{"Trim", "a {{- .payload.orderId -}} b", "ao-1b"},
		{"Break", "{{range .payload.items}}{{.sku}}{{break}}{{end}}", "A1"},
		{"RangeInt", "{{range 3}}{{.}}{{end}}", "012"},
		{"Dot", "{{.payload.user.tags}} {{.payload.count}}", `["a","b"] 3`},
		{"ErrorKeepsOutput", `before {{index .payload.orderId 1}} after`, "before <error: index: can't index a string>"},
		{"NUL", `a{{printf "%c" 0}}b{{"\x00"}}`, "a\uFFFDb\uFFFD"},
		{"InvalidUTF8", `a{{"\xff"}}b`, "a\uFFFDb"},
		{"CompareKinds", `x{{if lt .payload.orderId 5}}y{{end}}`, "x<error: lt: can't compare a string with a number>"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got := render(t, tt.tmpl, payload)
			require.Equal(t, tt.want, got)
			require.NotContains(t, got, "<no value>")
		})
	}
}

func TestRenderSeveralActions(t *testing.T) {
	t.Parallel()

	c := mustCompile(t, `{"match": {}, "actions": [
		{"channelId": "`+testChannel+`", "template": "a {{.payload.x}}"},
		{"channelId": "0190a3c2-7b1e-7cc0-9f4a-000000000002", "template": "b {{.payload.y}}"}
	]}`)
	out := c.Render(context.Background(), mustEvent(t, "t", "", `{"x": 1}`))
	require.Equal(t, []Rendered{
		{ChannelID: uuid.MustParse(testChannel), Message: "a 1"},
		{ChannelID: uuid.MustParse("0190a3c2-7b1e-7cc0-9f4a-000000000002"), Message: "b <missing: .payload.y>"},
	}, out)

	b, err := json.Marshal(out[0])
	require.NoError(t, err)
	require.JSONEq(t, `{"channelId":"`+testChannel+`","message":"a 1"}`, string(b))
}

func TestRenderNilPayload(t *testing.T) {
	t.Parallel()

	c, err := Compile(Definition{Actions: []Action{{ChannelID: uuid.MustParse(testChannel), Template: "{{.payload}} {{.payload.a}} {{.source}}|"}}})
	require.NoError(t, err)
	require.Equal(t, "{} <missing: .payload.a> |", c.Render(context.Background(), &Subject{Type: "t"})[0].Message)
}

func TestRenderCap(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct{ name, tmpl, payload string }{
		{"LongValue", "{{.payload.s}}", `{"s": "` + strings.Repeat("ab", 5000) + `"}`},
		{"Multibyte", "{{.payload.s}}", `{"s": "` + strings.Repeat("é", 3000) + `"}`},
		{"ManyWrites", "{{range .payload.items}}{{.}}, {{end}}", `{"items": [` + strings.Repeat(`"xyz",`, 2000) + `"end"]}`},
		{"Literal", strings.Repeat("x", 4000) + "{{.payload.s}}", `{"s": "` + strings.Repeat("y", 200) + `"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got := render(t, tt.tmpl, tt.payload)
			require.LessOrEqual(t, len(got), MaxMessageBytes)
			require.Greater(t, len(got), MaxMessageBytes-8)
			require.True(t, strings.HasSuffix(got, "…"), got[len(got)-10:])
			require.True(t, utf8.ValidString(got))
		})
	}

	exact := strings.Repeat("z", MaxMessageBytes)
	require.Equal(t, exact, render(t, "{{.payload.s}}", `{"s": "`+exact+`"}`))
}

func TestRenderBudget(t *testing.T) {
	t.Parallel()

	// Loops that print nothing cannot run forever...
	got := render(t, "a{{range 100000000}}{{end}}b", `{}`)
	require.Equal(t, "FAILED: the template exceeded its execution budget", got)

	// ...nor nested loops over the payload...
	items := `[` + strings.Repeat(`1,`, 999) + `1]`
	got = render(t, "{{range .payload.a}}{{range $.payload.a}}{{end}}{{end}}done", `{"a": `+items+`}`)
	require.Contains(t, got, "execution budget")

	// ...nor formatting that is thrown away.
	got = render(t, `{{range 10000}}{{if eq (printf "%v" $.payload) ""}}{{end}}{{end}}done`, `{"s": "`+strings.Repeat("x", 2000)+`"}`)
	require.Contains(t, got, "execution budget")
}

func TestTemplateValidation(t *testing.T) {
	t.Parallel()

	for tmpl, want := range map[string]string{
		"":                                      "must not be empty",
		"{{.payload.x":                          "invalid template: line 1: unclosed action",
		"{{nope .payload}}":                     `invalid template: line 1: function "nope" not defined`,
		`{{define "x"}}a{{end}}b`:               "invalid template: define, block and template are not supported",
		`{{block "x" .}}a{{end}}`:               "invalid template: define, block and template are not supported",
		`{{template "x"}}`:                      "invalid template: define, block and template are not supported",
		"{{if .a}}x":                            "invalid template: line 1: unexpected EOF",
		strings.Repeat("x", MaxTemplateBytes+1): "must be at most 4096 bytes",
	} {
		_, msg := compileAction(Action{ChannelID: uuid.MustParse(testChannel), Template: tmpl})
		require.Equal(t, want, msg, tmpl)
	}
}

func TestRenderConcurrently(t *testing.T) {
	t.Parallel()

	c := mustCompile(t, `{"match": {}, "actions": [{"channelId": "`+testChannel+`",
		"template": "{{range .payload.items}}{{.}}{{end}} {{.payload.n}}"}]}`)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 50 {
				ev := mustEvent(t, "t", "", fmt.Sprintf(`{"items": [1, 2], "n": %d}`, i*100+j))
				require.Equal(t, fmt.Sprintf("12 %d", i*100+j), c.Render(context.Background(), ev)[0].Message)
			}
		})
	}
	wg.Wait()
}

func FuzzRender(f *testing.F) {
	for _, seed := range []struct{ tmpl, payload string }{
		{"Order {{.payload.orderId}}: {{.payload.amount}}", `{"orderId": "o-1", "amount": 1000}`},
		{"{{range .payload.items}}{{.sku}}{{end}}", `{"items": [{"sku": "A"}, 1, null, "x"]}`},
		{"{{index .payload.a 0 1}}", `{"a": [[1, 2]]}`},
		{"{{if gt .payload.n 5}}{{.payload.n}}{{end}}", `{"n": 1e400}`},
		{"{{printf \"%*d\" 100000 1}}", `{}`},
		{"{{range $k, $v := .payload}}{{$k}}={{$v}}{{end}}", `{"a": {"b": null}}`},
		{"{{json .}}", `{"x": "\u00e9"}`},
		{"{{with $x := .payload.a.b}}{{$x.c}}{{end}}", `{"a": {"b": {"c": true}}}`},
		{"{{(index .payload.a 0).b}} {{slice .payload.s 1 2}}", `{"a": [{"b": 2}], "s": "abc"}`},
		{"{{call .payload.f}}", `{"f": 1}`},
		{`{{printf "%.2f %d %x %q" .payload.a .payload.a .payload.s .payload.s}}`, `{"a": 12.345, "s": "\u0001"}`},
		{`{{fixed 2 .payload.a}} {{thousands .payload.a}} {{truncate 3 .payload.s}} {{default "x" .payload.n}}`, `{"a": 1e30, "s": "abcdef"}`},
		{`{{date "2006-01-02" .occurredAt "UTC"}} {{date "Mon" .payload.t}} {{upper .payload.s}} {{html .payload.s}}`, `{"t": 0, "s": "<é>"}`},
		{`{{range .payload.a}}{{js $.payload.s}}{{urlquery $.payload.s}}{{if lt $.payload.s "z"}}{{end}}{{end}}`, `{"a": [1, 2], "s": "x y"}`},
	} {
		f.Add(seed.tmpl, seed.payload)
	}
	f.Fuzz(func(t *testing.T, tmpl, payload string) {
		t0 := time.Now()
		defer func() {
			if d := time.Since(t0); d > time.Second {
				t.Fatalf("took %v", d)
			}
		}()
		act, msg := compileAction(Action{ChannelID: uuid.MustParse(testChannel), Template: tmpl})
		if msg != "" {
			return
		}
		ev, err := NewSubject("fuzz.event", "fuzz", testTime, json.RawMessage(payload))
		if err != nil {
			ev = Subject{Type: "fuzz.event"}
		}
		start := time.Now()
		var got, failed string
		if n := allocated(func() { got, failed = act.render(nil, templateData(&ev)) }); n > maxRenderAlloc {
			t.Fatalf("render allocated %d bytes", n)
		}
		if failed != "" {
			if got != "" {
				t.Fatalf("failed (%s) with a message", failed)
			}
			return
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("render took %v", d)
		}
		if len(got) > MaxMessageBytes || !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("message of %d bytes, not valid text: %q", len(got), got)
		}
		if strings.Contains(got, "<no value>") && !strings.Contains(tmpl, "<no value>") && !strings.Contains(payload, "no value") {
			t.Fatalf("rendered <no value>: %q", got)
		}
	})
}

// TestFormatHelpers: numbers format exactly (printf and the helpers), and
// the helpers users expect in messages work on payload values.
func TestFormatHelpers(t *testing.T) {
	t.Parallel()

	const payload = `{"amount": 12.345, "neg": -0.004, "big": 1234567.5, "int": 1234567, "str": "9876.5",
		"exp": 1.5e3, "n": 42, "customer": "ann", "total": 1234567.5, "note": "leave at the back door", "ts": 1714564800, "name": "Ann", "empty": "", "nothing": null, "long": "abcdefghij"}`
	for _, tt := range []struct{ name, tmpl, want string }{
		{"PrintfFixed", `{{printf "%.2f" .payload.amount}}`, "12.35"},
		{"PrintfFixedDefault", `{{printf "%f" .payload.n}}`, "42.000000"},
		{"PrintfFixedNegativeZero", `{{printf "%.2f" .payload.neg}}`, "0.00"},
		{"PrintfWidthFlags", `[{{printf "%8.1f|%-8.1f|%08.1f|%+.1f" .payload.amount .payload.amount .payload.amount .payload.amount}}]`, "[    12.3|12.3    |000012.3|+12.3]"},
		{"PrintfInt", `{{printf "%d %5d %x %o %b %c" .payload.n .payload.n .payload.n .payload.n .payload.n .payload.n}}`, "42    42 2a 52 101010 *"},
		{"PrintfIntFromExponent", `{{printf "%d" .payload.exp}}`, "1500"},
		{"PrintfIntOfFraction", `{{printf "%d" .payload.amount}}`, "%!d(number=12.345)"},
		{"PrintfExp", `{{printf "%.3e %g" .payload.big .payload.amount}}`, "1.235e+06 12.345"},
		{"PrintfLiteral", `{{printf "%.2f %d" 3 7}}`, "3.00 7"},
		{"PrintfV", `{{printf "%v %s" .payload.amount .payload.exp}}`, "12.345 1.5e3"},
		{"Fixed", `{{fixed 2 .payload.amount}} {{.payload.amount | fixed 0}} {{fixed 1 .payload.str}}`, "12.35 12 9876.5"},
		{"FixedRoundsUp", `{{fixed 1 9.96}} {{fixed 2 .payload.neg}}`, "10.0 0.00"},
		{"FixedNotANumber", `{{fixed 2 .payload.name}}`, "<error: fixed: a string is not a number>"},
		{"Thousands", `{{thousands .payload.big}} {{thousands .payload.int}} {{thousands .payload.exp}} {{thousands -1234}}`, "1,234,567.5 1,234,567 1,500 -1,234"},
		{"ThousandsOfFixed", `{{.payload.big | fixed 2 | thousands}}`, "1,234,567.50"},
		{"Date", `{{date "2006-01-02 15:04" .occurredAt}}`, "2024-05-01 12:00"},
		{"DateUnix", `{{date "Jan 2, 2006" .payload.ts}}`, "May 1, 2024"},
		{"DateZone", `{{date "15:04 MST" .occurredAt "Europe/Berlin"}}`, "14:00 CEST"},
		{"DateNotATime", `{{date "2006" .payload.name}}`, "<error: date: not an RFC 3339 time>"},
		{"Default", `{{default "n/a" .payload.nope}} {{default "n/a" .payload.empty}} {{default "n/a" .payload.nothing}} {{.payload.name | default "n/a"}}`, "n/a n/a n/a Ann"},
		{"Upper", `{{upper .payload.name}} {{lower "ÀB"}}`, "ANN àb"},
		{"Truncate", `{{truncate 5 .payload.long}} {{truncate 20 .payload.long}} {{.payload.long | truncate 1}}`, "abcd… abcdefghij …"},
		{"TruncateMissing", `{{truncate 5 .payload.nope}}`, "<missing: truncate 5 .payload.nope>"},
		{"JSON", `{{json .payload.long}}`, `"abcdefghij"`},
		{"DocsExample", `{{.payload.customer | upper}}: {{.payload.total | fixed 2 | thousands}} EUR on {{date "Jan 2, 2006 15:04" .occurredAt "Europe/Berlin"}} ({{.payload.coupon | default "no coupon"}}) {{truncate 12 .payload.note}}`,
			"ANN: 1,234,567.50 EUR on May 1, 2024 14:00 (no coupon) leave at th…"},
		{"ComparisonsStayExact", `{{if eq .payload.amount 12.345}}exact{{end}}`, "exact"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, render(t, tt.tmpl, payload))
		})
	}
}
