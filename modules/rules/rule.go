package rules

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Rule is a tenant's rule at its current version.
type Rule struct {
	ID         uuid.UUID       `db:"id"`
	TenantID   uuid.UUID       `db:"tenant_id"`
	Name       string          `db:"name"`
	Enabled    bool            `db:"enabled"`
	Version    int             `db:"version"`
	Definition json.RawMessage `db:"definition"`
	CreatedAt  time.Time       `db:"created_at"`
	CreatedBy  *uuid.UUID      `db:"created_by"`
	UpdatedAt  time.Time       `db:"updated_at"`
	UpdatedBy  *uuid.UUID      `db:"updated_by"`
}

// Version is one immutable version of a rule's definition.
type Version struct {
	RuleID     uuid.UUID       `db:"rule_id"`
	Version    int             `db:"version"`
	Definition json.RawMessage `db:"definition"`
	CreatedAt  time.Time       `db:"created_at"`
	CreatedBy  *uuid.UUID      `db:"created_by"`
}

// Match is a recorded match of an event by a rule version.
type Match struct {
	ID          uuid.UUID `db:"id"`
	TenantID    uuid.UUID `db:"tenant_id"`
	EventID     uuid.UUID `db:"event_id"`
	RuleID      uuid.UUID `db:"rule_id"`
	RuleVersion int       `db:"rule_version"`
	GroupKey    string    `db:"group_key"`
	Fired       bool      `db:"fired"`
	// Reason says why the match did not fire (threshold progress, a
	// cooldown, a digest that collected it); nil when it fired at once.
	Reason     *string         `db:"reason"`
	ReceivedAt time.Time       `db:"received_at"`
	Actions    json.RawMessage `db:"actions"`
	CreatedAt  time.Time       `db:"created_at"`
	// RetentionDays is the event's: the match is deleted with the event.
	RetentionDays int `db:"retention_days"`
}

const maxNameLen = 200
