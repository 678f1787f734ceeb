package cmd

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/signalops/signalops/platform/logx"
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

// all returns every span received so far, by span id.
func (rx *otlpReceiver) all() map[string]*tracepb.Span {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	out := make(map[string]*tracepb.Span, len(rx.spans))
	for _, s := range rx.spans {
		out[hex.EncodeToString(s.GetSpanId())] = s
	}
	return out
}

// hookReceiver is an HTTP endpoint that keeps the traceparent of every
// request and answers answer (signatures and provider protocols are
// checked by delivery_test.go and providers_test.go).
type hookReceiver struct {
	answer       string // the response body; "" answers 204
	mu           sync.Mutex
	traceparents []string
}

func (rx *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rx.mu.Lock()
	rx.traceparents = append(rx.traceparents, r.Header.Get("traceparent"))
	rx.mu.Unlock()
	if rx.answer == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	_, _ = io.WriteString(w, rx.answer)
}

func (rx *hookReceiver) got() []string {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	return append([]string(nil), rx.traceparents...)
}

type traceBundle struct {
	router http.Handler
	apiKey string
	hook   *hookReceiver // the webhook receiver
	tg, wa *hookReceiver // servers shaped like Telegram's and WhatsApp's APIs
	mails  *syncBuffer   // the mail sink's
	logs   *syncBuffer
}

// setupTraced sets tracing up from the environment the test set, then
// wires a system (logging JSON to a buffer) with a worker, and a rule that
// fires on order.* to four channels: a webhook, Telegram, WhatsApp and
// e-mail, each to a local server.
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

	b := &traceBundle{hook: &hookReceiver{}, logs: logs,
		tg: &hookReceiver{answer: `{"ok":true,"result":{"message_id":77}}`},
		wa: &hookReceiver{answer: `{"messaging_product":"whatsapp","messages":[{"id":"wamid.X1"}]}`}}
	hook, tg, wa := httptest.NewServer(b.hook), httptest.NewServer(b.tg), httptest.NewServer(b.wa)
	t.Cleanup(hook.Close)
	t.Cleanup(tg.Close)
	t.Cleanup(wa.Close)
	mails, smtpAddr := startMailSink(t)
	b.mails = mails

	sys, url := wireTest(t, logger, withProviders(tg.URL, wa.URL, smtpAddr))
	tb := newTenantBundle(t, sys, url)
	b.router, b.apiKey = tb.router, tb.tenant.APIKey
	hookID := tb.channel(t, hook.URL+"/hook?token=receiver-secret", []byte("0123456789abcdef0123456789abcdef"))
	tgID, waID, mailID := tb.providerChannels(t)
	tb.rule(t, `{"match":{"type":"order.*"},"actions":[
		{"channelId":"`+hookID+`","template":"Order {{.payload.orderId}}"},
		{"channelId":"`+tgID+`","template":"TG {{.payload.orderId}}"},
		{"channelId":"`+waID+`","template":"WA {{.payload.orderId}}"},
		{"channelId":"`+mailID+`","template":"MAIL {{.payload.orderId}}"}]}`)
	return b
}

