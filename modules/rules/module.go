package rules

import (
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/modules/events"
)

// Module is the rules module as cmd wires it.
type Module struct {
	db     *sqlx.DB
	events *events.Service
	logger *slog.Logger
}

// New builds the rules module.
func New(db *sqlx.DB, ev *events.Service, logger *slog.Logger) *Module {
	return &Module{db: db, events: ev, logger: logger.With("module", "rules")}
}

// AddWorkers registers the jobs rules works.
func (m *Module) AddWorkers(w *river.Workers) {
	river.AddWorker(w, &ProcessWorker{db: m.db, events: m.events})
}
