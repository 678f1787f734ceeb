package tracing_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/tracing"
)

// BenchmarkRouter measures what tracing adds to a request through the
// production router (request id, access log, body limit, timeout, error
// handler) whose handler does nothing: the whole cost of the middleware,
// none of the database work an ingest request does.
//
//	go test -run '^$' -bench Router -benchmem -count 6 ./platform/tracing/
func BenchmarkRouter(b *testing.B) {
	const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, bc := range []struct {
		name        string
		tracing     string // "": no middleware; "off": no-op provider; "on": the SDK
		traceparent bool
	}{
		{"NoTracing", "", false},
		{"Unset", "off", false},
		{"UnsetWithTraceparent", "off", true},
		{"SDK", "on", false},
		{"SDKWithTraceparent", "on", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			prev := otel.GetTracerProvider()
			b.Cleanup(func() { otel.SetTracerProvider(prev) })
			otel.SetTracerProvider(noop.NewTracerProvider())
			if bc.tracing == "on" {
				tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
				b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
				otel.SetTracerProvider(tp)
			}
			opts := httpx.Options{}
			if bc.tracing != "" {
				opts.Tracing = tracing.EchoMiddleware()
			}
			e := httpx.NewRouter(slog.New(slog.DiscardHandler), opts)
			var traced bool
			e.POST("/api/events", func(c echo.Context) error {
				traced = trace.SpanContextFromContext(c.Request().Context()).IsValid()
				return c.JSON(http.StatusAccepted, map[string]string{"status": "accepted"})
			})
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/api/events", strings.NewReader(`{"type":"x"}`))
				if bc.traceparent {
					req.Header.Set("traceparent", traceparent)
				}
				e.ServeHTTP(httptest.NewRecorder(), req)
			}
			if bc.traceparent && !traced {
				b.Fatal("the handler saw no trace context")
			}
		})
	}
}
