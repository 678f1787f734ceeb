package auth

import (
	"log/slog"

	"github.com/jmoiron/sqlx"
)

// Module is the auth module as cmd wires it.
type Module struct {
	Service *Service
}

// New builds the auth module.
func New(db *sqlx.DB, logger *slog.Logger) *Module {
	return &Module{Service: NewService(db, logger.With("module", "auth"))}
}
