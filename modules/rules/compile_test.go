package rules

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// mustCompile parses and compiles a definition given as JSON.
func mustCompile(t testing.TB, def string) *Compiled {
	t.Helper()
	d, err := ParseDefinition(json.RawMessage(def))
	require.NoError(t, err)
	c, err := Compile(d)
	require.NoError(t, err)
	return c
}

// ruleWith is a definition with one leaf condition.
func ruleWith(field, op, value string) string {
	return fmt.Sprintf(`{"match":{"all":[{"field":%q,"op":%q,"value":%s}]},"actions":[{"channelId":%q,"template":"x"}]}`,
		field, op, value, testChannel)
}

const testChannel = "0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8a"

var testTime = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func mustEvent(t testing.TB, typ, source, payload string) *Subject {
	t.Helper()
	ev, err := NewSubject(typ, source, testTime, json.RawMessage(payload))
	require.NoError(t, err)
	return &ev
}

func TestOperators(t *testing.T) {
	t.Parallel()

	const payload = `{
		"amount": 1000, "price": 10.50, "zero": 0, "neg": -3,
		"big": 1152921504606846976, "huge": 1e400,
		"country": "DE", "email": "ann@example.com", "empty": "",
		"vip": true, "off": false, "nothing": null,
		"tags": ["a", "b", 7, true, null], "items": [{"sku": "A1", "qty": 2}, {"sku": "B2", "qty": 1}],
		"obj": {"k": "v"}, "ts": "2024-05-01T10:00:00Z"
	}`

	for _, tt := range []struct {
		field, op, value string
		want             bool
	}{
		// eq / ne: numbers by value, strings, bools, null; kinds never mix.
		{"payload.amount", "eq", `1000`, true},
		{"payload.amount", "eq", `1000.0`, true},
		{"payload.amount", "eq", `1e3`, true},
		{"payload.amount", "eq", `1000.0001`, false},
		{"payload.amount", "eq", `"1000"`, false},
		{"payload.amount", "ne", `"1000"`, true},
		{"payload.price", "eq", `10.5`, true},
		{"payload.zero", "eq", `-0`, true},
		{"payload.neg", "eq", `-3`, true},
		{"payload.big", "eq", `1152921504606846976`, true},
		{"payload.big", "eq", `1152921504606846977`, false},
		{"payload.big", "gt", `1152921504606846975`, true},
		{"payload.huge", "gt", `1e399`, true},
		{"payload.country", "eq", `"DE"`, true},
		{"payload.country", "eq", `"de"`, false},
		{"payload.country", "ne", `"FR"`, true},
		{"payload.country", "ne", `"DE"`, false},
		{"payload.vip", "eq", `true`, true},
		{"payload.vip", "eq", `1`, false},
		{"payload.off", "ne", `true`, true},
		{"payload.nothing", "eq", `null`, true},
		{"payload.nothing", "ne", `null`, false},
		{"payload.country", "eq", `null`, false},
		{"payload.obj", "eq", `"v"`, false},
		{"payload.obj", "ne", `"v"`, true},
		{"payload.tags", "eq", `"a"`, false},

		// gt / gte / lt / lte: numbers or strings, same kind only.
		{"payload.amount", "gte", `1000`, true},
		{"payload.amount", "gt", `1000`, false},
		{"payload.amount", "gt", `999.99`, true},
		{"payload.amount", "lt", `1000.5`, true},
		{"payload.amount", "lte", `1000`, true},
		{"payload.neg", "lt", `0`, true},
		{"payload.neg", "gt", `-3.5`, true},
		{"payload.price", "lt", `10.51`, true},
		{"payload.amount", "gt", `"1"`, false},
		{"payload.country", "gt", `"CH"`, true},
		{"payload.country", "lt", `"CH"`, false},
		{"payload.country", "gt", `1`, false},
		{"payload.ts", "gte", `"2024-05-01T00:00:00Z"`, true},
		{"payload.vip", "gt", `0`, false},

		// in / nin.
		{"payload.country", "in", `["DE", "FR"]`, true},
		{"payload.country", "in", `["FR"]`, false},
		{"payload.country", "nin", `["FR"]`, true},
		{"payload.country", "nin", `["DE"]`, false},
		{"payload.amount", "in", `[1, 1000.0]`, true},
		{"payload.amount", "in", `["1000"]`, false},
		{"payload.price", "in", `[10.5, 3]`, true},
		{"payload.big", "in", `[1152921504606846976]`, true},
		{"payload.huge", "in", `[1e400]`, true},
		{"payload.vip", "in", `[true]`, true},
		{"payload.off", "in", `[true]`, false},
		{"payload.nothing", "in", `[null]`, true},
		{"payload.obj", "in", `["v"]`, false},
		{"payload.obj", "nin", `["v"]`, true},

		// contains: substring, or an equal array item.
		{"payload.email", "contains", `"@example."`, true},
		{"payload.email", "contains", `"@other."`, false},
		{"payload.tags", "contains", `"b"`, true},
		{"payload.tags", "contains", `7.0`, true},
		{"payload.tags", "contains", `true`, true},
		{"payload.tags", "contains", `null`, true},
		{"payload.tags", "contains", `"c"`, false},
		{"payload.amount", "contains", `"1"`, false},
		{"payload.obj", "contains", `"v"`, false},

		// startsWith / endsWith: strings only.
		{"payload.email", "startsWith", `"ann@"`, true},
		{"payload.email", "endsWith", `".com"`, true},
		{"payload.email", "endsWith", `".org"`, false},
		{"payload.amount", "startsWith", `"1"`, false},
		{"payload.empty", "startsWith", `""`, true},

		// exists: present and not null.
		{"payload.amount", "exists", `true`, true},
		{"payload.amount", "exists", `false`, false},
		{"payload.nothing", "exists", `true`, false},
		{"payload.nothing", "exists", `false`, true},
		{"payload.empty", "exists", `true`, true},

		// regex: RE2 over strings, unanchored.
		{"payload.email", "regex", `"^[a-z]+@example\\.com$"`, true},
		{"payload.email", "regex", `"example"`, true},
		{"payload.email", "regex", `"^example"`, false},
		{"payload.amount", "regex", `"1000"`, false},

		// A missing field: false except ne, nin and exists:false.
		{"payload.missing", "eq", `1`, false},
		{"payload.missing", "ne", `1`, true},
		{"payload.missing", "gt", `1`, false},
		{"payload.missing", "gte", `1`, false},
		{"payload.missing", "lt", `1`, false},
		{"payload.missing", "lte", `1`, false},
		{"payload.missing", "in", `[1]`, false},
		{"payload.missing", "nin", `[1]`, true},
		{"payload.missing", "contains", `"a"`, false},
		{"payload.missing", "startsWith", `"a"`, false},
		{"payload.missing", "endsWith", `"a"`, false},
		{"payload.missing", "exists", `true`, false},
		{"payload.missing", "exists", `false`, true},
		{"payload.missing", "regex", `".*"`, false},
		{"payload.missing", "eq", `null`, false},
		{"payload.country.code", "eq", `"DE"`, false}, // through a string
		{"payload.country.code", "ne", `"DE"`, true},
		{"payload.tags[9]", "exists", `false`, true}, // out of range

		// Built-in fields.
		{"type", "eq", `"order.created"`, true},
		{"type", "startsWith", `"order."`, true},
		{"type", "in", `["order.created", "order.paid"]`, true},
		{"type", "regex", `"^order\\."`, true},
		{"type", "exists", `true`, true},
		{"source", "eq", `"shop"`, true},
		{"source", "nin", `["test"]`, true},
		{"occurredAt", "gte", `"2024-05-01T12:00:00Z"`, true},
		{"occurredAt", "eq", `"2024-05-01T14:00:00+02:00"`, true},
		{"occurredAt", "gt", `"2024-05-01T12:00:00Z"`, false},
		{"occurredAt", "lt", `"2024-05-01T12:00:00.000000001Z"`, true},
		{"occurredAt", "ne", `"2024-01-01T00:00:00Z"`, true},
		{"occurredAt", "exists", `true`, true},
	} {
		name := fmt.Sprintf("%s %s %s", tt.field, tt.op, tt.value)
		t.Run(name, func(t *testing.T) {
			t.Parallel()

			c := mustCompile(t, ruleWith(tt.field, tt.op, tt.value))
			ev := mustEvent(t, "order.created", "shop", payload)
			require.Equal(t, tt.want, c.Match(ev))
			matched, failed := c.Explain(ev)
			require.Equal(t, tt.want, matched, failed)
			require.Equal(t, tt.want, failed == "", failed)
		})
	}
}

