package notify

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/secretbox"
)

// Service is the notify use cases.
type Service struct {
	db        *sqlx.DB
	jobs      *river.Client[*sql.Tx] // insert-only
	repo      repo
	providers *Providers
	box       *secretbox.Box
	schedule  []time.Duration
	billing   *billing.Service
	logger    *slog.Logger
	opened    openedCache
	replica   *sqlx.DB // listing reads (UseReplica); nil: the primary

	flow        FlowOptions
	recordEvent RecordEventFunc // nil: circuit events are not recorded
}

// openedCache keeps channels as open unsealed and validated them, keyed by
// id and checked against the stored config and sealed secrets, so a changed
// channel is never served stale. Every delivery used to decrypt and
// re-validate its channel: 8.6 % of work's CPU in a delivery profile.
type openedCache struct {
	mu sync.Mutex
	m  map[uuid.UUID]openedChannel
}

type openedChannel struct {
	config json.RawMessage
	sealed string
	cfg    ChannelConfig
	sec    Secrets
}

// maxOpened bounds the cache; when full it starts over.
const maxOpened = 4096

func (o *openedCache) get(c Channel) (ChannelConfig, Secrets, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.m[c.ID]
	if !ok || e.sealed != c.SealedSecrets || !bytes.Equal(e.config, c.Config) {
		return ChannelConfig{}, Secrets{}, false
	}
	return e.cfg, e.sec, true
}

func (o *openedCache) put(c Channel, cfg ChannelConfig, sec Secrets) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil || len(o.m) >= maxOpened {
		o.m = make(map[uuid.UUID]openedChannel)
	}
	o.m[c.ID] = openedChannel{config: bytes.Clone(c.Config), sealed: c.SealedSecrets, cfg: cfg, sec: sec}
}

// ChannelInput creates or changes a channel; on a change nil/empty fields
// stay as they are (the kind never changes).
type ChannelInput struct {
	Name    *string
	Kind    string
	Config  json.RawMessage
	Secrets json.RawMessage
}

const maxChannelName = 200

func (s *Service) seal(c *Channel, sec Secrets) error {
	plain, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	c.SealedSecrets, err = s.box.Seal(plain, c.ID[:])
	return err
}

// open unseals a stored channel's secrets and re-reads its config. The
// result is shared: callers must not modify it.
func (s *Service) open(c Channel) (ChannelConfig, Secrets, error) {
	if cfg, sec, ok := s.opened.get(c); ok {
		return cfg, sec, nil
	}
	plain, err := s.box.Open(c.SealedSecrets, c.ID[:])
	if err != nil {
		return ChannelConfig{}, Secrets{}, fmt.Errorf("open channel %s secrets: %w", c.ID, err)
	}
	cfg, sec, err := ValidateConfig(c.Kind, c.Config, plain, false)
	if err != nil {
		return ChannelConfig{}, Secrets{}, fmt.Errorf("stored channel %s is invalid: %w", c.ID, err)
	}
	s.opened.put(c, cfg, sec)
	return cfg, sec, nil
}

// CreateChannel validates and stores a channel. generated is a webhook
// signing secret made for it: shown once, in the create response.
func (s *Service) CreateChannel(ctx context.Context, tenantID uuid.UUID, in ChannelInput) (c Channel, generated string, err error) {
	var fields []apperr.FieldError
	if in.Name == nil || *in.Name == "" || len(*in.Name) > maxChannelName {
		fields = append(fields, apperr.FieldError{Field: "name", Message: "must be 1-200 characters"})
	}
	cfg, sec, err := ValidateConfig(in.Kind, in.Config, in.Secrets, true)
	if e, ok := apperr.As(err); ok {
		fields = append(fields, e.Fields...)
	} else if err != nil {
		return c, "", err
	}
	if len(fields) > 0 {
		return c, "", apperr.Invalid("validation_failed", "The channel is invalid.", fields...)
	}
	c = Channel{ID: uuid.Must(uuid.NewV7()), TenantID: tenantID, Name: *in.Name, Kind: in.Kind}
	if c.Config, err = json.Marshal(cfg); err != nil {
		return c, "", err
	}
	if err := s.seal(&c, sec); err != nil {
		return c, "", err
	}
	if err := s.repo.InsertChannel(ctx, s.db, &c); err != nil {
		return c, "", err
	}
	if sec.Generated {
		generated = sec.Webhook.SigningSecret
	}
	return c, generated, nil
}

