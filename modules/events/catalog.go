package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// The catalog of event types (SPEC §11): per tenant, each type may carry
// a description and a JSON Schema 2020-12 its payloads are validated
// against at ingestion (schema.go, schemacache.go). A type is versioned
// like a rule: every change writes version N+1, older versions stay
// readable and can be rolled back to.

// Catalog limits.
const (
	MaxEventTypes         = 1_000 // live types per tenant
	MaxTypeDescriptionLen = 2_000 // characters
	maxTypeBody           = MaxSchemaBytes + 8<<10
)

// EventType is a type of the tenant's catalog at its current version.
type EventType struct {
	TenantID    uuid.UUID       `db:"tenant_id"`
	Type        string          `db:"type"`
	Version     int             `db:"version"`
	Description string          `db:"description"`
	Schema      json.RawMessage `db:"schema"` // nil: payloads are not validated
	CreatedAt   time.Time       `db:"created_at"`
	CreatedBy   *uuid.UUID      `db:"created_by"`
	UpdatedAt   time.Time       `db:"updated_at"`
	UpdatedBy   *uuid.UUID      `db:"updated_by"`
	DeletedAt   *time.Time      `db:"deleted_at"` // retired
}

// TypeVersion is one immutable version of an event type.
type TypeVersion struct {
	Version     int             `db:"version"`
	Description string          `db:"description"`
	Schema      json.RawMessage `db:"schema"`
	CreatedAt   time.Time       `db:"created_at"`
	CreatedBy   *uuid.UUID      `db:"created_by"`
}

// TypeInput is a type's content as PUT gives it, whole: an absent member
// is empty (no description, no schema).
type TypeInput struct {
	Description string
	Schema      json.RawMessage // nil or JSON null: no schema
}

// validate checks a type's name and content; the schema is compiled
// under the budgets of schema.go. Every problem is listed in one 422.
func (in *TypeInput) validate(typ string) error {
	var fields []apperr.FieldError
	if !typeRE.MatchString(typ) {
		fields = append(fields, apperr.FieldError{Field: "type", Message: "must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"})
	}
	switch {
	case utf8.RuneCountInString(in.Description) > MaxTypeDescriptionLen:
		fields = append(fields, apperr.FieldError{Field: "description", Message: fmt.Sprintf("must be at most %d characters", MaxTypeDescriptionLen)})
	case strings.ContainsRune(in.Description, 0):
		fields = append(fields, apperr.FieldError{Field: "description", Message: `must not contain \u0000`})
	}
	if s := bytes.TrimSpace(in.Schema); len(s) == 0 || bytes.Equal(s, []byte("null")) {
		in.Schema = nil
	} else if problem := pg.JSONBProblem(s); problem != "" {
		fields = append(fields, apperr.FieldError{Field: "schema", Message: problem})
	} else if _, _, err := compileSchema(s); err != nil {
		e, ok := apperr.As(err)
		if !ok {
			return err
		}
		fields = append(fields, e.Fields...)
	} else {
		in.Schema = s
	}
	if len(fields) > 0 {
		return apperr.Invalid("invalid_event_type", "The event type is invalid.", fields...)
	}
	return nil
}

func userOf(p auth.Principal) *uuid.UUID {
	if !p.IsUser() {
		return nil
	}
	id := p.UserID
	return &id
}

