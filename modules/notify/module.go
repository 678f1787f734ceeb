package notify

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/secretbox"
)

// Module is the notify module as cmd wires it.
type Module struct {
	Service *Service
	metrics Metrics
}

// Metrics is told of delivery outcomes; cmd passes the process's metrics
// registry, notify itself knows nothing of Prometheus.
type Metrics interface {
	// Delivery counts one attempt of a channel kind: StatusSucceeded,
	// StatusFailed (final) or "retrying".
	Delivery(kind, status string)
	// EndToEnd records the time from an event's receipt to its delivery.
	EndToEnd(d time.Duration)
	// Circuit counts a channel circuit's transition to state (CircuitOpen,
	// CircuitHalfOpen or CircuitClosed) made in this process.
	Circuit(state string)
	// DeliveryWait counts a delivery of a channel kind told to wait
	// (snoozed, no attempt spent) and why: busy, rate, circuit or paused.
	DeliveryWait(kind, reason string)
}

type noMetrics struct{}

func (noMetrics) Delivery(string, string)     {}
func (noMetrics) EndToEnd(time.Duration)      {}
func (noMetrics) Circuit(string)              {}
func (noMetrics) DeliveryWait(string, string) {}

// SetMetrics makes the delivery worker report to mx; call it before AddWorkers.
func (m *Module) SetMetrics(mx Metrics) { m.metrics = mx }

// Config is what notify needs from the process configuration.
type Config struct {
	Providers     Options
	Box           *secretbox.Box
	RetrySchedule []time.Duration  // one retry per entry, then the job is discarded
	Billing       *billing.Service // counts notifications sent; nil: not counted
	Flow          FlowOptions      // circuit breaker and per-channel caps (flow.go)
	// RecordEvent records channel.circuit_opened and channel.circuit_closed
	// as the tenant's own events, in the transaction that records the
	// transition; nil: not recorded. notify cannot import events: cmd
	// passes events.Service.RecordTx.
	RecordEvent RecordEventFunc
}

// RecordEventFunc stores an event of type typ with payload (encoded as
// JSON) for the tenant in tx, to be processed like any other event.
type RecordEventFunc func(ctx context.Context, tx *sqlx.Tx, tenantID uuid.UUID, typ string, payload any) error

// New builds the notify module; jobs is the process's insert-only client.
func New(db *sqlx.DB, jobs *river.Client[*sql.Tx], cfg Config, logger *slog.Logger) *Module {
	return &Module{Service: &Service{db: db, jobs: jobs, providers: NewProviders(cfg.Providers), box: cfg.Box,
		schedule: cfg.RetrySchedule, billing: cfg.Billing, flow: cfg.Flow.withDefaults(), recordEvent: cfg.RecordEvent,
		logger: logger.With("module", "notify")}}
}

// maxChannelBody bounds a channel request.
const maxChannelBody = 64 << 10

// Routes mounts channels (read: any role; write: member) and deliveries on g.
func (m *Module) Routes(g *httpx.Group) {
	h := handler{svc: m.Service}
	g = g.With(auth.Require(auth.RoleViewer, auth.RoleMember), httpx.BodyLimit(maxChannelBody))
	g.GET("/channels", h.listChannels)
	g.POST("/channels", h.createChannel)
	g.GET("/channels/:id", h.getChannel)
	g.PUT("/channels/:id", h.updateChannel)
	g.DELETE("/channels/:id", h.deleteChannel)
	g.POST("/channels/:id/test", h.testChannel)
	g.GET("/deliveries", h.listDeliveries)
	g.POST("/deliveries/:id/retry", h.retryDelivery)
}

// AddWorkers registers the jobs notify works; run serves their group
// commits (start it before the River client works, stop it after).
func (m *Module) AddWorkers(w *river.Workers, group pg.GroupOptions) (run func(context.Context)) {
	var mx Metrics = noMetrics{}
	if m.metrics != nil {
		mx = m.metrics
	}
	dw := newDeliverWorker(m.Service, mx, group)
	river.AddWorker(w, dw)
	return dw.Run
}