func TestOperatorsOnMissingSource(t *testing.T) {
	t.Parallel()

	ev := mustEvent(t, "order.created", "", `{}`)
	for op, want := range map[string]bool{
		`"eq","value":"test"`:    false,
		`"ne","value":"test"`:    true,
		`"in","value":["x"]`:     false,
		`"nin","value":["x"]`:    true,
		`"exists","value":true`:  false,
		`"exists","value":false`: true,
	} {
		def := fmt.Sprintf(`{"match":{"all":[{"field":"source","op":%s}]},"actions":[{"channelId":%q,"template":"x"}]}`, op, testChannel)
		require.Equal(t, want, mustCompile(t, def).Match(ev), op)
	}
}

func TestHandBuiltPayloadNumbers(t *testing.T) {
	t.Parallel()

	// Payloads not decoded by NewSubject may carry float64 and integers.
	ev := &Subject{Type: "t", Payload: map[string]any{
		"f": 1000.0, "i": 1000, "i64": int64(-5), "u": uint64(1 << 63), "half": 0.5,
	}}
	for _, tt := range []struct {
		field, op, value string
		want             bool
	}{
		{"payload.f", "eq", "1000", true},
		{"payload.f", "eq", "1000.5", false},
		{"payload.i", "eq", "1000.0", true},
		{"payload.i", "gt", "999.5", true},
		{"payload.i64", "lt", "0", true},
		{"payload.u", "gt", "9223372036854775807", true},
		{"payload.half", "in", "[0.5]", true},
		{"payload.f", "in", "[1000]", true},
		{"payload.i", "in", "[1000]", true},
		{"payload.i", "nin", "[1]", true},
	} {
		c := mustCompile(t, ruleWith(tt.field, tt.op, tt.value))
		require.Equal(t, tt.want, c.Match(ev), "%s %s %s", tt.field, tt.op, tt.value)
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		pattern, typ string
		want         bool
	}{
		{"order.*", "order.created", true},
		{"order.*", "order.created.eu", false},
		{"order.*", "order", false},
		{"order.*", "orders.created", false},
		{"order.**", "order", true},
		{"order.**", "order.a", true},
		{"order.**", "order.a.b", true},
		{"order.**", "orders.a", false},
		{"**.failed", "failed", true},
		{"**.failed", "payment.failed", true},
		{"**.failed", "a.b.c.failed", true},
		{"**.failed", "payment.failed.retry", false},
		{"*.failed", "payment.failed", true},
		{"*.failed", "a.payment.failed", false},
		{"order.created", "order.created", true},
		{"order.created", "order.created.eu", false},
		{"order.created", "Order.created", false},
		{"a.**.z", "a.z", true},
		{"a.**.z", "a.b.c.z", true},
		{"a.**.z", "a.b.c.y", false},
		{"a.**.b.**.c", "a.x.b.y.b.c", true},
		{"a.**.b.**.c", "a.x.c.b", false},
		{"*.*", "a.b", true},
		{"*.*", "a", false},
		{"**", "anything.at.all", true},
		{"**.**", "x", true},
		{"*", "x", true},
		{"*", "x.y", false},
		{"billing:v2.*", "billing:v2.invoice-paid", true},
	} {
		t.Run(tt.pattern+" "+tt.typ, func(t *testing.T) {
			t.Parallel()

			m, msg := compileType(tt.pattern)
			require.Empty(t, msg)
			require.Equal(t, tt.want, m.match(tt.typ))
		})
	}
}