// GetChannel returns one live channel.
func (s *Service) GetChannel(ctx context.Context, tenantID, id uuid.UUID) (Channel, error) {
	return s.repo.GetChannel(ctx, s.db, tenantID, id)
}

// ListChannels returns up to limit+1 channels.
func (s *Service) ListChannels(ctx context.Context, tenantID, before uuid.UUID, limit int) ([]Channel, error) {
	return s.repo.ListChannels(ctx, s.db, tenantID, before, limit+1)
}

// Flows returns the flow state (circuit, pause) of the tenant's channels
// ids; a channel that never failed reads as closed.
func (s *Service) Flows(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]Flow, error) {
	if len(ids) == 0 {
		return map[uuid.UUID]Flow{}, nil
	}
	return s.repo.FlowsOf(ctx, s.db, tenantID, ids)
}

// UpdateChannel changes name, config and/or secrets; absent secrets keep the
// stored ones. A changed channel's rate slots start over, and an open
// circuit probes at once (the change may have fixed what broke it): its
// waiting deliveries are released, the first to run probes, the others
// wait for the probe's answer.
func (s *Service) UpdateChannel(ctx context.Context, tenantID, id uuid.UUID, in ChannelInput) (Channel, error) {
	var c Channel
	var open bool
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if c, err = s.repo.GetChannel(ctx, tx, tenantID, id); err != nil {
			return err
		}
		if in.Kind != "" && in.Kind != c.Kind {
			return apperr.Invalid("validation_failed", "A channel's kind cannot change.",
				apperr.FieldError{Field: "kind", Message: "must stay " + c.Kind})
		}
		if in.Name != nil {
			if *in.Name == "" || len(*in.Name) > maxChannelName {
				return apperr.Invalid("validation_failed", "The channel is invalid.",
					apperr.FieldError{Field: "name", Message: "must be 1-200 characters"})
			}
			c.Name = *in.Name
		}
		config := in.Config
		if len(config) == 0 {
			config = c.Config
		}
		cfg, sec, err := ValidateConfig(c.Kind, config, in.Secrets, false)
		if err != nil {
			return err
		}
		if !sec.Provided() {
			if _, sec, err = s.open(c); err != nil {
				return err
			}
		}
		if c.Config, err = json.Marshal(cfg); err != nil {
			return err
		}
		if err := s.seal(&c, sec); err != nil {
			return err
		}
		if err := s.repo.UpdateChannel(ctx, tx, &c); err != nil {
			return err
		}
		open, err = s.repo.RescheduleFlow(ctx, tx, tenantID, id)
		return err
	})
	if err == nil && open {
		if _, rerr := s.ReleaseWaiting(ctx, tenantID, id); rerr != nil {
			// The channel is saved; the waiting deliveries come back when
			// their snooze ends.
			s.logger.WarnContext(ctx, "releasing waiting deliveries after a channel update failed", slog.Any("error", rerr))
		}
	}
	return c, err
}

// DeleteChannel soft-deletes a channel; pending deliveries to it fail.
func (s *Service) DeleteChannel(ctx context.Context, tenantID, id uuid.UUID) error {
	return s.repo.DeleteChannel(ctx, s.db, tenantID, id)
}

// MissingChannels reports which ids are not live channels of the tenant
// (rules checks action channels with it).
func (s *Service) MissingChannels(ctx context.Context, tenantID uuid.UUID, ids []uuid.UUID) ([]uuid.UUID, error) {
	live, err := s.repo.LiveChannelIDs(ctx, s.db, tenantID, ids)
	if err != nil {
		return nil, err
	}
	var missing []uuid.UUID
	for _, id := range ids {
		if !slices.Contains(live, id) {
			missing = append(missing, id)
		}
	}
	return missing, nil
}

