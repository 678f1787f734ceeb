package tracing

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/contrib/instrumentation/github.com/labstack/echo/otelecho"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// EchoMiddleware continues the caller's trace context (traceparent and
// tracestate, or what OTEL_PROPAGATORS names) in each request's context.
// With the SDK installed it is otelecho's middleware: one server span per
// request, named by method and route. Without, it only extracts the
// context, at the cost of a header lookup. Probes and /metrics are not
// traced.
//
// Mount it outermost (httpx.Options.Tracing), so the access log and the
// error handler log with the request's trace_id.
func EchoMiddleware() echo.MiddlewareFunc {
	if Enabled() {
		return otelecho.Middleware(DefaultServiceName, otelecho.WithSkipper(untraced))
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			ctx := req.Context()
			if tctx := otel.GetTextMapPropagator().Extract(ctx, propagation.HeaderCarrier(req.Header)); tctx != ctx {
				c.SetRequest(req.WithContext(tctx))
			}
			return next(c)
		}
	}
}

// untraced skips the paths polled by machines: a span per probe or scrape
// would drown the traces worth reading.
func untraced(c echo.Context) bool {
	switch c.Path() {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// Transport wraps an outgoing client's transport with otelhttp: each
// request gets a client span, and its headers the span's context
// (traceparent: the same trace id, the client span's own id). Without the
// SDK the caller's context is forwarded as it is. Exported spans hold only
// the origin of the URL (redacting).
func Transport(rt http.RoundTripper) http.RoundTripper {
	return otelhttp.NewTransport(rt)
}