func TestFieldPaths(t *testing.T) {
	t.Parallel()

	ev := mustEvent(t, "t", "", `{
		"items": [{"sku": "A1", "tags": ["x", "y"]}, {"sku": "B2"}],
		"a": {"b": [[0, 1], [2, [3, 4]]]},
		"with-dash_and_9": {"0": "zero"}
	}`)
	for _, tt := range []struct {
		field, value string
		want         bool
	}{
		{"payload.items[0].sku", `"A1"`, true},
		{"payload.items[1].sku", `"B2"`, true},
		{"payload.items[0].tags[1]", `"y"`, true},
		{"payload.a.b[0][1]", `1`, true},
		{"payload.a.b[1][1][0]", `3`, true},
		{"payload.a.b[2][1]", `1`, false},
		{"payload.with-dash_and_9.0", `"zero"`, true},
		{"payload.items.sku", `"A1"`, false},    // a key on an array
		{"payload.a[0]", `1`, false},            // an index on an object
		{"payload.items[5].sku", `"A1"`, false}, // out of range
	} {
		c := mustCompile(t, ruleWith(tt.field, "eq", tt.value))
		require.Equal(t, tt.want, c.Match(ev), tt.field)
	}
}

func TestParseField(t *testing.T) {
	t.Parallel()

	f, msg := parseField("payload.a.b[2][1].c")
	require.Empty(t, msg)
	require.Equal(t, []step{{key: "a", index: -1}, {key: "b", index: -1}, {index: 2}, {index: 1}, {key: "c", index: -1}}, f.steps)

	for in, want := range map[string]string{
		"amount":             `unknown field "amount": use type, source, occurredAt or payload.<path>`,
		"payload":            `field "payload" needs a path, like payload.amount`,
		"payload.":           `invalid field "payload.": empty key`,
		"payload.a..b":       `invalid field "payload.a..b": empty key`,
		"payload.a.":         `invalid field "payload.a.": empty key`,
		"payload.[0]":        `invalid field "payload.[0]": empty key`,
		"payload.a b":        `invalid field "payload.a b": key "a b" may contain only letters, digits, _ and -`,
		"payload.é":          `invalid field "payload.é": key "é" may contain only letters, digits, _ and -`,
		"payload.a[x]":       `invalid field "payload.a[x]": index [x] must be a non-negative integer`,
		"payload.a[-1]":      `invalid field "payload.a[-1]": index [-1] must be a non-negative integer`,
		"payload.a[]":        `invalid field "payload.a[]": index [] must be a non-negative integer`,
		"payload.a[0":        `invalid field "payload.a[0": missing ]`,
		"payload.a[0]b":      `invalid field "payload.a[0]b": expected . or [ after ]`,
		"payload.a[1000001]": `invalid field "payload.a[1000001]": index [1000001] is larger than 100000`,
		"Payload.a":          `unknown field "Payload.a": use type, source, occurredAt or payload.<path>`,
	} {
		_, msg := parseField(in)
		require.Equal(t, want, msg, in)
	}
	_, msg = parseField("payload." + strings.Repeat("a.", 40) + "a")
	require.Equal(t, fmt.Sprintf(`invalid field %q: more than 32 keys and indexes`, "payload."+strings.Repeat("a.", 40)+"a"), msg)
}