// TestResult is a channel test's outcome as the provider reported it.
type TestResult struct {
	OK                bool   `json:"ok"`
	StatusCode        int    `json:"statusCode,omitempty"`
	ProviderMessageID string `json:"providerMessageId,omitempty"`
	LatencyMS         int64  `json:"latencyMs"`
	Response          string `json:"response,omitempty"`
	Error             string `json:"error,omitempty"`
}

// TestChannel sends one real test message.
func (s *Service) TestChannel(ctx context.Context, tenantID, id uuid.UUID) (TestResult, error) {
	c, err := s.repo.GetChannel(ctx, s.db, tenantID, id)
	if err != nil {
		return TestResult{}, err
	}
	cfg, sec, err := s.open(c)
	if err != nil {
		return TestResult{}, err
	}
	deliveryID := uuid.Must(uuid.NewV7())
	text := "SignalOps test message for channel " + c.Name
	body, err := json.Marshal(webhookBody{Type: "signalops.test", Timestamp: time.Now().UTC(),
		Data: webhookData{DeliveryID: deliveryID, Message: text, Event: &EventSnapshot{Type: "signalops.test", Payload: json.RawMessage(`{}`)}}})
	if err != nil {
		return TestResult{}, err
	}
	res, err := s.providers.Send(ctx, cfg, sec, Message{DeliveryID: deliveryID, EventType: "signalops.test",
		Subject: "SignalOps test", Text: text, Payload: body})
	out := TestResult{OK: err == nil, StatusCode: res.StatusCode, ProviderMessageID: res.ProviderMessageID,
		LatencyMS: res.Latency.Milliseconds(), Response: res.Response}
	if err != nil {
		out.Error = err.Error()
	}
	return out, nil
}

