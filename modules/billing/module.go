package billing

import (
	"log/slog"

	"github.com/jmoiron/sqlx"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/httpx"
)

// Module is the billing module as cmd wires it.
type Module struct {
	Service *Service
}

// New builds the billing module.
func New(db *sqlx.DB, as *auth.Service, plans Catalog, logger *slog.Logger) *Module {
	return &Module{Service: NewService(db, as, plans, logger.With("module", "billing"))}
}

// Routes mounts the usage API on g (any role reads).
func (m *Module) Routes(g *httpx.Group) {
	h := handler{svc: m.Service}
	g = g.With(auth.Require(auth.RoleViewer, auth.RoleViewer))
	g.GET("/usage", h.usage)
	g.GET("/usage/history", h.history)
}
