package auth

import (
	"regexp"
	"time"

	"github.com/google/uuid"

	"github.com/signalops/signalops/platform/apperr"
)

// Tenant is one customer account; every other row belongs to one.
type Tenant struct {
	ID        uuid.UUID `db:"id"`
	Slug      string    `db:"slug"`
	Name      string    `db:"name"`
	Plan      string    `db:"plan"`
	Status    string    `db:"status"`
	SoftLimit *int64    `db:"soft_limit"`
	HardLimit *int64    `db:"hard_limit"`
	// Weight is the tenant's share of the workers when several tenants
	// have a backlog; nil: its plan's default (billing).
	Weight    *int      `db:"weight"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

// Tenant statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// MaxWeight is the largest weight an operator can give a tenant (the
// database checks the same range).
const MaxWeight = 100

// Plans; billing owns what they mean.
var plans = map[string]bool{"free": true, "pro": true, "enterprise": true}

var slugRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// CreateTenantInput is what seeding or the operator API give to create a tenant.
type CreateTenantInput struct {
	Slug          string
	Name          string
	Plan          string // default "free"
	SoftLimit     *int64
	HardLimit     *int64
	OwnerEmail    string // optional: creates an owner user
	OwnerPassword string
}

func (in *CreateTenantInput) validate() error {
	var fields []apperr.FieldError
	if in.Plan == "" {
		in.Plan = "free"
	}
	if !slugRE.MatchString(in.Slug) {
		fields = append(fields, apperr.FieldError{Field: "slug", Message: "must be 1-63 lowercase letters, digits or dashes, starting with a letter or digit"})
	}
	if in.Name == "" || len(in.Name) > 200 {
		fields = append(fields, apperr.FieldError{Field: "name", Message: "must be 1-200 characters"})
	}
	if !plans[in.Plan] {
		fields = append(fields, apperr.FieldError{Field: "plan", Message: "must be free, pro or enterprise"})
	}
	if in.SoftLimit != nil && *in.SoftLimit < 0 {
		fields = append(fields, apperr.FieldError{Field: "softLimit", Message: "must not be negative"})
	}
	if in.HardLimit != nil && *in.HardLimit < 0 {
		fields = append(fields, apperr.FieldError{Field: "hardLimit", Message: "must not be negative"})
	}
	if in.SoftLimit != nil && in.HardLimit != nil && *in.SoftLimit > *in.HardLimit {
		fields = append(fields, apperr.FieldError{Field: "softLimit", Message: "must not exceed hardLimit"})
	}
	if (in.OwnerEmail == "") != (in.OwnerPassword == "") {
		fields = append(fields, apperr.FieldError{Field: "ownerEmail", Message: "owner email and password go together"})
	}
	if in.OwnerEmail != "" {
		fields = append(fields, validateCredentials(in.OwnerEmail, in.OwnerPassword)...)
	}
	if len(fields) > 0 {
		return apperr.Invalid("validation_failed", "The tenant is invalid.", fields...)
	}
	return nil
}
