package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Subject is what a rule is evaluated against: the parts of a stored event
// (events.Event) that conditions, groupBy and templates read. It is not
// called Event so that, beside events.Event, each name means one type.
// Payload holds the JSON payload as NewSubject decodes it, with
// json.Decoder.UseNumber: objects are map[string]any, arrays []any, numbers
// json.Number (their exact text), and strings, bools and nil as usual.
// Keeping numbers as text lets eq compare 2^60 and 2^60+1 exactly and lets
// templates print 10.50 as sent. Hand-built payloads may also hold float64
// and integer types; they compare by value, through float64 where exactness
// is not possible.
type Subject struct {
	Type       string
	Source     string // "" when the producer sent none
	OccurredAt time.Time
	Payload    map[string]any
}

// NewSubject decodes a stored event's payload once, for every rule of the
// tenant to read. An empty or null payload gives a nil Payload.
func NewSubject(typ, source string, occurredAt time.Time, payload json.RawMessage) (Subject, error) {
	subj := Subject{Type: typ, Source: source, OccurredAt: occurredAt}
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || string(p) == "null" {
		return subj, nil
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return Subject{}, fmt.Errorf("decode payload: %w", err)
	}
	if dec.More() {
		return Subject{}, errors.New("decode payload: data after the object")
	}
	subj.Payload = m
	return subj, nil
}
