package console

import (
	"encoding/json"
	"time"
)

// The API's JSON bodies as the console reads them. Fields the API does not
// send (yet) decode as nil and the templates leave them out, so a field the
// API gains is shown as soon as it is listed here.

type me struct {
	User struct {
		ID    string `json:"id"`
		Email string `json:"email"`
		Role  string `json:"role"`
	} `json:"user"`
	Tenant struct {
		ID     string `json:"id"`
		Slug   string `json:"slug"`
		Name   string `json:"name"`
		Plan   string `json:"plan"`
		Status string `json:"status"`
	} `json:"tenant"`
}

type usage struct {
	Current periodUsage `json:"current"`
}

type periodUsage struct {
	Period string `json:"period"`
	Events struct {
		Count              int64      `json:"count"`
		SoftLimit          *int64     `json:"softLimit"`
		HardLimit          *int64     `json:"hardLimit"`
		PercentOfSoft      *float64   `json:"percentOfSoft"`
		PercentOfHard      *float64   `json:"percentOfHard"`
		SoftLimitReachedAt *time.Time `json:"softLimitReachedAt"`
	} `json:"events"`
	RuleEvaluations int64            `json:"ruleEvaluations"`
	Notifications   map[string]int64 `json:"notifications"`
	EventsByDay     []struct {
		Date  string `json:"date"`
		Count int64  `json:"count"`
	} `json:"eventsByDay"`
}

type event struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Source      *string         `json:"source"`
	Payload     json.RawMessage `json:"payload"`
	OccurredAt  time.Time       `json:"occurredAt"`
	ReceivedAt  time.Time       `json:"receivedAt"`
	Status      string          `json:"status"`
	ProcessedAt *time.Time      `json:"processedAt"`
}

// eventDetail is GET /api/events/{id}. Fired/Reason (matches) and
// RuleID/Attempts/FallbackOf (deliveries) are the lineage of SPEC §9.
type eventDetail struct {
	event
	Matches []struct {
		RuleID      string  `json:"ruleId"`
		RuleVersion int     `json:"ruleVersion"`
		Fired       *bool   `json:"fired"`
		Reason      *string `json:"reason"`
	} `json:"matches"`
	Deliveries []struct {
		ID         string  `json:"id"`
		ChannelID  string  `json:"channelId"`
		Status     string  `json:"status"`
		RuleID     *string `json:"ruleId"`
		Attempts   *int    `json:"attempts"`
		FallbackOf *string `json:"fallbackOf"`
	} `json:"deliveries"`
}

type attempt struct {
	Attempt    int       `json:"attempt"`
	Succeeded  bool      `json:"succeeded"`
	StatusCode *int      `json:"statusCode"`
	LatencyMS  int       `json:"latencyMs"`
	Error      *string   `json:"error"`
	At         time.Time `json:"at"`
}

type delivery struct {
	ID          string     `json:"id"`
	EventID     string     `json:"eventId"`
	RuleID      *string    `json:"ruleId"`
	RuleVersion *int       `json:"ruleVersion"`
	ChannelID   string     `json:"channelId"`
	Message     string     `json:"message"`
	Status      string     `json:"status"`
	Attempts    []attempt  `json:"attempts"`
	LastError   *string    `json:"lastError"`
	CreatedAt   time.Time  `json:"createdAt"`
	DeliveredAt *time.Time `json:"deliveredAt"`
}

// channel is GET /api/channels{/id}; Health is the circuit breaker of SPEC §8.
type channel struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Config    json.RawMessage `json:"config"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
	Health    *channelHealth  `json:"health"`
	// Secrets is only in a create response with a generated signing secret.
	Secrets map[string]string `json:"secrets"`
}

type channelHealth struct {
	State               string     `json:"state"` // closed, open, halfOpen
	ConsecutiveFailures int        `json:"consecutiveFailures"`
	OpenedAt            *time.Time `json:"openedAt"`
	NextProbeAt         *time.Time `json:"nextProbeAt"`
	LastError           *string    `json:"lastError"`   // the last transient failure, kept after the circuit closes
	PausedUntil         *time.Time `json:"pausedUntil"` // a receiver's 429 Retry-After holds deliveries back
}

// StateLabel is the circuit state in words.
func (h channelHealth) StateLabel() string {
	switch h.State {
	case "closed":
		return "healthy (circuit closed)"
	case "open":
		return "failing (circuit open)"
	case "halfOpen":
		return "probing (circuit half-open)"
	}
	return h.State
}

type rule struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	Enabled    bool            `json:"enabled"`
	Version    int             `json:"version"`
	Definition json.RawMessage `json:"definition"`
	CreatedAt  time.Time       `json:"createdAt"`
	UpdatedAt  time.Time       `json:"updatedAt"`
}

type ruleVersion struct {
	Version    int             `json:"version"`
	Definition json.RawMessage `json:"definition"`
	CreatedAt  time.Time       `json:"createdAt"`
}

type rendered struct {
	ChannelID string `json:"channelId"`
	Message   string `json:"message"`
	Channel   string `json:"-"` // its name, filled in by the console
}

// name fills in the channels' names of a dry run's messages.
func (t *testResult) name(names map[string]string) {
	for i := range t.Actions {
		t.Actions[i].Channel = names[t.Actions[i].ChannelID]
	}
}

type testResult struct {
	Matched  bool       `json:"matched"`
	Failed   string     `json:"failed"`
	GroupKey string     `json:"groupKey"`
	Actions  []rendered `json:"actions"`
	Note     string     `json:"note"`
}

type backtestResult struct {
	Scanned   int  `json:"scanned"`
	Matched   int  `json:"matched"`
	Fired     int  `json:"fired"`
	Truncated bool `json:"truncated"`
	Samples   []struct {
		EventID    string     `json:"eventId"`
		Type       string     `json:"type"`
		ReceivedAt time.Time  `json:"receivedAt"`
		GroupKey   string     `json:"groupKey"`
		Actions    []rendered `json:"actions"`
	} `json:"samples"`
}

type channelTest struct {
	OK         bool   `json:"ok"`
	StatusCode int    `json:"statusCode"`
	LatencyMS  int64  `json:"latencyMs"`
	Response   string `json:"response"`
	Error      string `json:"error"`
}

type deadJob struct {
	ID          int64           `json:"id"`
	Kind        string          `json:"kind"`
	State       string          `json:"state"`
	Args        json.RawMessage `json:"args"`
	Attempt     int             `json:"attempt"`
	MaxAttempts int             `json:"maxAttempts"`
	Errors      []struct {
		Attempt int       `json:"attempt"`
		At      time.Time `json:"at"`
		Error   string    `json:"error"`
	} `json:"errors"`
	CreatedAt   time.Time  `json:"createdAt"`
	FinalizedAt *time.Time `json:"finalizedAt"`
}

type apiKey struct {
	ID         string     `json:"id"`
	Label      string     `json:"label"`
	Prefix     string     `json:"prefix"`
	Scopes     []string   `json:"scopes"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	RevokedAt  *time.Time `json:"revokedAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	Key        string     `json:"key"` // the create response only
}

type user struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
}
