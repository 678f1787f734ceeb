package cmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/logx"
	"github.com/signalops/signalops/platform/testdb"
	"github.com/signalops/signalops/platform/tracing"
)

// W3C Trace Context end to end (SPEC §11), through the production router,
// group commit and River workers: a producer's traceparent reaches the
// webhook its event causes, and with OTEL_* set the spans of the event's
// whole way, exported over OTLP/HTTP to a local receiver, form one trace.
//
// These tests set OpenTelemetry's process-wide provider and propagator
// (through tracing.Setup, as `serve` and `work` do) and the OTEL_*
// variables, so they do not run in parallel: Go starts the parallel tests
// of the package only after them.

const (
	producerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	producerSpan  = "00f067aa0ba902b7"
)

// otlpReceiver is an OTLP/HTTP trace receiver: it decodes each
// ExportTraceServiceRequest (protobuf, gzip or not) and keeps its spans.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string // service.name of each resource that sent spans
}

func (rx *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want protobuf on /v1/traces", http.StatusBadRequest)
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = gz
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rx.mu.Lock()
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				rx.services = append(rx.services, kv.GetValue().GetStringValue())
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			rx.spans = append(rx.spans, ss.GetSpans()...)
		}
	}
	rx.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// trace returns the spans received of one trace, by name (the last of a
// name when there are several).
func (rx *otlpReceiver) trace(traceID string) map[string]*tracepb.Span {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	out := map[string]*tracepb.Span{}
	for _, s := range rx.spans {
		if hex.EncodeToString(s.GetTraceId()) == traceID {
			out[s.GetName()] = s
		}
	}
	return out
}

// hookReceiver is a webhook endpoint that keeps the traceparent of every
// request (signatures are checked by delivery_test.go's receiver).
type hookReceiver struct {
	mu           sync.Mutex
	traceparents []string
}

func (rx *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rx.mu.Lock()
	rx.traceparents = append(rx.traceparents, r.Header.Get("traceparent"))
	rx.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rx *hookReceiver) got() []string {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return append([]string(nil), rx.traceparents...)
}

type traceBundle struct {
	router http.Handler
	apiKey string
	hook   *hookReceiver
	logs   *syncBuffer
}

// setupTraced sets tracing up from the environment the test set, then
// wires a system (logging JSON to a buffer) with a worker, a webhook
// channel to a local receiver and a rule that fires on order.*.
func setupTraced(t *testing.T) *traceBundle {
	t.Helper()
	ctx := t.Context()
	logs := &syncBuffer{}
	logger, err := logx.New(logs, "json", "info")
	require.NoError(t, err)
	stop, err := tracing.Setup(ctx, os.Getenv, logger)
	require.NoError(t, err)
	t.Cleanup(func() { // registered first, so it runs last: after the worker stopped
		require.NoError(t, stop(context.Background()))
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator())
	})

	pool, url := testdb.NewWithURL(t)
	cfg := testConfig(t, url)
	cfg.JWTSecret = string(authtest.Options.JWTSecret)
	sys, err := wire(pool, cfg, logger)
	require.NoError(t, err)
	tenant := authtest.CreateTenant(ctx, t, pool, &authtest.TenantOpts{Plan: new("enterprise")})
	hook := &hookReceiver{}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	startWorker(t, sys, url)

	router := sys.router()
	token := authtest.Token(ctx, t, pool, tenant.OwnerEmail)
	rec := serveReq(router, "POST", "/api/channels", `{"name":"hook","kind":"webhook","config":{"url":"`+srv.URL+`/hook?token=receiver-secret"},
		"secrets":{"signingSecret":"whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}}`, "Authorization", "Bearer "+token)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var ch struct{ ID string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &ch))
	rec = serveReq(router, "POST", "/api/rules", `{"name":"orders","definition":{"match":{"type":"order.*"},
		"actions":[{"channelId":"`+ch.ID+`","template":"Order {{.payload.orderId}}"}]}}`, "Authorization", "Bearer "+token)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	return &traceBundle{router: router, apiKey: tenant.APIKey, hook: hook, logs: logs}
}

func (b *traceBundle) ingest(t *testing.T, headers ...string) {
	t.Helper()
	rec := serveReq(b.router, "POST", "/api/events", `{"type":"order.created","payload":{"orderId":"T-1"}}`,
		append([]string{"x-api-key", b.apiKey}, headers...)...)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
}

// logged reports whether a log line with msg names traceID.
func (b *traceBundle) logged(t *testing.T, msg, traceID string) bool {
	t.Helper()
	for _, line := range strings.Split(b.logs.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg && m["trace_id"] == traceID {
			return true
		}
	}
	return false
}

