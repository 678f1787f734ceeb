package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/pg"
)

// Batch limits.
const (
	MaxBatchItems = 500
	MaxBatchBytes = 4 << 20
)

// Item outcomes of a batch.
const (
	ItemAccepted = "accepted"
	ItemReplayed = "replayed"
	ItemRejected = "rejected"
)

// BatchResult is one item's outcome, in request order.
type BatchResult struct {
	Index   int            `json:"index"`
	Status  string         `json:"status"`
	ID      *uuid.UUID     `json:"id,omitempty"`
	Problem *httpx.Problem `json:"error,omitempty"`
	input   *Input         // nil when rejected before the transaction
	event   *Event
}

// appendJSON appends r as encoding/json encodes it.
func (r BatchResult) appendJSON(b []byte) []byte {
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(r.Index), 10)
	b = append(b, `,"status":`...)
	b = httpx.AppendJSONString(b, r.Status)
	if r.ID != nil {
		b = append(b, `,"id":"`...)
		b = append(pg.AppendUUID(b, *r.ID), '"')
	}
	if r.Problem != nil {
		p, err := json.Marshal(r.Problem)
		if err != nil {
			p = []byte("null") // a Problem always encodes
		}
		b = append(append(b, `,"error":`...), p...)
	}
	return append(b, '}')
}

// parseItem decodes and validates one batch item (an event plus an
// optional idempotencyKey) with one pass of the JSON decoder.
func parseItem(raw []byte) (Input, error) {
	w, err := decodeWire(raw)
	if err != nil {
		return Input{}, err
	}
	var keys []string
	switch k, ok, err := optString(w.IdempotencyKey); {
	case err != nil:
		return Input{}, apperr.BadRequest("invalid_idempotency_key", "idempotencyKey must be a string.",
			apperr.FieldError{Field: "idempotencyKey", Message: "must be a string"})
	case ok:
		keys = []string{k}
	}
	key, err := ValidateIdempotencyKey(keys)
	if err != nil {
		return Input{}, err
	}
	return w.input(key)
}

// ParseBatch decodes {"events":[...]} and validates every item; invalid
// items become rejected results, the rest inputs.
func ParseBatch(body []byte) ([]BatchResult, error) {
	events, ok := fastBatch(body) // wirefast.go
	if !ok {
		var req struct {
			Events []json.RawMessage `json:"events"`
		}
		// Unmarshal, not a Decoder: data after the object is invalid JSON,
		// never a second batch silently dropped.
		if err := json.Unmarshal(body, &req); err != nil {
			return nil, jsonProblem(err)
		}
		events = req.Events
	}
	if len(events) == 0 || len(events) > MaxBatchItems {
		return nil, apperr.Invalid("validation_failed", fmt.Sprintf("A batch holds 1 to %d events.", MaxBatchItems),
			apperr.FieldError{Field: "events", Message: fmt.Sprintf("must hold 1-%d items, got %d", MaxBatchItems, len(events))})
	}
	out := make([]BatchResult, len(events))
	inputs := make([]Input, len(events)) // one allocation for all the items' inputs
	for i, raw := range events {
		out[i].Index = i
		in, err := parseItem(raw)
		if err != nil {
			out[i].reject(err)
			continue
		}
		inputs[i] = in
		out[i].input = &inputs[i]
	}
	return out, nil
}

func (r *BatchResult) reject(err error) {
	e, ok := apperr.As(err)
	if !ok {
		e = &apperr.Error{Kind: apperr.KindInvalid, Code: "validation_failed", Detail: "The event is invalid."}
	}
	status := map[apperr.Kind]int{apperr.KindBadRequest: 400, apperr.KindInvalid: 422}[e.Kind]
	if status == 0 {
		status = 422
	}
	r.Status, r.input = ItemRejected, nil
	r.Problem = &httpx.Problem{Type: "/problems/" + e.Code, Title: "Invalid event", Status: status, Detail: e.Detail, Code: e.Code, Errors: e.Fields}
}

