package events

import (
	"bytes"
	"context"

	"github.com/google/uuid"

	"github.com/signalops/signalops/platform/apperr"
)

// Validation at ingestion (SPEC §11). It runs in the request goroutine,
// before quota is asked for and before the group commit: a refused event
// costs no transaction and no quota, and a slow schema cannot hold a
// commit that other requests share.

// checkSchema validates one event's payload against its type's schema;
// done means Ingest answers with res and err now. A refused event whose
// idempotency key already stored the same body is that event's replay: a
// retry keeps its answer however the schema changed since.
func (s *Service) checkSchema(ctx context.Context, tenantID uuid.UUID, in Input) (res IngestResult, done bool, err error) {
	err = s.schemas.check(ctx, tenantID, in.Type, in.Payload)
	if err == nil {
		return IngestResult{}, false, nil
	}
	if in.IdempotencyKey != "" && apperr.IsKind(err, apperr.KindInvalid) {
		prior, perr := s.repo.GetKey(ctx, s.db, tenantID, in.IdempotencyKey)
		if perr == nil && bytes.Equal(prior.RequestHash, in.hash[:]) {
			return IngestResult{Event: prior.event(), Replayed: true}, true, nil
		}
	}
	return IngestResult{}, true, err
}

// checkSchemas validates a batch's items, rejecting each that fails (or
// replaying it, as checkSchema does); an error is about the whole batch
// (the database is unreachable).
func (s *Service) checkSchemas(ctx context.Context, tenantID uuid.UUID, items []BatchResult) error {
	type refusedItem struct {
		index int
		hash  [32]byte
	}
	refused := map[string][]refusedItem{} // by idempotency key
	for i := range items {
		in := items[i].input
		if in == nil {
			continue
		}
		err := s.schemas.check(ctx, tenantID, in.Type, in.Payload)
		switch {
		case err == nil:
			continue
		case !apperr.IsKind(err, apperr.KindInvalid):
			return err
		}
		if in.IdempotencyKey != "" {
			refused[in.IdempotencyKey] = append(refused[in.IdempotencyKey], refusedItem{i, in.hash})
		}
		items[i].reject(err)
	}
	if len(refused) == 0 {
		return nil
	}
	keys := make([]string, 0, len(refused))
	for k := range refused {
		keys = append(keys, k)
	}
	stored, err := s.repo.GetKeys(ctx, s.db, tenantID, keys)
	if err != nil {
		return err
	}
	for _, k := range stored {
		for _, r := range refused[k.Key] {
			if bytes.Equal(k.RequestHash, r.hash[:]) {
				id := k.EventID
				items[r.index].Status, items[r.index].ID, items[r.index].Problem = ItemReplayed, &id, nil
			}
		}
	}
	return nil
}