// delivered waits until the n-th event reached all four receivers.
func (b *traceBundle) delivered(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		return len(b.hook.got()) == n && len(b.tg.got()) == n && len(b.wa.got()) == n && mailsReceived(b.mails) == n
	}, 15*time.Second, 20*time.Millisecond)
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
// ingest request to each provider request, exported over OTLP/HTTP. The
// webhook, Telegram and WhatsApp requests carry traceparent with the
// producer's trace id and the id of our client span; the SMTP session is
// a span of the trace.
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
	b.delivered(t, 1)

	// Each HTTP provider's request names the producer's trace and, as its
	// parent, a client span of ours, whose ancestors lead back to the
	// producer's span through the event's whole way.
	way := []string{"HTTP POST", "notify.send", "river.work/notify.deliver", "river.work/event.process", "POST /api/events"}
	var spans map[string]*tracepb.Span
	for name, rx := range map[string]*hookReceiver{"webhook": b.hook, "telegram": b.tg, "whatsapp": b.wa} {
		tp := strings.Split(rx.got()[0], "-")
		require.Len(t, tp, 4, "%s: the request carries traceparent", name)
		require.Equal(t, []string{"00", producerTrace}, tp[:2], "%s: the producer's trace", name)
		require.NotEqual(t, producerSpan, tp[2], "%s: a span of ours as the parent", name)
		var chain []*tracepb.Span
		require.Eventually(t, func() bool {
			spans = otlp.all()
			chain = ancestry(spans, tp[2])
			return len(chain) == len(way)
		}, 15*time.Second, 50*time.Millisecond, "%s: the spans from the request back to the producer", name)
		var started uint64 = math.MaxUint64
		for i, s := range chain {
			require.Equal(t, way[i], s.GetName(), "%s: span %d from the request", name, i)
			require.Equal(t, producerTrace, hex.EncodeToString(s.GetTraceId()), "%s: %s", name, s.GetName())
			require.LessOrEqual(t, s.GetStartTimeUnixNano(), started, "%s: %s starts before its child", name, s.GetName())
			started = s.GetStartTimeUnixNano()
		}
		require.Equal(t, producerSpan, hex.EncodeToString(chain[len(chain)-1].GetParentSpanId()), "the request's span continues the producer's")
		require.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, chain[0].GetKind())
		require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, chain[len(chain)-1].GetKind())
		require.Equal(t, name, attr(chain[1], "signalops.channel.kind"))
		for _, kv := range chain[0].GetAttributes() { // URLs are cut to their origin
			v := kv.GetValue().GetStringValue()
			for _, secret := range []string{"receiver-secret", "/hook", "SECRET-token", "/sendMessage", "/1055"} {
				require.NotContains(t, v, secret, "%s: %s", name, kv.GetKey())
			}
		}
	}

	// Beside the way: the group commits and the rule evaluation, each the
	// child of its request's or job's span; the SMTP session.
	require.Eventually(t, func() bool {
		spans = otlp.all()
		return len(named(spans, "rules.evaluate")) == 1 && len(named(spans, "events.group_commit")) >= 1 &&
			len(named(spans, "notify.send")) == 4 && len(named(spans, "notify.group_commit")) >= 1
	}, 15*time.Second, 50*time.Millisecond)
	server, process := named(spans, "POST /api/events")[0], named(spans, "river.work/event.process")[0]
	for name, parent := range map[string]*tracepb.Span{"events.group_commit": server, "rules.evaluate": process, "rules.group_commit": process} {
		got := named(spans, name)
		require.Len(t, got, 1, name)
		require.Equal(t, parent.GetSpanId(), got[0].GetParentSpanId(), "%s is a child of %s", name, parent.GetName())
	}
	require.Equal(t, "1", attr(named(spans, "rules.evaluate")[0], "signalops.rules.fired"))
	var kinds []string
	for _, s := range named(spans, "notify.send") {
		kinds = append(kinds, attr(s, "signalops.channel.kind"))
		require.Equal(t, "river.work/notify.deliver", spans[hex.EncodeToString(s.GetParentSpanId())].GetName())
	}
	require.ElementsMatch(t, []string{"webhook", "telegram", "whatsapp", "email"}, kinds, "the SMTP session is a span too")
	for _, s := range named(spans, "notify.group_commit") { // a child of its job's span, or (a group of several) linked to them
		related := []string{hex.EncodeToString(s.GetParentSpanId())}
		for _, l := range s.GetLinks() {
			related = append(related, hex.EncodeToString(l.GetSpanId()))
		}
		for _, id := range related {
			if p := spans[id]; p != nil {
				require.Equal(t, "river.work/notify.deliver", p.GetName())
			}
		}
	}
	require.Contains(t, otlp.services, "signalops-test", "OTEL_SERVICE_NAME")
	require.Eventually(t, func() bool { return b.logged(t, "http request", producerTrace) }, 5*time.Second, 20*time.Millisecond,
		"the access log names the trace")
}

// ancestry returns the span id and its ancestors among spans, child first,
// up to the first whose parent is not among them.
func ancestry(spans map[string]*tracepb.Span, id string) []*tracepb.Span {
	var out []*tracepb.Span
	for s := spans[id]; s != nil; s = spans[hex.EncodeToString(s.GetParentSpanId())] {
		out = append(out, s)
	}
	return out
}

// named returns the spans of the producer's trace with name.
func named(spans map[string]*tracepb.Span, name string) []*tracepb.Span {
	var out []*tracepb.Span
	for _, s := range spans {
		if s.GetName() == name && hex.EncodeToString(s.GetTraceId()) == producerTrace {
			out = append(out, s)
		}
	}
	return out
}

// attr returns a span's attribute as a string ("" when absent).
func attr(s *tracepb.Span, key string) string {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			if v := kv.GetValue(); v.GetStringValue() != "" {
				return v.GetStringValue()
			} else if _, ok := v.GetValue().(*commonpb.AnyValue_IntValue); ok {
				return strconv.FormatInt(v.GetIntValue(), 10)
			}
		}
	}
	return ""
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
	b.delivered(t, 1)
	for _, rx := range []*hookReceiver{b.hook, b.tg, b.wa} {
		require.Empty(t, rx.got()[0], "no trace in, none out")
	}

	want := "00-" + producerTrace + "-" + producerSpan + "-01"
	b.ingest(t, "traceparent", want)
	b.delivered(t, 2)
	for _, rx := range []*hookReceiver{b.hook, b.tg, b.wa} {
		require.Equal(t, want, rx.got()[1])
	}
	require.True(t, b.logged(t, "http request", producerTrace), "the access log names the producer's trace")

	// A batch's events continue the batch request's trace.
	batch := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	rec := serveReq(b.router, "POST", "/api/events/batch", `{"events":[{"type":"order.created","payload":{"orderId":"T-2"}}]}`,
		"x-api-key", b.apiKey, "traceparent", batch)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	b.delivered(t, 3)
	for _, rx := range []*hookReceiver{b.hook, b.tg, b.wa} {
		require.Equal(t, batch, rx.got()[2])
	}
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

// syncBuffer is a bytes.Buffer safe for concurrent writes (a logger's, a
// mail sink's) while the test reads it.
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
