package notify

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/platform/tracing"
)

// Fallback chains (SPEC §10). A rule action names a channel and, in
// "fallback", up to four more. The chain is stored with each delivery —
// notify owns it, rules never hears back — as the channels still to try
// after the delivery's own:
//
//	A (fallback [B, C]) ──fails──▶ B (fallbackOf A, fallback [C]) ──fails──▶ C (fallbackOf B)
//
// The next delivery is created, with its job, in the transaction that
// records the previous one's final failure (a permanent error, or its last
// retry) and marks it replaced_by the next: a crash leaves either both or
// neither. So at most one delivery of a chain is pending at any time, and
// at most one succeeds per firing. A replaced delivery's job completes (it
// is not a dead letter) and the delivery cannot be retried: its successor
// carries the message. Only the chain's last delivery can land in the DLQ,
// once, and its error then lists the errors of the whole chain.

// MaxChain is the most channels a chain holds: the action's own and its
// fallbacks.
const MaxChain = 5

// Chain is the channels a delivery falls back on, in order; stored as a
// JSON array, NULL when empty.
type Chain []uuid.UUID

// Scan implements sql.Scanner.
func (c *Chain) Scan(src any) error { return scanJSON(src, c) }

// Value implements driver.Valuer.
func (c Chain) Value() (driver.Value, error) {
	if len(c) == 0 {
		return nil, nil
	}
	b, err := json.Marshal([]uuid.UUID(c))
	return string(b), err
}

// ChainError is the final error of one earlier delivery of a chain.
type ChainError struct {
	DeliveryID uuid.UUID `json:"deliveryId"`
	ChannelID  uuid.UUID `json:"channelId"`
	Error      string    `json:"error"`
}

// ChainErrors are the errors of the deliveries before this one in its
// chain, oldest first; stored as JSON, NULL when empty.
type ChainErrors []ChainError

// Scan implements sql.Scanner.
func (c *ChainErrors) Scan(src any) error { return scanJSON(src, c) }

// Value implements driver.Valuer.
func (c ChainErrors) Value() (driver.Value, error) {
	if len(c) == 0 {
		return nil, nil
	}
	b, err := json.Marshal([]ChainError(c))
	return string(b), err
}

func scanJSON(src, dst any) error {
	switch v := src.(type) {
	case nil:
		return nil
	case []byte:
		return json.Unmarshal(v, dst)
	case string:
		return json.Unmarshal([]byte(v), dst)
	default:
		return fmt.Errorf("scan %T into %T", src, dst)
	}
}

// HasFallback reports whether a channel is left to try after d's own.
func (d *Delivery) HasFallback() bool { return len(d.Fallback) > 0 }

// chainError is the error a chain's last delivery fails with: its own,
// then what happened before it. River records it with the job, so the DLQ
// shows the whole chain once.
type chainError struct {
	err   error
	chain ChainErrors
}

func (e *chainError) Error() string {
	var b strings.Builder
	b.WriteString(e.err.Error())
	b.WriteString("; earlier in the fallback chain:")
	for i, c := range e.chain {
		if i > 0 {
			b.WriteByte(';')
		}
		fmt.Fprintf(&b, " delivery %s to channel %s: %s", c.DeliveryID, c.ChannelID, c.Error)
	}
	return b.String()
}

func (e *chainError) Unwrap() error { return e.err }

// withChain adds the chain's earlier errors to the final error of d.
func withChain(d *Delivery, err error) error {
	if len(d.ChainErrors) == 0 || err == nil {
		return err
	}
	return &chainError{err: err, chain: d.ChainErrors}
}

// startFallbackTx hands each delivery of from over to the next channel of
// its chain, in the caller's transaction: it marks the delivery failed
// (with LastError as the cause, when set) and replaced, and creates the
// next delivery — the same message, a body naming the new delivery — and
// its notify.deliver job. Deliveries without a fallback left are skipped;
// it returns how many were handed over.
//
// The delivery worker calls it when a delivery fails permanently or spends
// its last retry. It is also the hook for the channel circuit breaker: a
// delivery waiting on an open circuit that HasFallback should be passed
// here (with LastError saying the circuit is open) rather than wait, and
// its job should then return nil.
func (s *Service) startFallbackTx(ctx context.Context, tx *sqlx.Tx, from []Delivery) (int, error) {
	var next []Delivery
	var replaced []replacement
	now := time.Now().UTC()
	for _, d := range from {
		if !d.HasFallback() {
			continue
		}
		cause := "failed"
		if d.LastError != nil {
			cause = *d.LastError
		}
		n := Delivery{ID: uuid.Must(uuid.NewV7()), TenantID: d.TenantID, EventID: d.EventID, RuleID: d.RuleID,
			RuleVersion: d.RuleVersion, ChannelID: d.Fallback[0], EventType: d.EventType, Message: d.Message,
			Fallback: Chain(d.Fallback[1:]), FallbackOf: &d.ID, RetentionDays: d.RetentionDays, Trace: d.Trace,
			ChainErrors: append(append(ChainErrors(nil), d.ChainErrors...), ChainError{DeliveryID: d.ID, ChannelID: d.ChannelID, Error: cause})}
		body, err := rebody(d.Body, n.ID, now)
		if err != nil {
			return 0, fmt.Errorf("fallback of delivery %s: %w", d.ID, err)
		}
		n.Body = body
		next = append(next, n)
		replaced = append(replaced, replacement{tenantID: d.TenantID, id: d.ID, by: n.ID, lastError: d.LastError})
	}
	if len(next) == 0 {
		return 0, nil
	}
	if err := s.insertTx(ctx, tx, next); err != nil {
		return 0, err
	}
	if err := s.repo.MarkReplaced(ctx, tx, replaced); err != nil {
		return 0, err
	}
	return len(next), nil
}

// rebody is a delivery's webhook body for another delivery of the same
// message: the same data, naming the new delivery (webhook-id derives from
// it), stamped now.
func rebody(body json.RawMessage, id uuid.UUID, now time.Time) (json.RawMessage, error) {
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, fmt.Errorf("decode webhook body: %w", err)
	}
	b.Data.DeliveryID, b.Timestamp = id, now
	out, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode webhook body: %w", err)
	}
	return out, nil
}

// replacement is one delivery handed over to its fallback.
type replacement struct {
	tenantID, id, by uuid.UUID
	lastError        *string
}

// insertTx stores new deliveries and their notify.deliver jobs.
func (s *Service) insertTx(ctx context.Context, tx *sqlx.Tx, ds []Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	params := make([]river.InsertManyParams, len(ds))
	for i, d := range ds {
		opts := s.insertOpts()
		opts.Metadata = tracing.JobMetadata(ctx, d.Trace) // nil: the inserting context's (the River middleware)
		params[i] = river.InsertManyParams{Args: DeliverArgs{TenantID: d.TenantID, DeliveryID: d.ID, ChannelID: d.ChannelID}, InsertOpts: opts}
	}
	// Jobs first: their ids go into the delivery rows, inserted together.
	res, err := s.jobs.InsertManyTx(ctx, tx.Tx, params)
	if err != nil {
		return fmt.Errorf("enqueue notify.deliver: %w", err)
	}
	for i := range ds {
		ds[i].JobID = &res[i].Job.ID
	}
	return s.repo.InsertDeliveries(ctx, tx, ds)
}
