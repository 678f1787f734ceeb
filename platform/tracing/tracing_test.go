package tracing

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// These tests use OpenTelemetry's process-wide propagator (as the code
// does), so they do not run in parallel with each other.

func TestMain(m *testing.M) {
	otel.SetTextMapPropagator(propagation.TraceContext{})
	m.Run()
}

func TestSetupRefusesWhatItCannotHonour(t *testing.T) {
	for _, tt := range []struct {
		name    string
		env     map[string]string
		wantErr string // "" = no error
	}{
		{"NothingSet", nil, ""},
		{"UnknownExporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"},
		{"GRPC", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			"OTEL_EXPORTER_OTLP_PROTOCOL"},
		{"GRPCForTraces", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{"UnknownPropagator", map[string]string{"OTEL_PROPAGATORS": "tracecontext,carrier-pigeon"}, "OTEL_PROPAGATORS"},
		{"UnknownSampler", map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, "OTEL_TRACES_SAMPLER"},
		{"RatioOutOfRange", map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"},
			"OTEL_TRACES_SAMPLER_ARG"},
		{"DisabledSDKIgnoresExporter", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string { return tt.env[k] }
			stop, err := Setup(t.Context(), getenv, slog.New(slog.DiscardHandler))
			t.Cleanup(func() { otel.SetTextMapPropagator(propagation.TraceContext{}) })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.NoError(t, stop(t.Context()))
			require.False(t, Enabled(), "nothing set: the no-op provider")
		})
	}
}

