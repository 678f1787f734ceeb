package auth

import (
	"log/slog"

	"github.com/jmoiron/sqlx"

	"github.com/signalops/signalops/platform/httpx"
)

// Module is the auth module as cmd wires it.
type Module struct {
	Service *Service
}

// New builds the auth module.
func New(db *sqlx.DB, logger *slog.Logger, opts Options) *Module {
	return &Module{Service: NewService(db, logger.With("module", "auth"), opts)}
}

// PublicRoutes mounts routes that need no credentials (login).
func (m *Module) PublicRoutes(g *httpx.Group) {
	h := handler{svc: m.Service}
	g.POST("/auth/login", h.login, httpx.BodyLimit(4<<10))
}

// Routes mounts the management routes on g, whose middleware has checked a
// bearer token. Keys and users need admin, to read as well as to write.
func (m *Module) Routes(g *httpx.Group) {
	h := handler{svc: m.Service}
	g.With(Require(RoleViewer, RoleViewer)).GET("/me", h.me)
	admin := g.With(Require(RoleAdmin, RoleAdmin))
	admin.GET("/api-keys", h.listKeys)
	admin.POST("/api-keys", h.createKey)
	admin.DELETE("/api-keys/:id", h.revokeKey)
	admin.GET("/users", h.listUsers)
	admin.POST("/users", h.createUser)
	admin.PATCH("/users/:id", h.updateUser)
	admin.DELETE("/users/:id", h.deleteUser)
}

// AdminRoutes mounts the operator API on g (prefix /api/admin).
func (m *Module) AdminRoutes(g *httpx.Group) {
	h := handler{svc: m.Service}
	g = g.With(m.AdminAuth())
	g.POST("/tenants", h.createTenant)
	g.GET("/tenants", h.listTenants)
	g.GET("/tenants/:id", h.getTenant)
	g.PATCH("/tenants/:id", h.patchTenant)
}