func TestGroups(t *testing.T) {
	t.Parallel()

	// The SPEC's example rule (definition_test.go): all, any and not nested.
	c := mustCompile(t, specExample)
	for _, tt := range []struct {
		typ, source, payload string
		want                 bool
		failed               string
	}{
		{"order.created", "shop", `{"amount": 1000, "country": "US"}`, true, ""},
		{"order.created", "test", `{"amount": 1000, "country": "DE"}`, true, ""},
		{"order.created", "test", `{"amount": 20, "country": "DE"}`, false,
			"match.all[0]: payload.amount gte 1000: got 20"},
		{"order.created", "test", `{"country": "DE"}`, false,
			"match.all[0]: payload.amount gte 1000: payload.amount is missing"},
		{"order.created", "test", `{"amount": 5000, "country": "US"}`, false,
			`match.all[1]: none of 2 conditions matched (match.all[1].any[0]: payload.country in ["DE","FR"]: got "US"; match.all[1].any[1]: not: source eq "test" matched)`},
		{"user.created", "shop", `{"amount": 5000}`, false,
			`match.type: type "user.created" does not match "order.*"`},
	} {
		ev := mustEvent(t, tt.typ, tt.source, tt.payload)
		require.Equal(t, tt.want, c.Match(ev), tt.payload)
		matched, failed := c.Explain(ev)
		require.Equal(t, tt.want, matched)
		require.Equal(t, tt.failed, failed)
	}
}

