package events

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/signalops/signalops/platform/benchtest"
)

func repeat(n int, f func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = f(i)
	}
	return strings.Join(parts, ",")
}

// BenchmarkSchemaWorstCase checks the cost estimate (schemacost.go)
// against what validation really costs, for schemas and payloads built to
// be expensive: each case grows its payload until the estimate reaches
// 40-50 ms (just under MaxValidationEst), then validates it. The estimate
// must stay above the CPU time (est/cpu > 1).
//
//	go test -run '^$' -bench SchemaWorstCase -benchtime 5x ./modules/events/
func BenchmarkSchemaWorstCase(b *testing.B) {
	number := func(n int, v string) string {
		return `{` + repeat(n, func(i int) string { return fmt.Sprintf(`"k%d":%s`, i, v) }) + `}`
	}
	for _, bc := range []struct {
		name, schema string
		payload      func(n int) string
	}{
		{"WideAllOfUnderItems", `{"properties":{"a":{"items":{"allOf":[` + repeat(990, func(int) string { return `{}` }) + `]}}}}`,
			func(n int) string { return `{"a":[` + repeat(n, func(int) string { return "1" }) + `]}` }},
		{"ExactNumbers", `{"additionalProperties":{"minimum":0,"multipleOf":0.5}}`,
			func(n int) string { return number(n, "1.234567890123456789012345678901e-300") }},
		{"LargeNumbers", `{"additionalProperties":{"type":"integer"}}`,
			func(n int) string { return number(n, "1.7976931348623157e308") }},
		{"NumericEnum", `{"additionalProperties":{"enum":[` + repeat(500, func(i int) string { return fmt.Sprintf("%d.5", i) }) + `]}}`,
			func(n int) string { return number(n, "1e-300") }},
		{"PatternNFA", `{"additionalProperties":{"pattern":"a.{0,90}b"}}`,
			func(n int) string { return `{"s":"` + strings.Repeat("a", n) + `"}` }},
		{"UniqueItems", `{"properties":{"a":{"uniqueItems":true}}}`,
			func(n int) string {
				return `{"a":[` + repeat(n, func(i int) string { return fmt.Sprintf(`[%d,"x"]`, i) }) + `]}`
			}},
		{"FormatRegex", `{"additionalProperties":{"format":"regex"}}`,
			func(n int) string { return number(n, `"(a|b)*c{1,20}[x-z]+(?:foo|bar)"`) }},
		{"AnyOfPerMember", `{"additionalProperties":{"anyOf":[{"type":"integer","minimum":5},{"type":"string","minLength":3},{"type":"object"},{"enum":[1,2,3]}]}}`,
			func(n int) string { return number(n, "1") }},
		{"BinaryTree", `{"type":"object","properties":{"l":{"$ref":"#"},"r":{"$ref":"#"},"v":{"type":"integer","minimum":0}}}`,
			func(n int) string {
				var tree func(d int) string
				tree = func(d int) string {
					if d == 0 {
						return `{"v":1}`
					}
					return `{"v":1,"l":` + tree(d-1) + `,"r":` + tree(d-1) + `}`
				}
				return tree(min(n, 14))
			}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sch, cost, err := compileSchema([]byte(bc.schema))
			if err != nil {
				b.Fatal(err)
			}
			var v any
			var est time.Duration
			for n := 1; ; n = n*9/8 + 1 {
				raw := bc.payload(n)
				pv, shape, bad, err := decodePayload([]byte(raw))
				if err != nil || bad != nil {
					b.Fatal(err, bad)
				}
				e := cost.estimate(&shape)
				if e > MaxValidationEst || len(raw) > MaxBodyBytes {
					break
				}
				v, est = pv, e
				if e > 40*time.Millisecond {
					break
				}
			}
			cpu0 := benchtest.CPU()
			for b.Loop() {
				_ = sch.Validate(v)
			}
			cpu := (benchtest.CPU() - cpu0) / time.Duration(b.N)
			b.ReportMetric(float64(est)/1e6, "est-ms")
			b.ReportMetric(float64(cpu)/1e6, "cpu-ms/op")
			b.ReportMetric(float64(est)/float64(cpu), "est/cpu")
		})
	}
}
