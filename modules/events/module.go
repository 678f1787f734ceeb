package events

import (
	"database/sql"
	"log/slog"

	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/httpx"
)

// Module is the events module as cmd wires it.
type Module struct {
	Service *Service
}

// New builds the events module; jobs is the process's insert-only River client.
func New(db *sqlx.DB, jobs *river.Client[*sql.Tx], logger *slog.Logger) *Module {
	return &Module{Service: NewService(db, jobs, logger.With("module", "events"))}
}

// Routes mounts ingestion on ingest (API keys) and the reads on read (API
// keys with events:read, or users).
func (m *Module) Routes(ingest, read *httpx.Group) {
	h := handler{svc: m.Service}
	ingest.POST("/events", h.create, auth.RequireScope(auth.ScopeEventsWrite), httpx.BodyLimit(MaxBodyBytes))
	read.GET("/events", h.list, auth.RequireScope(auth.ScopeEventsRead))
	read.GET("/events/:id", h.get, auth.RequireScope(auth.ScopeEventsRead))
}