func TestTopLevelAnyAndNot(t *testing.T) {
	t.Parallel()

	c := mustCompile(t, `{
		"match": {
			"any": [{"field": "payload.a", "op": "eq", "value": 1}, {"field": "payload.b", "op": "eq", "value": 1}],
			"not": {"all": [{"field": "payload.c", "op": "exists", "value": true}, {"field": "payload.d", "op": "exists", "value": true}]}
		},
		"actions": [{"channelId": "`+testChannel+`", "template": "x"}]
	}`)
	for payload, want := range map[string]string{
		`{"a": 1}`:                 "",
		`{"b": 1, "c": 1}`:         "",
		`{"a": 2}`:                 `match.any: none of 2 conditions matched (match.any[0]: payload.a eq 1: got 2; match.any[1]: payload.b eq 1: payload.b is missing)`,
		`{"a": 1, "c": 1, "d": 1}`: `match.not: not: all of 2 conditions matched`,
	} {
		ev := mustEvent(t, "t", "", payload)
		require.Equal(t, want == "", c.Match(ev), payload)
		_, failed := c.Explain(ev)
		require.Equal(t, want, failed, payload)
	}

	// An empty match selects every event.
	all := mustCompile(t, `{"match": {}, "actions": [{"channelId": "`+testChannel+`", "template": "x"}]}`)
	require.True(t, all.Match(mustEvent(t, "anything", "", `{}`)))
}

func TestNestedExplainPaths(t *testing.T) {
	t.Parallel()

	c := mustCompile(t, `{
		"match": {"all": [{"all": [{"field": "type", "op": "eq", "value": "a"}, {"all": [{"field": "payload.x", "op": "lt", "value": 3}]}]}]},
		"actions": [{"channelId": "`+testChannel+`", "template": "x"}]
	}`)
	_, failed := c.Explain(mustEvent(t, "a", "", `{"x": "str"}`))
	require.Equal(t, `match.all[0].all[1].all[0]: payload.x lt 3: got "str"`, failed)
	_, failed = c.Explain(mustEvent(t, "a", "", `{"x": {"deep": [1, 2]}}`))
	require.Equal(t, `match.all[0].all[1].all[0]: payload.x lt 3: got {"deep":[1,2]}`, failed)
}

func TestGroupKey(t *testing.T) {
	t.Parallel()

	withGroup := func(groupBy string) *Compiled {
		return mustCompile(t, `{"match": {}, "threshold": {"count": 2, "within": "1m", "groupBy": "`+groupBy+`"},
			"actions": [{"channelId": "`+testChannel+`", "template": "x"}]}`)
	}
	ev := mustEvent(t, "order.created", "shop", `{"user": "u1", "n": 5.0, "dec": 1.50e-1, "big": 12345678901234567890,
		"b": true, "nul": null, "empty": "", "obj": {"z": 1, "a": [1, "x"]}, "long": "`+strings.Repeat("x", 300)+`"}`)

	for groupBy, want := range map[string]string{
		"payload.user":    "u1",
		"payload.n":       "5",
		"payload.dec":     "0.15",
		"payload.big":     "12345678901234567890",
		"payload.b":       "true",
		"payload.nul":     MissingGroup,
		"payload.empty":   MissingGroup,
		"payload.missing": MissingGroup,
		"payload.obj":     `{"a":[1,"x"],"z":1}`,
		"type":            "order.created",
		"source":          "shop",
		"occurredAt":      "2024-05-01T12:00:00Z",
	} {
		require.Equal(t, want, withGroup(groupBy).GroupKey(ev), groupBy)
	}
	long := withGroup("payload.long").GroupKey(ev)
	require.True(t, strings.HasPrefix(long, "sha256:"), long)
	require.Len(t, long, len("sha256:")+64)

	require.Equal(t, MissingGroup, withGroup("source").GroupKey(mustEvent(t, "t", "", `{}`)))
	require.Empty(t, mustCompile(t, ruleWith("type", "eq", `"x"`)).GroupKey(ev))
}

