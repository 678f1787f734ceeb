package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/apperr"
)

const specExample = `{
  "match": {
    "type": "order.*",
    "all": [
      {"field": "payload.amount", "op": "gte", "value": 1000},
      {"any": [
        {"field": "payload.country", "op": "in", "value": ["DE", "FR"]},
        {"not": {"field": "source", "op": "eq", "value": "test"}}
      ]}
    ]
  },
  "threshold": {"count": 5, "within": "10m", "groupBy": "payload.userId"},
  "cooldown": "15m",
  "actions": [
    {"channelId": "0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8a", "template": "Order {{.payload.orderId}}: {{.payload.amount}}"}
  ]
}`

func TestParseDefinition(t *testing.T) {
	t.Parallel()

	raw := json.RawMessage(specExample)
	def, err := ParseDefinition(raw)
	require.NoError(t, err)

	require.Equal(t, MatchSpec{
		Type: "order.*",
		All: []Condition{
			{Field: "payload.amount", Op: "gte", Value: json.RawMessage(`1000`)},
			{Any: []Condition{
				{Field: "payload.country", Op: "in", Value: json.RawMessage(`["DE", "FR"]`)},
				{Not: &Condition{Field: "source", Op: "eq", Value: json.RawMessage(`"test"`)}},
			}},
		},
	}, def.Match)
	require.Equal(t, &Threshold{Count: 5, Within: 10 * time.Minute, GroupBy: "payload.userId"}, def.Threshold)
	require.Equal(t, 15*time.Minute, def.Cooldown)
	require.Equal(t, []Action{{ChannelID: uuid.MustParse(testChannel), Template: "Order {{.payload.orderId}}: {{.payload.amount}}"}}, def.Actions)

	// Raw is kept byte for byte, in a copy of its own.
	require.Equal(t, specExample, string(def.Raw))
	raw[0] = ' '
	require.Equal(t, byte('{'), def.Raw[0])

	c, err := Compile(def)
	require.NoError(t, err)
	require.Equal(t, def, c.Definition())
	ev := mustEvent(t, "order.created", "shop", `{"amount": 1500, "country": "US", "userId": "u1", "orderId": "o-9"}`)
	require.True(t, c.Match(ev))
	require.Equal(t, "u1", c.GroupKey(ev))
	require.Equal(t, "Order o-9: 1500", c.Render(context.Background(), ev)[0].Message)
}

func TestParseDefinitionOptionalNulls(t *testing.T) {
	t.Parallel()

	def, err := ParseDefinition(json.RawMessage(`{"match": {"type": null, "all": null, "not": null}, "threshold": null,
		"cooldown": null, "actions": [{"channelId": "` + testChannel + `", "template": "x"}]}`))
	require.NoError(t, err)
	require.Nil(t, def.Threshold)
	require.Zero(t, def.Cooldown)
	require.Equal(t, MatchSpec{}, def.Match)
}

// withAction completes a definition's members with one valid action.
func withAction(members string) string {
	return `{` + members + `, "actions": [{"channelId": "` + testChannel + `", "template": "x"}]}`
}

// leafDef is a definition whose only condition is the given JSON.
func leafDef(cond string) string {
	return withAction(`"match": {"all": [` + cond + `]}`)
}

func nested(depth int) string {
	cond := `{"field": "type", "op": "eq", "value": "a"}`
	for range depth - 1 {
		cond = `{"not": ` + cond + `}`
	}
	return cond
}

