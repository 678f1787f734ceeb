package tracing

import (
	"context"
	"net/url"
	"regexp"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// redacting cuts every URL in the spans it exports down to its origin
// (scheme://host:port), in string attributes, event attributes and status
// descriptions. Paths and queries carry secrets: a Telegram bot's token
// is part of its API path, and a receiver's URL (a tenant's, or a chat
// service's incoming-webhook URL) may be its own credential. otelhttp puts
// the whole URL in url.full, and a transport error quotes it.
type redacting struct{ sdktrace.SpanExporter }

func (r redacting) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		out[i] = redactSpan(s)
	}
	return r.SpanExporter.ExportSpans(ctx, out)
}

// redactedSpan is a span as exported: its own attributes, events and status
// in place of the recorded ones.
type redactedSpan struct {
	sdktrace.ReadOnlySpan
	attrs  []attribute.KeyValue
	events []sdktrace.Event
	status sdktrace.Status
}

func (s redactedSpan) Attributes() []attribute.KeyValue { return s.attrs }
func (s redactedSpan) Events() []sdktrace.Event         { return s.events }
func (s redactedSpan) Status() sdktrace.Status          { return s.status }

func redactSpan(s sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	attrs, changed := redactAttrs(s.Attributes())
	events := s.Events()
	var copied bool
	for i, e := range events {
		ea, ok := redactAttrs(e.Attributes)
		if !ok {
			continue
		}
		if !copied {
			events, copied = append([]sdktrace.Event(nil), events...), true
		}
		events[i].Attributes = ea
		changed = true
	}
	status := s.Status()
	if d := redactURLs(status.Description); d != status.Description {
		status.Description, changed = d, true
	}
	if !changed {
		return s
	}
	return redactedSpan{ReadOnlySpan: s, attrs: attrs, events: events, status: status}
}

// redactAttrs returns attrs with their URLs cut to origins, and whether
// any was (attrs itself when none was).
func redactAttrs(attrs []attribute.KeyValue) ([]attribute.KeyValue, bool) {
	var out []attribute.KeyValue
	for i, kv := range attrs {
		if kv.Value.Type() != attribute.STRING {
			continue
		}
		v := kv.Value.AsString()
		r := redactURLs(v)
		if r == v {
			continue
		}
		if out == nil {
			out = append([]attribute.KeyValue(nil), attrs...)
		}
		out[i] = attribute.String(string(kv.Key), r)
	}
	if out == nil {
		return attrs, false
	}
	return out, true
}

// urlPattern finds absolute URLs in text (attribute values, error
// messages): a scheme, "://", then anything up to a space or a quote.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// redactURLs replaces each URL in s by its origin; one that does not parse
// becomes "[redacted-url]".
func redactURLs(s string) string {
	if s == "" {
		return s
	}
	return urlPattern.ReplaceAllStringFunc(s, func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "[redacted-url]"
		}
		origin := u.Scheme + "://" + u.Host
		if origin == raw || origin+"/" == raw {
			return raw
		}
		return origin + "/[redacted]"
	})
}
