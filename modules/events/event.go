package events

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/pg"
)

// Limits of one event.
const (
	MaxBodyBytes      = 256 << 10 // a single event's request body
	MaxPayloadDepth   = 32        // nesting of payload; the body adds one level
	MaxSourceRunes    = 128
	MaxIdempotencyKey = 255
)

// Statuses of an event.
const (
	StatusAccepted  = "accepted"
	StatusProcessed = "processed"
	StatusFailed    = "failed"
)

// Event is a stored event.
type Event struct {
	ID             uuid.UUID       `db:"id"`
	TenantID       uuid.UUID       `db:"tenant_id"`
	Type           string          `db:"type"`
	Source         *string         `db:"source"`
	Payload        json.RawMessage `db:"payload"`
	OccurredAt     time.Time       `db:"occurred_at"`
	ReceivedAt     time.Time       `db:"received_at"`
	Status         string          `db:"status"`
	ProcessedAt    *time.Time      `db:"processed_at"`
	IdempotencyKey *string         `db:"idempotency_key"`
	RequestHash    []byte          `db:"request_hash"`
	// RetentionDays is how long the event is kept: its tenant's plan's
	// retention when it was received (the partition branch it lives in).
	RetentionDays int `db:"retention_days"`
	// Trace is the trace the event's processing continues (its
	// event.process job's, whose metadata carries it; not stored in the
	// row). Zero when untraced.
	Trace trace.SpanContext `db:"-"`
}

var typeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

