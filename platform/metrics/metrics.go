// Package metrics is one process's Prometheus registry and the SignalOps
// metrics on it: HTTP requests, ingestion, River jobs, deliveries, plus gauges
// sampled from the database at scrape time (gauges.go).
//
// Nothing here touches Prometheus' global default registry: each process (and
// each test) builds its own Registry, so tests run in parallel and a metric
// never leaks between them. Modules do not import this package; cmd hands
// them the small hooks (a func or an interface) they call.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Registry is a process's metrics. Its methods are safe for concurrent use.
type Registry struct {
	reg *prometheus.Registry

	mu       sync.Mutex
	samplers []sampler

	httpRequests   *prometheus.CounterVec
	httpDuration   *prometheus.HistogramVec
	eventsIngested *prometheus.CounterVec
	jobs           *prometheus.CounterVec
	jobDuration    *prometheus.HistogramVec
	deliveries     *prometheus.CounterVec
	endToEnd       prometheus.Histogram
	circuits       *prometheus.CounterVec
	deliveryWaits  *prometheus.CounterVec
}

// sampler is a collector that reads its values before a scrape, with the
// scrape's context (DBGauges).
type sampler interface {
	Sample(ctx context.Context)
}

// New returns a registry holding the SignalOps metrics and the Go runtime and
// process collectors.
func New() *Registry {
	r := &Registry{
		reg: prometheus.NewRegistry(),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signalops_http_requests_total",
			Help: "HTTP requests answered, by route pattern (never the raw path), method and status.",
		}, []string{"route", "method", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signalops_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		eventsIngested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signalops_events_ingested_total",
			Help: "Events offered to the ingestion API, by result: accepted, replayed (idempotency key seen before) or rejected.",
		}, []string{"result"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signalops_jobs_total",
			Help: "River job attempts finished in this process, by kind and outcome: completed, failed (will retry), cancelled, discarded or snoozed.",
		}, []string{"kind", "outcome"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signalops_job_duration_seconds",
			Help:    "Time a River job attempt spent in its worker, by kind.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signalops_deliveries_total",
			Help: "Delivery attempts, by channel kind and status: succeeded, failed (final) or retrying.",
		}, []string{"kind", "status"}),
		endToEnd: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "signalops_event_to_delivery_seconds",
			Help:    "Time from an event's receipt to the success of a delivery it caused (retries included).",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000},
		}),
		circuits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signalops_channel_circuit_transitions_total",
			Help: "Channel circuit breaker transitions made in this process, by the state entered: open (opened, or a probe failed), half_open (a probe claimed) or closed.",
		}, []string{"state"}),
		deliveryWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signalops_delivery_waits_total",
			Help: "Deliveries told to wait without spending an attempt (snoozed), by channel kind and reason: busy (in-flight cap), rate (rate cap), circuit (circuit open) or paused (receiver's 429 Retry-After).",
		}, []string{"kind", "reason"}),
	}
	r.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.httpRequests, r.httpDuration, r.eventsIngested, r.jobs, r.jobDuration, r.deliveries, r.endToEnd,
		r.circuits, r.deliveryWaits,
	)
	return r
}

// MustRegister adds collectors; it panics on a duplicate, as a wiring bug.
// Collectors with a Sample(ctx) method (DBGauges) are sampled before each
// scrape the Handler serves.
func (r *Registry) MustRegister(cs ...prometheus.Collector) {
	r.reg.MustRegister(cs...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		if s, ok := c.(sampler); ok {
			r.samplers = append(r.samplers, s)
		}
	}
}

// Gatherer exposes the registry to tests (prometheus/testutil).
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// Handler serves the registry in the Prometheus text format. It first lets
// the samplers refresh, bounded by the scrape request's context.
func (r *Registry) Handler() http.Handler {
	h := promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		samplers := r.samplers
		r.mu.Unlock()
		for _, s := range samplers {
			s.Sample(req.Context())
		}
		h.ServeHTTP(w, req)
	})
}

// ObserveRequest records one answered HTTP request (httpx.Options.Metrics).
// route must be a pattern, so that the label set stays bounded.
func (r *Registry) ObserveRequest(route, method string, status int, elapsed time.Duration) {
	method = boundedMethod(method)
	r.httpRequests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	r.httpDuration.WithLabelValues(route, method).Observe(elapsed.Seconds())
}

// boundedMethod keeps clients from minting label values with made-up methods.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// EventsIngested adds n events with the given result (accepted, replayed,
// rejected).
func (r *Registry) EventsIngested(result string, n int) {
	if n > 0 {
		r.eventsIngested.WithLabelValues(result).Add(float64(n))
	}
}

// Delivery counts one delivery attempt of a channel kind with its status.
func (r *Registry) Delivery(kind, status string) {
	if kind == "" {
		kind = "unknown"
	}
	r.deliveries.WithLabelValues(kind, status).Inc()
}

// EndToEnd records the time from an event's receipt to a successful delivery.
func (r *Registry) EndToEnd(d time.Duration) { r.endToEnd.Observe(max(d, 0).Seconds()) }

// Circuit counts a channel circuit's transition to state.
func (r *Registry) Circuit(state string) { r.circuits.WithLabelValues(state).Inc() }

// DeliveryWait counts a delivery told to wait, by channel kind and reason.
func (r *Registry) DeliveryWait(kind, reason string) {
	if kind == "" {
		kind = "unknown"
	}
	r.deliveryWaits.WithLabelValues(kind, reason).Inc()
}

// JobEventKinds are the River client events ObserveJobs understands; pass
// them to Client.Subscribe.
var JobEventKinds = []river.EventKind{
	river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed,
}

// ObserveJobs counts the job events of a River client subscription until its
// channel closes (River closes it when the client stops). Run it in its own
// goroutine: River drops events a slow subscriber has no room for.
func (r *Registry) ObserveJobs(events <-chan *river.Event) {
	for ev := range events {
		if ev == nil || ev.Job == nil {
			continue
		}
		outcome := jobOutcome(ev)
		if outcome == "" {
			continue
		}
		r.jobs.WithLabelValues(ev.Job.Kind, outcome).Inc()
		if ev.JobStats != nil {
			r.jobDuration.WithLabelValues(ev.Job.Kind).Observe(ev.JobStats.RunDuration.Seconds())
		}
	}
}

func jobOutcome(ev *river.Event) string {
	switch ev.Kind {
	case river.EventKindJobCompleted:
		return "completed"
	case river.EventKindJobCancelled:
		return "cancelled"
	case river.EventKindJobSnoozed:
		return "snoozed"
	case river.EventKindJobFailed:
		if ev.Job.State == rivertype.JobStateDiscarded {
			return "discarded" // out of attempts: now in the DLQ
		}
		return "failed"
	}
	return ""
}
