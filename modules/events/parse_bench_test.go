package events_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/signalops/signalops/modules/events"
)

const benchEvent = `{"type":"order.created","source":"checkout","occurredAt":"2026-11-27T10:00:00.123Z",
"payload":{"orderId":"o-48213","userId":"u-1029","amount":1249.90,"currency":"EUR","country":"DE",
"items":[{"sku":"SKU-1001","qty":2,"price":499.95},{"sku":"SKU-2002","qty":1,"price":250}],
"shipping":{"method":"express","address":{"city":"Berlin","zip":"10115"}},"tags":["gift","promo-spring"]}}`

// BenchmarkParseInput is the validation of one POST /api/events body.
func BenchmarkParseInput(b *testing.B) { benchmarkParseInput(b, "") }

// BenchmarkParseInputIdempotent adds the idempotency fingerprint.
func BenchmarkParseInputIdempotent(b *testing.B) { benchmarkParseInput(b, "order-o-48213") }

func benchmarkParseInput(b *testing.B, idempotencyKey string) {
	body := []byte(benchEvent)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := events.ParseInput(body, idempotencyKey); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseBatch500 is the validation of a full batch (500 events).
func BenchmarkParseBatch500(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"events":[`)
	for i := range 500 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strings.Replace(benchEvent, `"o-48213"`, `"o-`+strconv.Itoa(i)+`"`, 1))
	}
	sb.WriteString(`]}`)
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		items, err := events.ParseBatch(body)
		if err != nil || len(items) != 500 {
			b.Fatal(err, len(items))
		}
	}
}