func TestParseDefinitionProblems(t *testing.T) {
	t.Parallel()

	manyConds := strings.TrimSuffix(strings.Repeat(`{"field": "type", "op": "eq", "value": "a"},`, 65), ",")
	manyItems := strings.TrimSuffix(strings.Repeat(`"x",`, 257), ",")
	fe := func(field, msg string) apperr.FieldError { return apperr.FieldError{Field: field, Message: msg} }

	for _, tt := range []struct {
		name string
		def  string
		want []apperr.FieldError
	}{
		{"NotJSON", `{"match":`, []apperr.FieldError{fe("definition", "must be valid JSON")}},
		{"NotObject", `[1]`, []apperr.FieldError{fe("definition", "must be an object")}},
		{"TooLarge", `{"x": "` + strings.Repeat("a", MaxDefinitionBytes) + `"}`,
			[]apperr.FieldError{fe("definition", "must be at most 65536 bytes")}},
		{"InvalidUTF8", "{\"match\": {\"type\": \"a\xff\"}}", []apperr.FieldError{fe("definition", "must be valid UTF-8")}},
		{"NULEscape", withAction(`"match": {"all": [{"field": "type", "op": "eq", "value": "a\u0000"}]}`),
			[]apperr.FieldError{fe("definition", `strings must not contain \u0000`)}},
		{"EscapedBackslashIsNotNUL", withAction(`"match": {"all": [{"field": "type", "op": "eq", "value": "a\\u0000"}]}`), nil},
		{"Empty", `{}`, []apperr.FieldError{fe("definition.match", "is required"), fe("definition.actions", "is required")}},
		{"UnknownTopLevelKey", withAction(`"match": {}, "cooldwon": "1m"`),
			[]apperr.FieldError{fe("definition.cooldwon", `unknown field "cooldwon" (did you mean "cooldown"?)`)}},
		{"UnknownKeyFarFromAny", withAction(`"match": {}, "priority": 1`),
			[]apperr.FieldError{fe("definition.priority", `unknown field "priority"`)}},
		{"DuplicateKey", withAction(`"match": {}, "match": {}`),
			[]apperr.FieldError{fe("definition.match", `duplicate key "match"`)}},
		{"UnknownConditionKey", leafDef(`{"feild": "payload.a", "op": "eq", "value": 1}`), []apperr.FieldError{
			fe("definition.match.all[0].feild", `unknown field "feild" (did you mean "field"?)`),
			fe("definition.match.all[0].field", "is required"),
		}},
		{"UnknownMatchKey", withAction(`"match": {"typ": "a"}`),
			[]apperr.FieldError{fe("definition.match.typ", `unknown field "typ" (did you mean "type"?)`)}},
		{"UnknownOperator", withAction(`"match": {"all": [{"field": "type", "op": "eq", "value": "a"}, {"field": "payload.a", "op": "gt=", "value": 1}]}`),
			[]apperr.FieldError{fe("definition.match.all[1].op", `unknown operator "gt="`)}},
		{"UnknownField", leafDef(`{"field": "amount", "op": "eq", "value": 1}`),
			[]apperr.FieldError{fe("definition.match.all[0].field", `unknown field "amount": use type, source, occurredAt or payload.<path>`)}},
		{"BadKeyInPath", leafDef(`{"field": "payload.a b", "op": "eq", "value": 1}`),
			[]apperr.FieldError{fe("definition.match.all[0].field", `invalid field "payload.a b": key "a b" may contain only letters, digits, _ and -`)}},
		{"MissingLeafParts", leafDef(`{"op": "eq"}`), []apperr.FieldError{
			fe("definition.match.all[0].field", "is required"),
			fe("definition.match.all[0].value", "is required"),
		}},
		{"OpNotString", leafDef(`{"field": "type", "op": 5, "value": "a"}`),
			[]apperr.FieldError{fe("definition.match.all[0].op", "must be a string")}},
		{"EmptyCondition", leafDef(`{}`), []apperr.FieldError{fe("definition.match.all[0]", conditionShape)}},
		{"LeafAndGroup", leafDef(`{"field": "type", "op": "eq", "value": "a", "not": {"field": "type", "op": "eq", "value": "b"}}`),
			[]apperr.FieldError{fe("definition.match.all[0]", conditionShape)}},
		{"TwoGroups", leafDef(`{"all": [{"field": "type", "op": "eq", "value": "a"}], "any": [{"field": "type", "op": "eq", "value": "b"}]}`),
			[]apperr.FieldError{fe("definition.match.all[0]", `a group must have exactly one of "all", "any" or "not"`)}},
		{"EmptyGroup", leafDef(`{"any": []}`),
			[]apperr.FieldError{fe("definition.match.all[0].any", "must have at least one condition")}},
		{"EmptyTopLevelAll", withAction(`"match": {"all": []}`),
			[]apperr.FieldError{fe("definition.match.all", "must have at least one condition")}},
		{"ConditionNotObject", leafDef(`"type == a"`),
			[]apperr.FieldError{fe("definition.match.all[0]", "must be an object")}},
		{"AllNotArray", withAction(`"match": {"all": {"field": "type", "op": "eq", "value": "a"}}`),
			[]apperr.FieldError{fe("definition.match.all", "must be an array")}},
		{"DepthEight", leafDef(nested(8)), nil},
		{"TooDeep", leafDef(nested(9)), []apperr.FieldError{
			fe("definition.match.all[0].not.not.not.not.not.not.not.not", "conditions nest deeper than 8 levels"),
		}},
		{"TooDeepDecoder", leafDef(nested(200)), []apperr.FieldError{
			fe("definition.match.all[0].not.not.not.not.not.not.not.not", "conditions nest deeper than 8 levels"),
		}},
		{"SixtyFourConditions", withAction(`"match": {"all": [` + strings.TrimSuffix(manyConds, `,{"field": "type", "op": "eq", "value": "a"}`) + `]}`), nil},
		{"TooManyConditions", withAction(`"match": {"all": [` + manyConds + `]}`),
			[]apperr.FieldError{fe("definition.match.all[64]", "a rule may have at most 64 conditions")}},
		{"InNotArray", leafDef(`{"field": "payload.c", "op": "in", "value": "DE"}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must be an array for in")}},
		{"InEmpty", leafDef(`{"field": "payload.c", "op": "nin", "value": []}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must have at least one item")}},
		{"InTooMany", leafDef(`{"field": "payload.c", "op": "in", "value": [` + manyItems + `]}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must have at most 256 items")}},
		{"InObjectItem", leafDef(`{"field": "payload.c", "op": "in", "value": ["a", {"b": 1}, [2]]}`), []apperr.FieldError{
			fe("definition.match.all[0].value[1]", scalarKinds),
			fe("definition.match.all[0].value[2]", scalarKinds),
		}},
		{"EqObject", leafDef(`{"field": "payload.c", "op": "eq", "value": {"a": 1}}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", scalarKinds)}},
		{"GtBool", leafDef(`{"field": "payload.c", "op": "gt", "value": true}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must be a number or a string for gt")}},
		{"StartsWithNumber", leafDef(`{"field": "payload.c", "op": "startsWith", "value": 1}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must be a string for startsWith")}},
		{"ExistsNotBool", leafDef(`{"field": "payload.c", "op": "exists", "value": "yes"}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must be true or false for exists")}},
		{"StringTooLong", leafDef(`{"field": "payload.c", "op": "eq", "value": "` + strings.Repeat("x", 1025) + `"}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must be at most 1024 bytes")}},
		{"SetStringTooLong", leafDef(`{"field": "payload.c", "op": "in", "value": ["a", "` + strings.Repeat("x", 1025) + `"]}`),
			[]apperr.FieldError{fe("definition.match.all[0].value[1]", "must be at most 1024 bytes")}},
		{"BadRegex", leafDef(`{"field": "payload.c", "op": "regex", "value": "(a"}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "invalid regular expression: missing closing ): `(a`")}},
		{"RegexNotRE2", leafDef(`{"field": "payload.c", "op": "regex", "value": "(?=a)"}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "invalid regular expression: invalid or unsupported Perl syntax: `(?=`")}},
		{"RegexTooLong", leafDef(`{"field": "payload.c", "op": "regex", "value": "` + strings.Repeat("a", 257) + `"}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must be at most 256 bytes")}},
		{"TypeNotString", leafDef(`{"field": "type", "op": "eq", "value": 5}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must be a string for type")}},
		{"SourceSetNotStrings", leafDef(`{"field": "source", "op": "in", "value": ["a", 1]}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", "must be an array of strings for source")}},
		{"OccurredAtNotTime", leafDef(`{"field": "occurredAt", "op": "gt", "value": "yesterday"}`),
			[]apperr.FieldError{fe("definition.match.all[0].value", `must be an RFC 3339 timestamp like "2024-05-01T12:00:00Z" for occurredAt`)}},
		{"OccurredAtOp", leafDef(`{"field": "occurredAt", "op": "contains", "value": "2024"}`),
			[]apperr.FieldError{fe("definition.match.all[0].op", "operator contains is not supported on occurredAt; use eq, ne, gt, gte, lt, lte or exists")}},
		{"TypePatternBad", withAction(`"match": {"type": "order.*x"}`),
			[]apperr.FieldError{fe("definition.match.type", `invalid type pattern "order.*x": segment "*x" must be a name (letters, digits, _, : and -), * or **`)}},
		{"TypePatternEmptySegment", withAction(`"match": {"type": "order..x"}`),
			[]apperr.FieldError{fe("definition.match.type", `invalid type pattern "order..x": empty segment`)}},
		{"TypeEmpty", withAction(`"match": {"type": ""}`),
			[]apperr.FieldError{fe("definition.match.type", "must not be empty; omit type to match every type")}},
		{"TypeNotString", withAction(`"match": {"type": ["a"]}`),
			[]apperr.FieldError{fe("definition.match.type", "must be a string")}},
		{"BadDuration", withAction(`"match": {}, "cooldown": "15 minutes"`),
			[]apperr.FieldError{fe("definition.cooldown", `invalid duration "15 minutes": use numbers with units s, m, h or d, like "10m", "1h30m" or "7d"`)}},
		{"DurationMillis", withAction(`"match": {}, "cooldown": "500ms"`),
			[]apperr.FieldError{fe("definition.cooldown", `invalid duration "500ms": use numbers with units s, m, h or d, like "10m", "1h30m" or "7d"`)}},
		{"DurationNumber", withAction(`"match": {}, "cooldown": 60`),
			[]apperr.FieldError{fe("definition.cooldown", "must be a string")}},
		{"DurationTooShort", withAction(`"match": {}, "cooldown": "0s"`),
			[]apperr.FieldError{fe("definition.cooldown", "must be between 1s and 31d")}},
		{"DurationTooLong", withAction(`"match": {}, "threshold": {"count": 2, "within": "32d"}`),
			[]apperr.FieldError{fe("definition.threshold.within", "must be between 1s and 31d")}},
		{"ThresholdCountOne", withAction(`"match": {}, "threshold": {"count": 1, "within": "1m"}`),
			[]apperr.FieldError{fe("definition.threshold.count", "must be an integer from 2 to 10000")}},
		{"ThresholdCountFraction", withAction(`"match": {}, "threshold": {"count": 2.5, "within": "1m"}`),
			[]apperr.FieldError{fe("definition.threshold.count", "must be an integer from 2 to 10000")}},
		{"ThresholdCountString", withAction(`"match": {}, "threshold": {"count": "5", "within": "1m"}`),
			[]apperr.FieldError{fe("definition.threshold.count", "must be an integer from 2 to 10000")}},
		{"ThresholdCountHuge", withAction(`"match": {}, "threshold": {"count": 1e30, "within": "1m"}`),
			[]apperr.FieldError{fe("definition.threshold.count", "must be an integer from 2 to 10000")}},
		{"ThresholdMissingParts", withAction(`"match": {}, "threshold": {}`), []apperr.FieldError{
			fe("definition.threshold.count", "is required"),
			fe("definition.threshold.within", "is required"),
		}},
		{"ThresholdBadGroupBy", withAction(`"match": {}, "threshold": {"count": 2, "within": "1m", "groupBy": "user"}`),
			[]apperr.FieldError{fe("definition.threshold.groupBy", `unknown field "user": use type, source, occurredAt or payload.<path>`)}},
		{"ThresholdEmptyGroupBy", withAction(`"match": {}, "threshold": {"count": 2, "within": "1m", "groupBy": ""}`),
			[]apperr.FieldError{fe("definition.threshold.groupBy", "must not be empty; omit groupBy to count the whole rule as one group")}},
		{"NoActions", `{"match": {}, "actions": []}`,
			[]apperr.FieldError{fe("definition.actions", "must have at least one action")}},
		{"TooManyActions", `{"match": {}, "actions": [` + strings.TrimSuffix(strings.Repeat(`{"channelId": "`+testChannel+`", "template": "x"},`, 21), ",") + `]}`,
			[]apperr.FieldError{fe("definition.actions", "must have at most 20 actions")}},
		{"BadChannelID", `{"match": {}, "actions": [{"channelId": "chan-1", "template": "x"}]}`,
			[]apperr.FieldError{fe("definition.actions[0].channelId", `must be a UUID like "0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8a"`)}},
		{"ChannelIDWithoutDashes", `{"match": {}, "actions": [{"channelId": "0190a3c27b1e7cc09f4a2f6d1c0b9e8a", "template": "x"}]}`,
			[]apperr.FieldError{fe("definition.actions[0].channelId", `must be a UUID like "0190a3c2-7b1e-7cc0-9f4a-2f6d1c0b9e8a"`)}},
		{"NilChannelID", `{"match": {}, "actions": [{"channelId": "00000000-0000-0000-0000-000000000000", "template": "x"}]}`,
			[]apperr.FieldError{fe("definition.actions[0].channelId", "is required")}},
		{"TemplateSyntax", `{"match": {}, "actions": [{"channelId": "` + testChannel + `", "template": "Order {{.payload.orderId"}]}`,
			[]apperr.FieldError{fe("definition.actions[0].template", "invalid template: line 1: unclosed action")}},
		{"TemplateTooLong", `{"match": {}, "actions": [{"channelId": "` + testChannel + `", "template": "` + strings.Repeat("x", 4097) + `"}]}`,
			[]apperr.FieldError{fe("definition.actions[0].template", "must be at most 4096 bytes")}},
		{"ActionUnknownKey", `{"match": {}, "actions": [{"channelId": "` + testChannel + `", "template": "x", "channel": "email"}]}`,
			[]apperr.FieldError{fe("definition.actions[0].channel", `unknown field "channel" (did you mean "channelId"?)`)}},
		{"ActionMissingParts", `{"match": {}, "actions": [{}]}`, []apperr.FieldError{
			fe("definition.actions[0].channelId", "is required"),
			fe("definition.actions[0].template", "is required"),
		}},
		{"EveryProblemAtOnce", `{"match": {"type": "a..b", "all": [{"field": "payload.x", "op": "gt=", "value": 1}, {"field": "payload.y", "op": "regex", "value": "("}]},
			"threshold": {"count": 1, "within": "1x"}, "cooldown": "0s", "actions": [], "extra": true}`, []apperr.FieldError{
			fe("definition.extra", `unknown field "extra"`),
			fe("definition.threshold.count", "must be an integer from 2 to 10000"),
			fe("definition.threshold.within", `invalid duration "1x": use numbers with units s, m, h or d, like "10m", "1h30m" or "7d"`),
			fe("definition.cooldown", "must be between 1s and 31d"),
			fe("definition.match.type", `invalid type pattern "a..b": empty segment`),
			fe("definition.match.all[0].op", `unknown operator "gt="`),
			fe("definition.match.all[1].value", "invalid regular expression: missing closing ): `(`"),
			fe("definition.actions", "must have at least one action"),
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			_, err := ParseDefinition(json.RawMessage(tt.def))
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			e, ok := apperr.As(err)
			require.True(t, ok, "%T %v", err, err)
			require.Equal(t, apperr.KindInvalid, e.Kind)
			require.Equal(t, "invalid_rule", e.Code)
			require.Equal(t, "The rule definition is invalid.", e.Detail)
			require.Equal(t, tt.want, e.Fields)
		})
	}
}

func TestCompileHandBuilt(t *testing.T) {
	t.Parallel()

	_, err := Compile(Definition{
		Match: MatchSpec{All: []Condition{
			{Field: "payload.a", Op: "eq"},
			{Field: "payload.a", Op: "eq", Value: json.RawMessage(`{`)},
			{All: []Condition{}},
		}},
		Threshold: &Threshold{Count: 2},
		Cooldown:  -time.Second,
		Actions:   []Action{{Template: "{{"}},
	})
	e, ok := apperr.As(err)
	require.True(t, ok)
	require.Equal(t, []apperr.FieldError{
		{Field: "definition.match.all[0].value", Message: "is required"},
		{Field: "definition.match.all[1].value", Message: "must be valid JSON"},
		{Field: "definition.match.all[2].all", Message: "must have at least one condition"},
		{Field: "definition.threshold.within", Message: "must be between 1s and 31d"},
		{Field: "definition.cooldown", Message: "must be between 1s and 31d"},
		{Field: "definition.actions[0].channelId", Message: "is required"},
		{Field: "definition.actions[0].template", Message: "invalid template: line 1: unclosed action"},
	}, e.Fields)

	// A hand-built definition without Raw compiles and evaluates.
	c, err := Compile(Definition{
		Match:   MatchSpec{Type: "a.*", Any: []Condition{{Field: "payload.n", Op: "in", Value: json.RawMessage(`[1, 2]`)}}},
		Actions: []Action{{ChannelID: uuid.MustParse(testChannel), Template: "n={{.payload.n}}"}},
	})
	require.NoError(t, err)
	ev := &Subject{Type: "a.b", Payload: map[string]any{"n": 2}}
	require.True(t, c.Match(ev))
	require.Equal(t, "n=2", c.Render(context.Background(), ev)[0].Message)
}

func TestParseDuration(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]time.Duration{
		"1s": time.Second, "90s": 90 * time.Second, "10m": 10 * time.Minute, "1h30m": 90 * time.Minute,
		"1.5h": 90 * time.Minute, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "0.5d": 12 * time.Hour,
		"31d": MaxDuration, "30m1h": 90 * time.Minute,
	} {
		got, msg := checkDuration(in)
		require.Empty(t, msg, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "10", "m", "-1m", "+1m", "1ms", "1us", "1ns", "1w", "1 m", "1..5h", "1d2", "99999999999999999999d", "9999999999h"} {
		_, ok := parseDuration(in)
		require.False(t, ok, in)
	}
	for _, in := range []string{"0s", "999ms", "0.5s", "31d1s", "32d"} {
		_, msg := checkDuration(in)
		require.NotEmpty(t, msg, in)
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()

	require.Equal(t, 1, editDistance("feild", "field"))
	require.Equal(t, 0, editDistance("op", "op"))
	require.Equal(t, 1, editDistance("valeu", "value"))
	require.Equal(t, 2, editDistance("channel", "channelId"))
	require.Equal(t, `unknown field "Value" (did you mean "value"?)`, unknownKey("Value", conditionKeys))
	require.Equal(t, `unknown field "zzz"`, unknownKey("zzz", conditionKeys))
}

func FuzzParseDefinition(f *testing.F) {
	for _, seed := range []string{
		specExample,
		leafDef(nested(9)),
		`{"match": {"type": "**.failed", "not": {"field": "payload.a[0][1].b", "op": "regex", "value": "^x+$"}}, "actions": [{"channelId": "` + testChannel + `", "template": "{{range .payload.a}}{{.}}{{end}}"}]}`,
		`{"match": {"any": [{"field": "occurredAt", "op": "lt", "value": "2030-01-01T00:00:00Z"}]}, "threshold": {"count": 3, "within": "1d"}, "actions": [{"channelId": "` + testChannel + `", "template": "{{.payload}}"}]}`,
		`{"match": {"all": [{"field": "payload.n", "op": "in", "value": [1, 2.5, "x", true, null, 1e400]}]}, "actions": [{"channelId": "` + testChannel + `", "template": "{{index .payload.n 0}}"}]}`,
		`{"match": {}, "match": {}}`,
		`{"match": {"all": [{"feild": 1}]}, "actions": [{}], "x": [}`,
		`[]`, `null`, `"x"`, `{"actions": 5}`,
	} {
		f.Add(seed)
	}
	ev := mustEvent(f, "order.created", "shop", `{"a": [[0, {"b": "xx"}]], "n": 2.5, "payload": {"x": 1}}`)
	f.Fuzz(func(t *testing.T, raw string) {
		def, err := ParseDefinition(json.RawMessage(raw))
		if err != nil {
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.KindInvalid || len(e.Fields) == 0 {
				t.Fatalf("unexpected error %T %v", err, err)
			}
			for _, fe := range e.Fields {
				if !strings.HasPrefix(fe.Field, "definition") || fe.Message == "" {
					t.Fatalf("bad field error %+v", fe)
				}
			}
			return
		}
		c, err := Compile(def)
		if err != nil {
			t.Fatalf("a parsed definition does not compile: %v", err)
		}
		matched, failed := c.Explain(ev)
		if matched != c.Match(ev) || matched != (failed == "") {
			t.Fatalf("Explain (%v, %q) disagrees with Match", matched, failed)
		}
		_ = c.GroupKey(ev)
		for _, r := range c.Render(context.Background(), ev) {
			if len(r.Message) > MaxMessageBytes {
				t.Fatalf("message of %d bytes", len(r.Message))
			}
		}
	})
}

func ExampleParseDefinition() {
	def, err := ParseDefinition(json.RawMessage(`{"match": {"all": [{"field": "payload.amount", "op": "gte=", "value": 1000}]}, "actions": []}`))
	fmt.Println(def.Raw == nil)
	e, _ := apperr.As(err)
	for _, f := range e.Fields {
		fmt.Println(f.Field, "→", f.Message)
	}
	// Output:
	// true
	// definition.match.all[0].op → unknown operator "gte="
	// definition.actions → must have at least one action
}