// validType is typeRE.MatchString(s), without the regexp engine (a
// quarter of single-event validation).
func validType(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '_' || c == '.' || c == ':' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// Input is one validated event as a producer sent it.
type Input struct {
	Type           string
	Source         *string
	Payload        json.RawMessage
	OccurredAt     *time.Time
	IdempotencyKey string   // "" when none
	hash           [32]byte // fingerprint of the four members; set only with IdempotencyKey
}

// wireEvent keeps each member raw, so every problem can be named by field.
type wireEvent struct {
	Type       json.RawMessage `json:"type"`
	Payload    json.RawMessage `json:"payload"`
	Source     json.RawMessage `json:"source"`
	OccurredAt json.RawMessage `json:"occurredAt"`
	// IdempotencyKey is a batch item's key; a single POST takes its key
	// from the header and ignores this member, like any other unknown one.
	IdempotencyKey json.RawMessage `json:"idempotencyKey"`
}

// ParseInput decodes and validates one event body. Unparseable input is a
// 400 naming the field; well-formed input that breaks a rule is a 422 with
// every problem listed.
func ParseInput(body []byte, idempotencyKey string) (Input, error) {
	w, err := decodeWire(body)
	if err != nil {
		return Input{}, err
	}
	return w.input(idempotencyKey)
}

// decodeWire parses one event body once: nesting depth, JSON syntax and
// UTF-8, each a 400 naming the field.
func decodeWire(body []byte) (wireEvent, error) {
	if scan(body) > MaxPayloadDepth+1 {
		return wireEvent{}, apperr.BadRequest("json_too_deep",
			fmt.Sprintf("JSON nested deeper than %d levels inside the event is not accepted.", MaxPayloadDepth),
			apperr.FieldError{Field: "body", Message: fmt.Sprintf("nesting exceeds %d levels", MaxPayloadDepth+1)})
	}
	w, ok := fastWire(body) // wirefast.go
	if !ok {
		var slow wireEvent // its own variable: &w would put every w on the heap
		if err := json.Unmarshal(body, &slow); err != nil {
			return wireEvent{}, jsonProblem(err)
		}
		w = slow
	}
	if !utf8.Valid(body) {
		field := "body"
		for _, f := range []struct {
			name string
			raw  []byte
		}{{"type", w.Type}, {"payload", w.Payload}, {"source", w.Source}, {"occurredAt", w.OccurredAt}} {
			if !utf8.Valid(f.raw) {
				field = f.name
				break
			}
		}
		return wireEvent{}, apperr.BadRequest("invalid_utf8", "The request body is not valid UTF-8.",
			apperr.FieldError{Field: field, Message: "contains bytes that are not valid UTF-8"})
	}

	return w, nil
}

// input validates a decoded event; every broken rule is listed in one 422.
func (w wireEvent) input(idempotencyKey string) (Input, error) {
	in := Input{IdempotencyKey: idempotencyKey}
	var fields []apperr.FieldError
	bad := func(field, msg string) { fields = append(fields, apperr.FieldError{Field: field, Message: msg}) }

	switch s, ok, err := optString(w.Type); {
	case err != nil:
		bad("type", "must be a string")
	case !ok:
		bad("type", "is required")
	case !validType(s):
		bad("type", "must match ^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
	default:
		in.Type = s
	}

	switch p := bytes.TrimSpace(w.Payload); {
	case len(p) == 0 || bytes.Equal(p, []byte("null")):
		bad("payload", "is required")
	case p[0] != '{':
		bad("payload", "must be a JSON object")
	default:
		if problem := pg.JSONBProblem(p); problem != "" {
			bad("payload", problem)
		} else {
			in.Payload = p
		}
	}

	switch s, ok, err := optString(w.Source); {
	case err != nil:
		bad("source", "must be a string")
	case !ok:
	case utf8.RuneCountInString(s) > MaxSourceRunes:
		bad("source", fmt.Sprintf("must be at most %d characters", MaxSourceRunes))
	case strings.ContainsRune(s, 0):
		bad("source", `must not contain \u0000`)
	default:
		if s != "" {
			src := s
			in.Source = &src
		}
	}

	switch s, ok, err := optString(w.OccurredAt); {
	case err != nil:
		bad("occurredAt", "must be an RFC 3339 timestamp string")
	case !ok:
	default:
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil || t.Year() < 1970 || t.Year() > 9999 {
			bad("occurredAt", "must be an RFC 3339 timestamp such as 2026-01-02T15:04:05Z")
		} else {
			t = t.UTC()
			in.OccurredAt = &t
		}
	}

	if len(fields) > 0 {
		return Input{}, apperr.Invalid("validation_failed", "The event is invalid.", fields...)
	}
	if idempotencyKey != "" { // the fingerprint only serves to compare repeats of a key
		in.hash = requestHash(w)
	}
	return in, nil
}

// requestHash fingerprints an event for idempotency: its four members,
// compacted. Insignificant whitespace, member order and other members (a
// batch item's idempotencyKey) do not count; any change to the event does.
func requestHash(w wireEvent) [32]byte {
	var buf bytes.Buffer
	for _, m := range []json.RawMessage{w.Type, w.Payload, w.Source, w.OccurredAt} {
		if len(m) > 0 {
			if err := json.Compact(&buf, m); err != nil {
				buf.Write(m)
			}
		}
		buf.WriteByte(0)
	}
	return sha256.Sum256(buf.Bytes())
}

// ValidateIdempotencyKey checks the idempotency-key header: 1-255 printable ASCII.
func ValidateIdempotencyKey(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", nil
	case 1:
	default:
		return "", apperr.BadRequest("invalid_idempotency_key", "Send at most one idempotency-key header.",
			apperr.FieldError{Field: "idempotency-key", Message: "repeated header"})
	}
	k := values[0]
	if k == "" || len(k) > MaxIdempotencyKey {
		return "", apperr.BadRequest("invalid_idempotency_key", "The idempotency-key header must be 1-255 printable ASCII characters.",
			apperr.FieldError{Field: "idempotency-key", Message: fmt.Sprintf("length %d is outside 1-255", len(k))})
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return "", apperr.BadRequest("invalid_idempotency_key", "The idempotency-key header must be 1-255 printable ASCII characters.",
				apperr.FieldError{Field: "idempotency-key", Message: "contains a character that is not printable ASCII"})
		}
	}
	return k, nil
}

// optString decodes a JSON string member; absent or null gives ok=false.
// raw is valid JSON (encoding/json or fastWire checked it) within a body
// that is valid UTF-8, so a string without escapes is its bytes.
func optString(raw json.RawMessage) (s string, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false, nil
	}
	if len(raw) >= 2 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return "", false, err
	}
	return str, true, nil
}

// jsonProblem is httpx.JSONProblem, except that any type error means the
// body is not the object it must be: an event's members are all decoded
// later, and a batch's "events" that is not an array is as malformed.
func jsonProblem(err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return apperr.BadRequest("invalid_json", "The request body must be a JSON object.",
			apperr.FieldError{Field: "body", Message: "must be a JSON object"})
	}
	return httpx.JSONProblem(err)
}

// scan walks JSON text once without allocating: the deepest nesting of
// objects and arrays.
func scan(b []byte) (maxDepth int) {
	depth, inString := 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			maxDepth = max(maxDepth, depth)
		case '}', ']':
			depth--
		}
	}
	return maxDepth
}