// IngestBatch stores every valid item and enqueues their jobs in ONE
// transaction with one multi-row insert and River's bulk insert. Items whose
// idempotency key was seen before are replayed (same body) or rejected
// (different body); a key repeated inside the batch counts as a repeat of
// its first occurrence.
//
// The quota is checked for every valid item up front: a batch that does not
// fit under the hard limit is refused whole (429 quota_exceeded).
func (s *Service) IngestBatch(ctx context.Context, tenantID uuid.UUID, items []BatchResult) ([]BatchResult, billing.Quota, error) {
	// Each item against its type's schema, before quota and transaction (ingestschema.go).
	if err := s.checkSchemas(ctx, tenantID, items); err != nil {
		return nil, billing.Quota{}, err
	}
	valid := 0
	for _, it := range items {
		if it.input != nil {
			valid++
		}
	}
	q, err := s.admit(ctx, tenantID, int64(valid))
	if err != nil {
		return nil, q, err
	}
	now := time.Now().UTC()
	firstByKey := map[string]int{}
	rows := make([]Event, 0, valid) // never grown: items point into it
	for i := range items {
		in := items[i].input
		if in == nil {
			continue
		}
		if in.IdempotencyKey != "" {
			if _, seen := firstByKey[in.IdempotencyKey]; seen {
				continue // a repeat inside the batch
			}
			firstByKey[in.IdempotencyKey] = i
		}
		rows = append(rows, newEvent(tenantID, *in, now, retentionOf(q)))
		items[i].event = &rows[len(rows)-1]
	}
	var noted bool
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		if len(rows) == 0 {
			return nil
		}
		inserted, err := s.repo.InsertMany(ctx, tx, rows)
		if err != nil {
			return err
		}
		var keys []string
		for _, e := range rows {
			if !inserted.has(e.ID) {
				keys = append(keys, *e.IdempotencyKey)
			}
		}
		prior := map[string]Event{}
		if len(keys) > 0 {
			found, err := s.repo.GetKeys(ctx, tx, tenantID, keys)
			if err != nil {
				return err
			}
			for _, k := range found {
				prior[k.Key] = k.event()
			}
		}
		params := make([]river.InsertManyParams, 0, len(rows))
		for i := range items {
			it := &items[i]
			if it.input == nil {
				continue
			}
			key := it.input.IdempotencyKey
			if key != "" && firstByKey[key] != i {
				continue // an in-batch repeat: settled below, against its first occurrence
			}
			e := it.event
			if inserted.has(e.ID) {
				it.Status, it.ID = ItemAccepted, &e.ID
				params = append(params, river.InsertManyParams{Args: ProcessArgs{TenantID: tenantID, EventID: e.ID}, InsertOpts: noInsertOpts})
				continue
			}
			p, ok := prior[key]
			if !ok {
				return fmt.Errorf("idempotency key %q neither inserted nor found", key)
			}
			it.event = &p
			it.settle(p.RequestHash, p.ID, it.input.hash[:])
		}
		for i := range items {
			it := &items[i]
			if it.input == nil || it.input.IdempotencyKey == "" || firstByKey[it.input.IdempotencyKey] == i {
				continue
			}
			first := items[firstByKey[it.input.IdempotencyKey]].event
			it.settle(first.RequestHash, first.ID, it.input.hash[:])
		}
		if len(params) > 0 {
			if _, err := s.jobs.InsertManyFastTx(ctx, tx.Tx, params); err != nil {
				return fmt.Errorf("enqueue event.process: %w", err)
			}
		}
		q.Added = int64(len(params))
		q.CrossesSoft = q.CrossesSoft && q.Soft != nil && q.Used+q.Added > *q.Soft
		noted, err = s.countTx(ctx, tx, tenantID, q, q.Added)
		return err
	})
	if err != nil {
		return nil, q, err
	}
	q.WarnSoft = q.Soft != nil && q.Used+q.Added > *q.Soft
	s.committed(tenantID, q, noted)
	return items, q, nil
}

// settle answers a repeat of an idempotency key: the stored id when the
// bodies agree, a rejection when they do not.
func (r *BatchResult) settle(storedHash []byte, storedID uuid.UUID, hash []byte) {
	if bytes.Equal(storedHash, hash) {
		r.Status, r.ID = ItemReplayed, &storedID
		return
	}
	r.reject(apperr.Invalid("idempotency_key_reused", "This idempotency key was already used with a different request body."))
}
