package rules

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const benchPayload = `{
	"orderId": "o-48213", "userId": "u-1029", "amount": 1249.90, "currency": "EUR",
	"country": "DE", "email": "ann.smith@example.com", "vip": true, "channel": "web",
	"items": [{"sku": "SKU-1001", "qty": 2, "price": 499.95}, {"sku": "SKU-2002", "qty": 1, "price": 250}],
	"shipping": {"method": "express", "address": {"city": "Berlin", "zip": "10115"}},
	"tags": ["gift", "promo-spring"]
}`

// benchRules builds n rules of the shapes tenants write: a type (exact or
// glob), then two to four leaves among thresholds on amounts, in-sets,
// string prefixes, existence checks, an any-group, and a regex on every
// fifth rule.
func benchRules(b *testing.B, n int) []*Compiled {
	b.Helper()
	types := []string{"order.created", "order.*", "order.**", "**.failed", "payment.*", "user.signup", "inventory.*.low", "order.created"}
	leaves := []string{
		`{"field": "payload.amount", "op": "gte", "value": %d}`,
		`{"field": "payload.country", "op": "in", "value": ["DE", "FR", "AT", "CH", "NL", "BE", "LU", "IT"]}`,
		`{"field": "payload.items[0].sku", "op": "startsWith", "value": "SKU-%d"}`,
		`{"field": "payload.vip", "op": "eq", "value": true}`,
		`{"field": "source", "op": "ne", "value": "test"}`,
		`{"field": "payload.shipping.address.city", "op": "eq", "value": "Berlin"}`,
		`{"field": "payload.tags", "op": "contains", "value": "gift"}`,
		`{"field": "payload.currency", "op": "nin", "value": ["USD", "GBP"]}`,
	}
	out := make([]*Compiled, 0, n)
	for i := range n {
		var conds []string
		for k := range 2 + i%3 {
			leaf := leaves[(i+k*3)%len(leaves)]
			if strings.Contains(leaf, "%d") {
				leaf = fmt.Sprintf(leaf, (i*37)%1500)
			}
			conds = append(conds, leaf)
		}
		if i%5 == 0 {
			conds = append(conds, `{"field": "payload.email", "op": "regex", "value": "^[a-z.]+@example\\.(com|org)$"}`)
		}
		if i%4 == 0 {
			conds = append(conds, `{"any": [{"field": "payload.channel", "op": "eq", "value": "web"}, {"field": "payload.amount", "op": "gt", "value": 5000}]}`)
		}
		def := fmt.Sprintf(`{"match": {"type": %q, "all": [%s]}, "threshold": {"count": 3, "within": "10m", "groupBy": "payload.userId"},
			"actions": [{"channelId": %q, "template": "Order {{.payload.orderId}}: {{.payload.amount}} {{.payload.currency}}"}]}`,
			types[i%len(types)], strings.Join(conds, ", "), testChannel)
		out = append(out, mustCompile(b, def))
	}
	return out
}

func BenchmarkMatch100Rules(b *testing.B) {
	rules := benchRules(b, 100)
	ev := mustEvent(b, "order.created", "shop", benchPayload)
	b.ReportAllocs()
	matched := 0
	for b.Loop() {
		matched = 0
		for _, r := range rules {
			if r.Match(ev) {
				matched++
			}
		}
	}
	b.ReportMetric(float64(matched), "matches/op")
}

// BenchmarkEvaluateEvent is the worker's whole path for one event: decode
// the payload once, match 100 rules, group and render the matches.
func BenchmarkEvaluateEvent(b *testing.B) {
	rules := benchRules(b, 100)
	ev0 := mustEvent(b, "order.created", "shop", benchPayload)
	b.ReportAllocs()
	for b.Loop() {
		ev, err := NewSubject("order.created", "shop", ev0.OccurredAt, json.RawMessage(benchPayload))
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range rules {
			if r.Match(&ev) {
				r.GroupKey(&ev)
				r.Render(context.Background(), &ev)
			}
		}
	}
}

func BenchmarkNewSubject(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewSubject("order.created", "shop", testTime, json.RawMessage(benchPayload)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseDefinition(b *testing.B) {
	raw := json.RawMessage(specExample)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDefinition(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompile(b *testing.B) {
	def, err := ParseDefinition(json.RawMessage(specExample))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(def); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	c := mustCompile(b, `{"match": {}, "actions": [{"channelId": "`+testChannel+`",
		"template": "Order {{.payload.orderId}} by {{.payload.userId}}: {{.payload.amount}} {{.payload.currency}}, ship to {{.payload.shipping.address.city}}{{if .payload.vip}} (VIP){{end}}"}]}`)
	ev := mustEvent(b, "order.created", "shop", benchPayload)
	if got := c.Render(context.Background(), ev)[0].Message; got != "Order o-48213 by u-1029: 1249.90 EUR, ship to Berlin (VIP)" {
		b.Fatal(got)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Render(context.Background(), ev)
	}
}

// BenchmarkHostileRender: the suite's budget-exhausting templates (cmd/bench
// --flood-hostile) on its ~140 KB payload, each until its budget ends.
func BenchmarkHostileRender(b *testing.B) {
	a := strings.Repeat("x", 60_000)
	list := make([]any, 10_000)
	for i := range list {
		list[i] = json.Number("1")
	}
	data := map[string]any{"payload": map[string]any{"n": json.Number("7"), "a": a, "b": a[1:] + "y", "list": list}}
	for name, tmpl := range map[string]string{
		"eq":         `{{range .payload.list}}{{if eq $.payload.a $.payload.b}}{{end}}{{end}}done`,
		"lt":         `{{range .payload.list}}{{if lt $.payload.a $.payload.b}}{{end}}{{end}}done`,
		"upper+json": `{{range .payload.list}}{{if eq (upper $.payload.a) (json $.payload.list)}}{{end}}{{end}}done`,
	} {
		act, reason := compileAction(Action{Template: tmpl})
		if reason != "" {
			b.Fatal(reason)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, failed := act.render(nil, data); failed != errBudget.reason {
					b.Fatalf("failed = %q, want the budget error", failed)
				}
			}
		})
	}
}
