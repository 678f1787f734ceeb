// Package tracing sets up OpenTelemetry tracing from the standard OTEL_*
// environment variables and carries W3C Trace Context across the edges of
// a process: incoming HTTP requests (EchoMiddleware), River jobs
// (RiverMiddleware, JobMetadata) and outgoing HTTP requests (Transport).
//
// With no OTEL_* variable set, the SDK is not installed: the tracer
// provider is OpenTelemetry's no-op one, no span is recorded or exported,
// and only the propagation remains. A producer's traceparent then still
// travels with its event to the webhooks it causes, unchanged (W3C Trace
// Context's pass-through: a system that records no span forwards the
// context as it got it).
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ScopeName names the spans SignalOps itself starts (the instrumentation
// scope of its tracers).
const ScopeName = "github.com/signalops/signalops"

// DefaultServiceName is service.name unless OTEL_SERVICE_NAME (or
// OTEL_RESOURCE_ATTRIBUTES) says otherwise.
const DefaultServiceName = "signalops"

// defaultPropagators is OTEL_PROPAGATORS when unset. Not OpenTelemetry's
// own default (tracecontext,baggage): a producer's baggage would reach
// Telegram, WhatsApp and every webhook receiver. OTEL_PROPAGATORS=
// tracecontext,baggage turns it on.
const defaultPropagators = "tracecontext"

// Setup installs the process's tracer provider and propagator from the
// standard OTEL_* variables read through getenv (os.Getenv; the SDK and the
// OTLP exporter read the rest of theirs — OTEL_EXPORTER_OTLP_HEADERS,
// OTEL_BSP_*, OTEL_TRACES_SAMPLER_ARG … — from the environment
// themselves). Spans are exported when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set or OTEL_TRACES_EXPORTER names an
// exporter, unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none.
// Otherwise the no-op provider is installed. A value this build cannot honour
// is an error that names its variable.
//
// Call it once, before building anything that traces, and call shutdown
// (which flushes what is buffered) when the process ends.
func Setup(ctx context.Context, getenv func(string) string, logger *slog.Logger) (shutdown func(context.Context) error, err error) {
	prop, err := propagators(getenv("OTEL_PROPAGATORS"))
	if err != nil {
		return nil, err
	}
	exporters, err := exportersOf(getenv)
	if err != nil {
		return nil, err
	}
	if err := checkSampler(getenv("OTEL_TRACES_SAMPLER"), getenv("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		return nil, err
	}
	otel.SetTextMapPropagator(prop)
	if len(exporters) == 0 {
		otel.SetTracerProvider(noop.NewTracerProvider())
		return func(context.Context) error { return nil }, nil
	}

	logCtx := context.WithoutCancel(ctx)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.WarnContext(logCtx, "opentelemetry", slog.Any("error", err))
	}))
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", DefaultServiceName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
		resource.WithHost(),
	)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, name := range exporters {
		var exp sdktrace.SpanExporter
		switch name {
		case "otlp":
			if exp, err = otlptracehttp.New(ctx); err != nil {
				return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
			}
		case "console":
			if exp, err = stdouttrace.New(stdouttrace.WithWriter(os.Stdout)); err != nil {
				return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=console: %w", err)
			}
		}
		opts = append(opts, sdktrace.WithBatcher(redacting{exp})) // OTEL_BSP_* tune the batches
	}
	tp := sdktrace.NewTracerProvider(opts...) // OTEL_TRACES_SAMPLER, OTEL_SPAN_*_LIMIT
	otel.SetTracerProvider(tp)
	logger.InfoContext(ctx, "tracing enabled", slog.Any("exporters", exporters))
	return func(ctx context.Context) error {
		err := tp.Shutdown(ctx)
		otel.SetTracerProvider(noop.NewTracerProvider())
		return err
	}, nil
}

// Enabled reports whether spans are recorded: whether Setup installed the
// SDK (the tracer provider is not a no-op).
func Enabled() bool {
	_, ok := otel.GetTracerProvider().(*sdktrace.TracerProvider)
	return ok
}

// Tracer returns the tracer of SignalOps' own spans. Take it where the span
// starts: it follows the provider Setup installed.
func Tracer() trace.Tracer { return otel.Tracer(ScopeName) }

// exportersOf returns the span exporters the variables ask for ("otlp",
// "console"), none when tracing is off.
func exportersOf(getenv func(string) string) ([]string, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, nil
	}
	var names []string
	switch v := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")); v {
	case "":
		if getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nil
		}
		names = []string{"otlp"}
	default:
		for n := range strings.SplitSeq(v, ",") {
			switch n = strings.ToLower(strings.TrimSpace(n)); n {
			case "none":
				return nil, nil
			case "otlp", "console":
				names = append(names, n)
			default:
				return nil, fmt.Errorf("OTEL_TRACES_EXPORTER %q: want otlp, console or none", v)
			}
		}
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(k)); p != "" {
			if p != "http/protobuf" {
				return nil, fmt.Errorf("%s %q: this build exports over http/protobuf only", k, p)
			}
			break // the traces-specific one wins
		}
	}
	return names, nil
}

// propagators builds the propagator OTEL_PROPAGATORS names (default
// tracecontext; "none" propagates nothing).
func propagators(v string) (propagation.TextMapPropagator, error) {
	if strings.TrimSpace(v) == "" {
		v = defaultPropagators
	}
	var names []string
	for n := range strings.SplitSeq(v, ",") {
		names = append(names, strings.ToLower(strings.TrimSpace(n)))
	}
	p, err := autoprop.TextMapPropagator(names...)
	if err != nil {
		return nil, fmt.Errorf("OTEL_PROPAGATORS %q: %w", v, err)
	}
	return p, nil
}

// checkSampler refuses an OTEL_TRACES_SAMPLER the SDK would ignore (it
// would then sample everything, quietly).
func checkSampler(name, arg string) error {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
		return nil
	case "traceidratio", "parentbased_traceidratio":
		if strings.TrimSpace(arg) == "" {
			return nil
		}
		r, err := strconv.ParseFloat(strings.TrimSpace(arg), 64)
		if err != nil || r < 0 || r > 1 {
			return fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q: want a ratio from 0 to 1", arg)
		}
		return nil
	}
	return fmt.Errorf("OTEL_TRACES_SAMPLER %q: want always_on, always_off, traceidratio or their parentbased_ forms", name)
}
