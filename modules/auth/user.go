package auth

import (
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/signalops/signalops/platform/apperr"
)

// User is a person who manages one tenant through the JWT API.
type User struct {
	ID           uuid.UUID `db:"id"`
	TenantID     uuid.UUID `db:"tenant_id"`
	Email        string    `db:"email"`
	PasswordHash string    `db:"password_hash"`
	Role         string    `db:"role"`
	CreatedAt    time.Time `db:"created_at"`
}

// Roles, from most to least privileged.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
	RoleViewer = "viewer"
)

// bcryptCost is bcrypt's default; tests do not lower it, so timing stays honest.
const bcryptCost = bcrypt.DefaultCost

func validateCredentials(email, password string) []apperr.FieldError {
	var fields []apperr.FieldError
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 254 {
		fields = append(fields, apperr.FieldError{Field: "email", Message: "must be a plain email address"})
	}
	// bcrypt reads at most 72 bytes; longer passwords would be silently truncated.
	if len(password) < 8 || len(password) > 72 {
		fields = append(fields, apperr.FieldError{Field: "password", Message: "must be 8-72 bytes"})
	}
	return fields
}

func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
