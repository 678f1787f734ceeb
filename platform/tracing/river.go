package tracing

import (
	"context"
	"encoding/json"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/riverqueue/rivercontrib/otelriver"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// maxFieldLen bounds what a job carries of each propagation field: a
// producer's tracestate (or baggage) longer than this is dropped, not
// stored with every job it causes. W3C Trace Context asks systems to keep
// at least 512 characters of tracestate.
const maxFieldLen = 512

// RiverMiddleware returns the middleware every River client of a process
// installs, in order: jobContext, which carries trace context in each
// job's metadata, then — when the SDK is installed — otelriver's spans
// (river.insert_many, river.work/<kind>) and metrics.
//
// otelriver can propagate too, but links a worked job to its producer
// instead of continuing the producer's trace, and stamps every job of a
// batch insert with the one context of the insert. SPEC §11 wants the
// event's own trace continued through processing to delivery, and a group
// commit inserts the jobs of many requests at once: jobContext does both.
func RiverMiddleware() []rivertype.Middleware {
	mw := []rivertype.Middleware{&jobContext{}}
	if Enabled() {
		mw = append(mw, otelriver.NewMiddleware(&otelriver.MiddlewareConfig{EnableWorkSpanJobKindSuffix: true}))
	}
	return mw
}

// jobContext writes the inserting context's trace context into the
// metadata of each job that carries none yet (jobs of a group commit carry
// their own request's: JobMetadata), and makes a worked job's metadata the
// parent of everything its worker does.
type jobContext struct{ river.MiddlewareDefaults }

func (*jobContext) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams,
	doInner func(context.Context) ([]*rivertype.JobInsertResult, error),
) ([]*rivertype.JobInsertResult, error) {
	if trace.SpanContextFromContext(ctx).IsValid() {
		var carried propagation.MapCarrier // made once, for the jobs that need it
		for _, p := range params {
			if hasTraceContext(p.Metadata) {
				continue
			}
			if carried == nil {
				carried = carrierOf(ctx)
			}
			p.Metadata = mergeMetadata(p.Metadata, carried)
		}
	}
	return doInner(ctx)
}

func (*jobContext) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	return doInner(FromMetadata(ctx, job.Metadata))
}

// JobMetadata returns River job metadata that carries sc (with ctx's
// baggage, when baggage propagates), for a job inserted on behalf of
// another context than the inserting one: one request's job in a group
// commit. It returns nil when sc is not valid (no trace to carry).
func JobMetadata(ctx context.Context, sc trace.SpanContext) []byte {
	if !sc.IsValid() {
		return nil
	}
	return mergeMetadata(nil, carrierOf(trace.ContextWithSpanContext(ctx, sc)))
}

// FromMetadata returns ctx with the trace context job metadata carries (as
// a remote parent), or ctx itself when it carries none.
func FromMetadata(ctx context.Context, metadata []byte) context.Context {
	if len(metadata) <= len("{}") {
		return ctx
	}
	var m map[string]any
	if err := json.Unmarshal(metadata, &m); err != nil {
		return ctx
	}
	c := propagation.MapCarrier{}
	for _, k := range otel.GetTextMapPropagator().Fields() {
		if s, ok := m[k].(string); ok {
			c[k] = s
		}
	}
	if len(c) == 0 {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, c)
}

// carrierOf is what the process's propagator writes for ctx, less fields
// over maxFieldLen.
func carrierOf(ctx context.Context) propagation.MapCarrier {
	c := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, c)
	for k, v := range c {
		if len(v) > maxFieldLen {
			delete(c, k)
		}
	}
	return c
}

// hasTraceContext reports whether metadata carries a field of the
// process's propagator already.
func hasTraceContext(metadata []byte) bool {
	if len(metadata) <= len("{}") {
		return false
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(metadata, &m); err != nil {
		return false
	}
	for _, k := range otel.GetTextMapPropagator().Fields() {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// mergeMetadata adds c's fields to the JSON object metadata (nil or "{}"
// when empty). Metadata that is not an object is left as it is.
func mergeMetadata(metadata []byte, c propagation.MapCarrier) []byte {
	if len(c) == 0 {
		return metadata
	}
	m := map[string]any{}
	if len(metadata) > len("{}") {
		if err := json.Unmarshal(metadata, &m); err != nil {
			return metadata
		}
	}
	for k, v := range c {
		if _, ok := m[k]; !ok {
			m[k] = v
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return metadata
	}
	return out
}
