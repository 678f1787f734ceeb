package pg_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

// TestJSONBProblem checks JSONBProblem against PostgreSQL itself: what it
// lets through, jsonb stores (and reads back without growing past the
// limit); what it refuses, jsonb refuses too or inflates.
func TestJSONBProblem(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)

	nums := func(n int, num string) string {
		return `{"a":[` + strings.TrimSuffix(strings.Repeat(num+",", n), ",") + `]}`
	}
	for _, tt := range []struct {
		name, json string
		refused    bool // by JSONBProblem
		pgRefuses  bool // by PostgreSQL, when refused
	}{
		{"Plain", `{"s":"héllo \"q\" \\ \/ \n","n":[-0,1.5,-2e3,0.25E-2,123456789012345678901234567890],"b":true,"z":null}`, false, false},
		{"PairedSurrogates", `{"s":"\ud83d\ude00\uD83D\uDE00"}`, false, false},
		{"EscapedBackslashBeforeU", `{"s":"\\u0000 \\ud800 \\\\u0000"}`, false, false},
		{"OtherEscapes", `{"s":"\u00e9\u4e2d\uffff\u0001"}`, false, false},
		{"LargestNumber", `{"n":1e16382}`, false, false},
		{"SmallestNumber", `{"n":1.5e-16381}`, false, false},
		{"ManyBigNumbersWithinBudget", nums(600, "1e400"), false, false},
		{"NUL", `{"s":"a\u0000b"}`, true, true},
		{"NULInKey", `{"\u0000":1}`, true, true},
		{"LoneHigh", `{"s":"\ud800"}`, true, true},
		{"LoneHighAtEnd", `{"s":"x\uDBFF"}`, true, true},
		{"LoneLow", `{"s":"\udc00"}`, true, true},
		{"HighThenHigh", `{"s":"\ud800\ud800"}`, true, true},
		{"HighThenText", `{"s":"\ud800\u0041"}`, true, true},
		{"LowThenHigh", `{"s":"\udfff\ud800"}`, true, true},
		{"NumberTooBig", `{"n":1e131072}`, true, true},
		{"NumberTooPrecise", `{"n":1e-16384}`, true, true},
		{"ZeroTooPrecise", `{"n":0.0e-16384}`, true, true},
		{"HugeExponent", `{"n":1e99999999999999999999999}`, true, true},
		{"NumberOverDigitLimit", `{"n":1e20000}`, true, false},               // jsonb stores it, as 20001 digits
		{"NumbersOverBudget", nums(30, "1e9999"), true, false},               // 300 000 digits from 210 bytes
		{"ManyBigNumbersOverBudget", nums(700, "1e400"), true, false},        // 280 000 digits
		{"PreciseZeroOverDigitLimit", `{"n":0.0e-16383}`, true, true},        // scale 16384
		{"ShortFormsOfBigIntegers", `{"n":[1e16383,10e16382]}`, true, false}, // 16384 digits each
	} {
		t.Run(tt.name, func(t *testing.T) {
			problem := pg.JSONBProblem([]byte(tt.json))
			var out string
			err := db.Get(&out, `SELECT $1::jsonb::text`, tt.json)
			if !tt.refused {
				require.Empty(t, problem)
				require.NoError(t, err, "jsonb stores what JSONBProblem lets through")
				require.LessOrEqual(t, len(out), len(tt.json)+pg.MaxJSONBNumberExpansion)
				require.Empty(t, pg.JSONBProblem([]byte(out)), "what jsonb reads back passes again")
				return
			}
			require.NotEmpty(t, problem)
			if tt.pgRefuses {
				require.Error(t, err, "PostgreSQL refuses it too")
			} else {
				require.NoError(t, err)
				require.Greater(t, len(out), len(tt.json)+16000, "refused for how much it grows")
			}
		})
	}
}