// EnqueueTx creates the deliveries of fired actions and their notify.deliver
// jobs in the caller's transaction (event.process, or a digest's flush), so
// they exist exactly when that transaction commits.
func (s *Service) EnqueueTx(ctx context.Context, tx *sqlx.Tx, in []NewDelivery) error {
	if len(in) == 0 {
		return nil
	}
	ds := make([]Delivery, len(in))
	now := time.Now().UTC()
	for i, n := range in {
		d := Delivery{ID: n.ID, TenantID: n.TenantID, EventID: n.Event.ID, RuleID: &n.RuleID,
			RuleVersion: &n.RuleVersion, ChannelID: n.ChannelID, EventType: n.Event.Type, Message: n.Message,
			Fallback: Chain(n.Fallback), RetentionDays: n.RetentionDays, Trace: n.Trace}
		if d.ID == uuid.Nil {
			d.ID = uuid.Must(uuid.NewV7())
		}
		data := webhookData{EventID: n.Event.ID, DeliveryID: d.ID, RuleID: d.RuleID, RuleVersion: d.RuleVersion, Message: n.Message}
		if n.Digest != nil {
			count := len(n.Digest.Events)
			data.Count, data.Events = &count, n.Digest.Events
		} else {
			data.Event = &n.Event
		}
		body, err := json.Marshal(webhookBody{Type: n.Event.Type, Timestamp: now, Data: data})
		if err != nil {
			return fmt.Errorf("encode webhook body: %w", err)
		}
		d.Body = body
		ds[i] = d
	}
	var send, unsent []Delivery
	var reasons []string
	for i, n := range in {
		if n.Failed != "" {
			unsent, reasons = append(unsent, ds[i]), append(reasons, n.Failed)
		} else {
			send = append(send, ds[i])
		}
	}
	if err := s.insertTx(ctx, tx, send); err != nil {
		return err
	}
	// A delivery whose message could not be made has no job: it is
	// recorded failed at once.
	if len(unsent) == 0 {
		return nil
	}
	if err := s.repo.InsertDeliveries(ctx, tx, unsent); err != nil {
		return err
	}
	for i, d := range unsent {
		if err := s.repo.FailUnsent(ctx, tx, d.TenantID, d.ID, reasons[i]); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) insertOpts() *river.InsertOpts {
	return &river.InsertOpts{Queue: QueueNotify, MaxAttempts: len(s.schedule) + 1}
}

// ListDeliveries returns up to f.Limit+1 deliveries and their attempts.
func (s *Service) ListDeliveries(ctx context.Context, tenantID uuid.UUID, f DeliveryFilter) ([]Delivery, map[uuid.UUID][]Attempt, error) {
	f.Limit++
	ds, err := s.repo.ListDeliveries(ctx, s.reads(), tenantID, f)
	if err != nil || len(ds) == 0 {
		return ds, nil, err
	}
	ids := make([]uuid.UUID, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	as, err := s.repo.AttemptsOf(ctx, s.reads(), tenantID, ids)
	if err != nil {
		return nil, nil, err
	}
	byDelivery := make(map[uuid.UUID][]Attempt, len(ds))
	for _, a := range as {
		byDelivery[a.DeliveryID] = append(byDelivery[a.DeliveryID], a)
	}
	return ds, byDelivery, nil
}

// UseReplica sends the listing reads (GET /api/deliveries) to replica, a streaming replica
// of the primary (DATABASE_READ_URL): they may trail the primary by the
// replication lag. Everything else, including reads that must see the
// caller's own writes (an event's deliveries in GET /api/events/{id}), stays on the primary. Call it before serving.
func (s *Service) UseReplica(replica *sqlx.DB) { s.replica = replica }

// reads is where listing reads go: the replica when there is one.
func (s *Service) reads() pg.Querier {
	if s.replica != nil {
		return s.replica
	}
	return s.db
}

// DeleteExpired deletes the deliveries of events with the given retention
// below the before id, and their attempts: the events module calls it when
// it drops those events (events.Service.AddExpiry).
func (s *Service) DeleteExpired(ctx context.Context, retentionDays int, before uuid.UUID) (int64, error) {
	return s.repo.DeleteExpired(ctx, s.db, retentionDays, before)
}

// DeliveriesOfEvent lists an event's deliveries (for GET /api/events/{id}).
func (s *Service) DeliveriesOfEvent(ctx context.Context, tenantID, eventID uuid.UUID) ([]Delivery, error) {
	return s.repo.ListDeliveries(ctx, s.db, tenantID, DeliveryFilter{EventID: eventID, Limit: 1000})
}

// RetryDelivery sends a failed delivery again: its job is retried (from the
// DLQ if it was discarded). A succeeded delivery is never sent again.
func (s *Service) RetryDelivery(ctx context.Context, tenantID, id uuid.UUID) (Delivery, error) {
	var d Delivery
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if d, err = s.repo.GetDelivery(ctx, tx, tenantID, id, true); err != nil {
			return err
		}
		switch {
		case d.Status == StatusSucceeded:
			return apperr.Conflict("delivery_succeeded", "This delivery succeeded; it is never sent twice.")
		case d.Status == StatusPending:
			return apperr.Conflict("delivery_pending", "This delivery is still being attempted.")
		case d.ReplacedBy != nil:
			// At most one delivery of a chain may succeed: its successor
			// carries the message now.
			return apperr.Conflict("delivery_replaced",
				fmt.Sprintf("This delivery fell back to delivery %s, which carries the message; retry that one.", *d.ReplacedBy))
		}
		if d.JobID == nil && d.Attempts == 0 {
			// Never sent: its message could not be made (EnqueueTx).
			return apperr.Conflict("delivery_unsendable", "This delivery's message could not be rendered; fix the rule's template and send a new event.")
		}
		if err := s.repo.SetStatus(ctx, tx, tenantID, id, StatusPending); err != nil {
			return err
		}
		d.Status = StatusPending
		if d.JobID != nil {
			if _, err := s.jobs.JobRetryTx(ctx, tx.Tx, *d.JobID); err == nil {
				return nil
			} else if !errors.Is(err, river.ErrNotFound) {
				return fmt.Errorf("retry job: %w", err)
			}
		}
		// The job is gone (retention): enqueue a fresh one.
		res, err := s.jobs.InsertTx(ctx, tx.Tx, DeliverArgs{TenantID: tenantID, DeliveryID: id, ChannelID: d.ChannelID}, s.insertOpts())
		if err != nil {
			return fmt.Errorf("enqueue notify.deliver: %w", err)
		}
		return s.repo.SetJobID(ctx, tx, tenantID, id, res.Job.ID)
	})
	return d, err
}