// TestTracesExportedOverOTLP: with OTEL_EXPORTER_OTLP_ENDPOINT set, one
// event ingested with the producer's traceparent is one trace, from the
// ingest request to the webhook request, exported over OTLP/HTTP; the
// webhook carries traceparent with the producer's trace id and the id of
// our client span.
func TestTracesExportedOverOTLP(t *testing.T) {
	otlp := &otlpReceiver{}
	collector := httptest.NewServer(otlp)
	t.Cleanup(collector.Close)
	clearOTELEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_SERVICE_NAME", "signalops-test")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // ms: export soon after each span ends
	b := setupTraced(t)

	b.ingest(t, "traceparent", "00-"+producerTrace+"-"+producerSpan+"-01", "tracestate", "vendor=opaque")
	require.Eventually(t, func() bool { return len(b.hook.got()) == 1 }, 15*time.Second, 20*time.Millisecond)
	tp := strings.Split(b.hook.got()[0], "-")
	require.Len(t, tp, 4, "the webhook carries traceparent")
	require.Equal(t, []string{"00", producerTrace}, tp[:2], "the producer's trace")
	require.NotEqual(t, producerSpan, tp[2], "a span of ours as the parent")

	// The spans of the event's way, each the child of the one before it.
	chain := []string{"POST /api/events", "river.work/event.process", "river.work/notify.deliver", "notify.send", "HTTP POST"}
	beside := map[string]string{ // span → its parent, off the main line
		"events.group_commit": "POST /api/events",
		"rules.evaluate":      "river.work/event.process",
		"rules.group_commit":  "river.work/event.process",
		"notify.group_commit": "river.work/notify.deliver",
	}
	var spans map[string]*tracepb.Span
	require.Eventually(t, func() bool {
		spans = otlp.trace(producerTrace)
		for _, name := range chain {
			if spans[name] == nil {
				return false
			}
		}
		for name := range beside {
			if spans[name] == nil {
				return false
			}
		}
		return true
	}, 15*time.Second, 50*time.Millisecond, "spans of the trace: %v", keysOf(otlp.trace(producerTrace)))

	parent := producerSpan
	var started uint64
	for _, name := range chain {
		s := spans[name]
		require.Equal(t, parent, hex.EncodeToString(s.GetParentSpanId()), "%s is the child of the span before it", name)
		require.GreaterOrEqual(t, s.GetStartTimeUnixNano(), started, "%s starts after the span before it", name)
		parent, started = hex.EncodeToString(s.GetSpanId()), s.GetStartTimeUnixNano()
	}
	for name, p := range beside {
		require.Equal(t, hex.EncodeToString(spans[p].GetSpanId()), hex.EncodeToString(spans[name].GetParentSpanId()), "%s is a child of %s", name, p)
	}
	require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, spans["POST /api/events"].GetKind())
	require.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, spans["HTTP POST"].GetKind())
	require.Equal(t, tp[2], hex.EncodeToString(spans["HTTP POST"].GetSpanId()), "the webhook's traceparent names our client span")
	require.Contains(t, otlp.services, "signalops-test", "OTEL_SERVICE_NAME")

	// The receiver's URL (its path and query) stays out of the export.
	for _, kv := range spans["HTTP POST"].GetAttributes() {
		require.NotContains(t, kv.GetValue().GetStringValue(), "receiver-secret", kv.GetKey())
		require.NotContains(t, kv.GetValue().GetStringValue(), "/hook", kv.GetKey())
	}
	require.Eventually(t, func() bool { return b.logged(t, "http request", producerTrace) }, 5*time.Second, 20*time.Millisecond,
		"the access log names the trace")
}

// TestTraceContextWithoutExporter: with no OTEL_* variable, nothing is
// recorded, yet the producer's traceparent still reaches the webhook (as
// it came: no span of ours stands between), and an event sent without one
// causes a webhook without one.
func TestTraceContextWithoutExporter(t *testing.T) {
	clearOTELEnv(t)
	b := setupTraced(t)
	require.False(t, tracing.Enabled())

	b.ingest(t)
	require.Eventually(t, func() bool { return len(b.hook.got()) == 1 }, 15*time.Second, 20*time.Millisecond)
	require.Empty(t, b.hook.got()[0], "no trace in, none out")

	want := "00-" + producerTrace + "-" + producerSpan + "-01"
	b.ingest(t, "traceparent", want)
	require.Eventually(t, func() bool { return len(b.hook.got()) == 2 }, 15*time.Second, 20*time.Millisecond)
	require.Equal(t, want, b.hook.got()[1])
	require.True(t, b.logged(t, "http request", producerTrace), "the access log names the producer's trace")
}

// clearOTELEnv unsets the OTEL_* variables a developer's shell may hold,
// for the test's duration.
func clearOTELEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
		"OTEL_PROPAGATORS", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"} {
		t.Setenv(k, "")
	}
}

func keysOf(m map[string]*tracepb.Span) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