func TestExportersOf(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"Unset", nil, nil},
		{"Endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []string{"otlp"}},
		{"TracesEndpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, []string{"otlp"}},
		{"ExporterNamed", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, []string{"otlp"}},
		{"Both", map[string]string{"OTEL_TRACES_EXPORTER": "otlp, console"}, []string{"otlp", "console"}},
		{"None", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, nil},
		{"HTTPProtobuf", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
			[]string{"otlp"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := exportersOf(func(k string) string { return tt.env[k] })
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestRedacting(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(redacting{mem}))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	_, span := tp.Tracer("test").Start(t.Context(), "HTTP POST")
	span.SetAttributes(
		attribute.String("url.full", "https://api.telegram.org/bot123456:SECRET-token/sendMessage?chat=1"),
		attribute.String("server.address", "api.telegram.org"),
		attribute.String("userinfo", "https://user:pass@hooks.example.com"),
		attribute.Int("http.response.status_code", 502),
	)
	span.AddEvent("exception", trace.WithAttributes(attribute.String("exception.message",
		`Post "https://hooks.example.com/services/T0/B0/SECRET-path": EOF`)))
	span.SetStatus(codes.Error, `Post "https://hooks.example.com/in?token=SECRET-query": dial tcp: refused`)
	span.End()
	_, plain := tp.Tracer("test").Start(t.Context(), "rules.evaluate")
	plain.SetAttributes(attribute.String("signalops.event.type", "order.created"))
	plain.End()

	spans := mem.GetSpans()
	require.Len(t, spans, 2)
	var all strings.Builder
	attrs := map[string]string{}
	for _, kv := range spans[0].Attributes {
		attrs[string(kv.Key)] = kv.Value.String()
		all.WriteString(kv.Value.String() + "\n")
	}
	for _, e := range spans[0].Events {
		for _, kv := range e.Attributes {
			all.WriteString(kv.Value.String() + "\n")
		}
	}
	all.WriteString(spans[0].Status.Description)
	require.NotContains(t, all.String(), "SECRET")
	require.NotContains(t, all.String(), "pass")
	require.Equal(t, "https://api.telegram.org/[redacted]", attrs["url.full"])
	require.Equal(t, "https://hooks.example.com/[redacted]", attrs["userinfo"])
	require.Equal(t, "api.telegram.org", attrs["server.address"])
	require.Equal(t, "502", attrs["http.response.status_code"])
	require.Equal(t, `Post "https://hooks.example.com/[redacted]": dial tcp: refused`, spans[0].Status.Description)
	require.Equal(t, codes.Error, spans[0].Status.Code)
	require.Equal(t, "order.created", spans[1].Attributes[0].Value.AsString(), "spans without URLs pass as they are")
}

// parent is a sampled span context, as a producer's traceparent gives.
func parent(t *testing.T, traceHex, spanHex string) trace.SpanContext {
	t.Helper()
	tid, err := trace.TraceIDFromHex(traceHex)
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex(spanHex)
	require.NoError(t, err)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
}

func TestJobMetadata(t *testing.T) {
	sc := parent(t, "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")

	t.Run("RoundTrip", func(t *testing.T) {
		md := JobMetadata(t.Context(), sc)
		require.JSONEq(t, `{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`, string(md))
		got := trace.SpanContextFromContext(FromMetadata(t.Context(), md))
		require.Equal(t, sc.TraceID(), got.TraceID())
		require.Equal(t, sc.SpanID(), got.SpanID())
		require.True(t, got.IsRemote())
	})
	t.Run("NoTrace", func(t *testing.T) {
		require.Nil(t, JobMetadata(t.Context(), trace.SpanContext{}))
		for _, md := range []string{"", "{}", `{"other":1}`, `[1]`, `not json`, `{"traceparent":"garbage"}`} {
			require.False(t, trace.SpanContextFromContext(FromMetadata(t.Context(), []byte(md))).IsValid(), md)
		}
	})
	t.Run("LongTraceStateDropped", func(t *testing.T) {
		ts, err := trace.ParseTraceState("a=" + strings.Repeat("x", 255) + ",b=" + strings.Repeat("y", 255) + ",c=z")
		require.NoError(t, err)
		md := JobMetadata(t.Context(), sc.WithTraceState(ts))
		require.NotContains(t, string(md), "tracestate", "over maxFieldLen: not stored with every job")
		require.Contains(t, string(md), "traceparent")

		short, err := trace.ParseTraceState("vendor=opaque")
		require.NoError(t, err)
		require.Contains(t, string(JobMetadata(t.Context(), sc.WithTraceState(short))), `"tracestate":"vendor=opaque"`)
	})
}

func TestJobContextInsert(t *testing.T) {
	mw := &jobContext{}
	inserting := trace.ContextWithSpanContext(t.Context(), parent(t, "11111111111111111111111111111111", "2222222222222222"))
	own := JobMetadata(t.Context(), parent(t, "33333333333333333333333333333333", "4444444444444444"))
	params := []*rivertype.JobInsertParams{
		{Metadata: []byte("{}")}, // carries nothing: gets the inserting context's
		{Metadata: own},          // a group commit's job: keeps its own request's
		{Metadata: []byte(`{"river:x":"keep"}`)},
	}
	_, err := mw.InsertMany(inserting, params, func(context.Context) ([]*rivertype.JobInsertResult, error) { return nil, nil })
	require.NoError(t, err)

	traceOf := func(md []byte) string {
		var m map[string]string
		require.NoError(t, json.Unmarshal(md, &m))
		return m["traceparent"]
	}
	require.Equal(t, "00-11111111111111111111111111111111-2222222222222222-01", traceOf(params[0].Metadata))
	require.Equal(t, "00-33333333333333333333333333333333-4444444444444444-01", traceOf(params[1].Metadata))
	require.Equal(t, "00-11111111111111111111111111111111-2222222222222222-01", traceOf(params[2].Metadata))
	require.Contains(t, string(params[2].Metadata), `"river:x":"keep"`, "other metadata stays")

	untraced := []*rivertype.JobInsertParams{{Metadata: []byte("{}")}}
	_, err = mw.InsertMany(t.Context(), untraced, func(context.Context) ([]*rivertype.JobInsertResult, error) { return nil, nil })
	require.NoError(t, err)
	require.Equal(t, "{}", string(untraced[0].Metadata), "no trace, no metadata")
}

func TestJobContextWork(t *testing.T) {
	mw := &jobContext{}
	job := &rivertype.JobRow{Metadata: []byte(`{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}`)}
	var got trace.SpanContext
	require.NoError(t, mw.Work(t.Context(), job, func(ctx context.Context) error {
		got = trace.SpanContextFromContext(ctx)
		return nil
	}))
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", got.TraceID().String())
	require.Equal(t, "00f067aa0ba902b7", got.SpanID().String())
}
