package rules

import (
	"context"
	"database/sql"
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/pg"
)

// Module is the rules module as cmd wires it.
type Module struct {
	Service *Service
	db      *sqlx.DB
	events  *events.Service
	logger  *slog.Logger
}

// New builds the rules module; jobs is the process's insert-only River
// client (it schedules digests). nt receives fired actions (nil: matches are
// recorded but nothing is delivered, and action channels are not checked).
func New(db *sqlx.DB, jobs *river.Client[*sql.Tx], ev *events.Service, nt *notify.Service, bill *billing.Service, logger *slog.Logger) *Module {
	logger = logger.With("module", "rules")
	return &Module{Service: NewService(db, jobs, ev, nt, bill, logger), db: db, events: ev, logger: logger}
}

// maxRuleBody bounds a rule request (a definition is at most 64 KiB).
const maxRuleBody = 128 << 10

// Routes mounts the rules API on g (bearer token already checked): any
// role reads, members and up write.
func (m *Module) Routes(g *httpx.Group) {
	h := handler{svc: m.Service}
	g = g.With(auth.Require(auth.RoleViewer, auth.RoleMember), httpx.BodyLimit(maxRuleBody))
	g.GET("/rules", h.list)
	g.POST("/rules", h.create)
	g.POST("/rules/test", h.test)
	g.POST("/rules/backtest", h.backtest)
	g.GET("/rules/:id", h.get)
	g.PUT("/rules/:id", h.update)
	g.DELETE("/rules/:id", h.delete)
	g.GET("/rules/:id/versions", h.versions)
	g.POST("/rules/:id/rollback", h.rollback)
}

// AddWorkers registers the jobs rules works; run serves their group
// commits (start it before the River client works, stop it after).
func (m *Module) AddWorkers(w *river.Workers, group pg.GroupOptions) (run func(context.Context)) {
	pw := newProcessWorker(m.db, m.events, m.Service, group, m.logger)
	river.AddWorker(w, pw)
	river.AddWorker(w, &DigestWorker{svc: m.Service, logger: m.logger})
	return pw.Run
}