func TestMatchDoesNotAllocate(t *testing.T) {
	c := mustCompile(t, `{
		"match": {
			"type": "order.**",
			"all": [
				{"field": "payload.amount", "op": "gte", "value": 1000},
				{"field": "payload.items[0].sku", "op": "startsWith", "value": "A"},
				{"any": [
					{"field": "payload.country", "op": "in", "value": ["DE", "FR", 1, 2.5]},
					{"field": "payload.email", "op": "regex", "value": "@example\\.(com|org)$"},
					{"not": {"field": "source", "op": "eq", "value": "test"}}
				]},
				{"field": "payload.tags", "op": "contains", "value": "b"},
				{"field": "occurredAt", "op": "gt", "value": "2020-01-01T00:00:00Z"}
			]
		},
		"actions": [{"channelId": "`+testChannel+`", "template": "x"}]
	}`)
	ev := mustEvent(t, "order.created.eu", "test", `{"amount": 1500.5, "items": [{"sku": "A1"}], "country": "US",
		"email": "a@example.org", "tags": ["a", "b"]}`)
	require.True(t, c.Match(ev))
	allocs := testing.AllocsPerRun(100, func() { c.Match(ev) })
	require.Zero(t, allocs)
}

func TestNewSubject(t *testing.T) {
	t.Parallel()

	ev, err := NewSubject("t", "s", testTime, json.RawMessage(`{"n": 1.50}`))
	require.NoError(t, err)
	require.Equal(t, json.Number("1.50"), ev.Payload["n"])

	for _, empty := range []string{``, `null`, `  `} {
		ev, err := NewSubject("t", "", testTime, json.RawMessage(empty))
		require.NoError(t, err)
		require.Nil(t, ev.Payload)
	}
	for _, bad := range []string{`[1]`, `"x"`, `{"a":`, `{} {}`} {
		_, err := NewSubject("t", "", testTime, json.RawMessage(bad))
		require.Error(t, err, bad)
	}
}

func TestDec(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1000", "1000.0", 0},
		{"1000", "1e3", 0},
		{"1000", "10E2", 0},
		{"0.001", "1e-3", 0},
		{"0", "-0.0", 0},
		{"0", "0e99", 0},
		{"1", "0.9999999999999999999999", 1},
		{"-1", "-0.5", -1},
		{"-2", "-10", 1},
		{"123.45", "123.450", 0},
		{"9007199254740993", "9007199254740992", 1}, // beyond float64 precision
		{"1e1000000000000", "1e1000000001", 0},      // exponents clamp
		{"100", "99.99", 1},
		{"0.5", "-0.5", 1},
	} {
		a, ok := parseDec(tt.a)
		require.True(t, ok, tt.a)
		b, ok := parseDec(tt.b)
		require.True(t, ok, tt.b)
		require.Equal(t, tt.want, cmpDec(&a, &b), "%s vs %s", tt.a, tt.b)
		require.Equal(t, -tt.want, cmpDec(&b, &a), "%s vs %s", tt.b, tt.a)
	}
	for _, bad := range []string{"", "-", ".", "1e", "1e+", "abc", "1.2.3", "0x10", "1 "} {
		_, ok := parseDec(bad)
		require.False(t, ok, bad)
	}
	for in, want := range map[string]string{
		"0": "0", "-0.0": "0", "5": "5", "5.0": "5", "5e0": "5", "50e-1": "5", "-12.50": "-12.5",
		"0.001": "0.001", "1e-3": "0.001", "1e-7": "1e-7", "1.5e30": "1.5e+30", "123456789012345678901": "123456789012345678901",
		"1e20": "100000000000000000000", "1e21": "1e+21", "0.000001": "0.000001", "0.0000001": "1e-7",
	} {
		d, ok := parseDec(in)
		require.True(t, ok, in)
		require.Equal(t, want, d.canonical(), in)
	}
	for in, want := range map[string]int64{
		"0": 0, "5.0": 5, "-9223372036854775808": -9223372036854775808,
		"9223372036854775807": 9223372036854775807, "1e18": 1e18, "12.5e1": 125,
	} {
		d, _ := parseDec(in)
		got, ok := d.int64()
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"9223372036854775808", "-9223372036854775809", "1.5", "1e20", "1e-1"} {
		d, _ := parseDec(in)
		_, ok := d.int64()
		require.False(t, ok, in)
	}
}
