package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is what a rule sees of an event. Payload holds the JSON payload as
// NewEvent decodes it, with json.Decoder.UseNumber: objects are
// map[string]any, arrays []any, numbers json.Number (their exact text), and
// strings, bools and nil as usual. Keeping numbers as text lets eq compare
// 2^60 and 2^60+1 exactly and lets templates print 10.50 as sent. Hand-built
// payloads may also hold float64 and integer types; they compare by value,
// through float64 where exactness is not possible.
type Event struct {
	Type       string
	Source     string // "" when the producer sent none
	OccurredAt time.Time
	Payload    map[string]any
}

// NewEvent decodes a stored event's payload once, for every rule of the
// tenant to read. An empty or null payload gives a nil Payload.
func NewEvent(typ, source string, occurredAt time.Time, payload json.RawMessage) (Event, error) {
	ev := Event{Type: typ, Source: source, OccurredAt: occurredAt}
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || string(p) == "null" {
		return ev, nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Event{}, fmt.Errorf("decode payload: %w", err)
	}
	if dec.More() {
		return Event{}, errors.New("decode payload: data after the object")
	}
	ev.Payload = m
	return ev, nil
}
