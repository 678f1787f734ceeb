package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/benchtest"
	"github.com/signalops/signalops/platform/queue"
	"github.com/signalops/signalops/platform/testdb"
)

// twentyProperties is an order event's schema with 20 properties: strings
// with lengths, patterns and enums, integers with a minimum, booleans.
var twentyProperties, twentyPayload = func() (string, string) {
	props := []string{`"orderId":{"type":"string"}`, `"amount":{"type":"number","minimum":0}`, `"currency":{"type":"string","enum":["EUR","USD","GBP"]}`}
	values := []string{`"orderId":"A-1"`, `"amount":12.5`, `"currency":"EUR"`}
	for i := range 17 {
		switch i % 5 {
		case 0:
			props = append(props, fmt.Sprintf(`"p%d":{"type":"string","maxLength":64}`, i))
			values = append(values, fmt.Sprintf(`"p%d":"hello world"`, i))
		case 1:
			props = append(props, fmt.Sprintf(`"p%d":{"type":"integer","minimum":0}`, i))
			values = append(values, fmt.Sprintf(`"p%d":1234`, i))
		case 2:
			props = append(props, fmt.Sprintf(`"p%d":{"type":"string","enum":["DE","FR","US","GB"]}`, i))
			values = append(values, fmt.Sprintf(`"p%d":"FR"`, i))
		case 3:
			props = append(props, fmt.Sprintf(`"p%d":{"type":"boolean"}`, i))
			values = append(values, fmt.Sprintf(`"p%d":true`, i))
		default:
			props = append(props, fmt.Sprintf(`"p%d":{"type":"string","pattern":"^[A-Z]-[0-9]+$"}`, i))
			values = append(values, fmt.Sprintf(`"p%d":"A-12345"`, i))
		}
	}
	return `{"type":"object","required":["orderId","amount","currency"],"additionalProperties":false,"properties":{` +
			strings.Join(props, ",") + `}}`,
		`{` + strings.Join(values, ",") + `}`
}()

// BenchmarkSchemaCheck is what validation adds to the ingestion of one
// event, as Ingest runs it before the group commit (cached view, cached
// compiled schema): with a 20-property schema, and for a type without a
// schema. cpu-ns/op is the process's CPU time per event, steadier than
// ns/op on a shared machine.
func BenchmarkSchemaCheck(b *testing.B) {
	pool := testdb.New(b)
	logger := slog.New(slog.DiscardHandler)
	jobs, err := queue.NewInsertOnly(pool.DB, queue.Config{}, logger)
	require.NoError(b, err)
	svc := events.New(pool, jobs, nil, logger).Service
	ctx := context.Background()
	tenant := authtest.CreateTenant(ctx, b, pool, nil)
	_, _, err = svc.PutType(ctx, auth.Principal{TenantID: tenant.ID}, "order.created",
		events.TypeInput{Schema: json.RawMessage(twentyProperties)})
	require.NoError(b, err)

	for _, bc := range []struct{ name, typ string }{{"TwentyProperties", "order.created"}, {"NoSchema", "order.other"}} {
		b.Run(bc.name, func(b *testing.B) {
			in, err := events.ParseInput([]byte(`{"type":"`+bc.typ+`","payload":`+twentyPayload+`}`), "")
			require.NoError(b, err)
			require.NoError(b, events.CheckSchema(ctx, svc, tenant.ID, in))
			cpu0 := benchtest.CPU()
			for b.Loop() {
				if err := events.CheckSchema(ctx, svc, tenant.ID, in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(benchtest.CPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}
