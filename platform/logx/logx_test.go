package logx_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"

	"github.com/signalops/signalops/platform/logx"
)

func TestContextAttributes(t *testing.T) {
	t.Parallel()

	traceID, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	spanID, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	traced := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled, Remote: true,
	}))

	for _, tt := range []struct {
		name string
		ctx  context.Context
		want map[string]string // attribute → value; "" must be absent
	}{
		{"Nothing", context.Background(), map[string]string{"request_id": "", "tenant_id": "", "trace_id": "", "span_id": ""}},
		{"Request", logx.WithTenantID(logx.WithRequestID(context.Background(), "req-1"), "t-1"),
			map[string]string{"request_id": "req-1", "tenant_id": "t-1", "trace_id": ""}},
		{"Trace", logx.WithRequestID(traced, "req-2"), map[string]string{"request_id": "req-2",
			"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var buf bytes.Buffer
			logger, err := logx.New(&buf, "json", "info")
			require.NoError(t, err)
			logger.With("module", "x").InfoContext(tt.ctx, "something happened")

			var line map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &line))
			for k, v := range tt.want {
				if v == "" {
					require.NotContains(t, line, k)
					continue
				}
				require.Equal(t, v, line[k], k)
			}
		})
	}
}