// PutType creates or changes a type of the caller's tenant. A change of
// description or schema writes the next version; the same content again
// changes nothing. A retired type comes back as its next version.
// created reports whether the type was not live before.
func (s *Service) PutType(ctx context.Context, p auth.Principal, typ string, in TypeInput) (t EventType, created bool, err error) {
	if err := in.validate(typ); err != nil {
		return EventType{}, false, err
	}
	err = pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		// Count the change first: BumpCatalog holds the tenant's catalog
		// lock, so its changes (and creations of one name) run one at a
		// time, and every writer takes its locks in one order.
		if err := s.repo.BumpCatalog(ctx, tx, p.TenantID); err != nil {
			return err
		}
		cur, err := s.repo.GetType(ctx, tx, p.TenantID, typ, true)
		found := err == nil
		switch {
		case found && cur.DeletedAt == nil && cur.Description == in.Description && sameJSON(cur.Schema, in.Schema):
			t = cur
			return errUnchanged // roll back the count: nothing changed, no version
		case !found && !apperr.IsKind(err, apperr.KindNotFound):
			return err
		case !found || cur.DeletedAt != nil:
			if err := s.admitType(ctx, tx, p.TenantID); err != nil {
				return err
			}
			created = true
		}
		if !found {
			t = EventType{TenantID: p.TenantID, Type: typ, Description: in.Description, Schema: in.Schema, CreatedBy: userOf(p)}
			return s.repo.InsertType(ctx, tx, &t)
		}
		t = cur
		t.Version++
		t.Description, t.Schema, t.UpdatedBy = in.Description, in.Schema, userOf(p)
		if err := s.repo.InsertTypeVersion(ctx, tx, &t); err != nil {
			return err
		}
		return s.repo.UpdateType(ctx, tx, &t)
	})
	if errors.Is(err, errUnchanged) {
		return t, false, nil
	}
	if err != nil {
		return EventType{}, false, err
	}
	s.schemas.forget(p.TenantID) // this process sees the change at once; others within 2 s
	return t, created, nil
}

// errUnchanged rolls back a PUT that changes nothing.
var errUnchanged = errors.New("event type unchanged")

// admitType refuses a new live type past MaxEventTypes (the caller holds
// the catalog's lock: BumpCatalog).
func (s *Service) admitType(ctx context.Context, tx *sqlx.Tx, tenantID uuid.UUID) error {
	n, err := s.repo.CountLiveTypes(ctx, tx, tenantID)
	if err != nil {
		return err
	}
	if n >= MaxEventTypes {
		return apperr.Invalid("event_type_limit", fmt.Sprintf("A tenant has at most %d event types: retire one first.", MaxEventTypes),
			apperr.FieldError{Field: "type", Message: fmt.Sprintf("would be type %d of at most %d", n+1, MaxEventTypes)})
	}
	return nil
}

// GetType returns a live type of the tenant.
func (s *Service) GetType(ctx context.Context, tenantID uuid.UUID, typ string) (EventType, error) {
	if !typeRE.MatchString(typ) {
		return EventType{}, errTypeNotFound
	}
	t, err := s.repo.GetType(ctx, s.db, tenantID, typ, false)
	if err == nil && t.DeletedAt != nil {
		return EventType{}, errTypeNotFound
	}
	return t, err
}

// ListTypes returns up to limit+1 live types named after after, by name:
// the extra one tells the caller that a next page exists.
func (s *Service) ListTypes(ctx context.Context, tenantID uuid.UUID, after string, limit int) ([]EventType, error) {
	return s.repo.ListTypes(ctx, s.db, tenantID, after, limit+1)
}

// TypeVersions returns a live type's versions, newest first.
func (s *Service) TypeVersions(ctx context.Context, tenantID uuid.UUID, typ string) ([]TypeVersion, error) {
	if _, err := s.GetType(ctx, tenantID, typ); err != nil {
		return nil, err
	}
	return s.repo.ListTypeVersions(ctx, s.db, tenantID, typ)
}

// RollbackType writes version N+1 of a live type equal to an earlier
// version, whose schema must still pass today's budgets.
func (s *Service) RollbackType(ctx context.Context, p auth.Principal, typ string, version int) (EventType, error) {
	if _, err := s.GetType(ctx, p.TenantID, typ); err != nil {
		return EventType{}, err
	}
	old, err := s.repo.GetTypeVersion(ctx, s.db, p.TenantID, typ, version)
	if err != nil {
		return EventType{}, err
	}
	t, _, err := s.PutType(ctx, p, typ, TypeInput{Description: old.Description, Schema: old.Schema})
	return t, err
}

// RetireType takes a type out of the catalog: its events are no longer
// validated. Its versions are kept; a PUT brings it back.
func (s *Service) RetireType(ctx context.Context, p auth.Principal, typ string) error {
	if !typeRE.MatchString(typ) {
		return errTypeNotFound
	}
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		if err := s.repo.BumpCatalog(ctx, tx, p.TenantID); err != nil {
			return err
		}
		return s.repo.RetireType(ctx, tx, p.TenantID, typ, userOf(p))
	})
	if err != nil {
		return err
	}
	s.schemas.forget(p.TenantID)
	return nil
}

// sameJSON reports whether two JSON texts (or two absences) hold the
// same value, whatever their spacing and member order.
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}
