package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/modules/notify"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// Digests (SPEC §10). A firing of a digest action is collected, in the
// event.process transaction that decides it, into the open digest of its
// rule version, action and group (rule_digests), opening one if there is
// none; the event goes into rule_digest_items. Opening a digest schedules
// its rules.digest job at the window's end, in the same transaction; the
// firing that reaches max closes the digest and schedules the job at once.
// The job renders the template over every collected event and creates ONE
// delivery — named when the digest opened, so each collected match could
// already say "collected into digest <deliveryId>" — in the transaction
// that marks the digest flushed. Hence exactly once across crashes: an
// event is collected with its match or not at all; a unique constraint
// keeps it in one digest per action; the digest becomes its delivery once,
// whichever of its jobs (window end, max) runs first or however often.
//
// The window runs from the first firing's processing. River promotes
// scheduled jobs every 5 s, so a digest goes out up to ~5 s after its
// window ends; a firing processed after the window ended but before the
// digest went out still joins it.

// Digest states.
const (
	digestOpen    = "open"
	digestFull    = "full"
	digestFlushed = "flushed"
)

// DigestArgs is the rules.digest job: turn one digest into its delivery.
// rules publishes and works it.
type DigestArgs struct {
	TenantID uuid.UUID `json:"tenant_id"`
	DigestID uuid.UUID `json:"digest_id"`
}

// Kind is stored in job rows: never rename it.
func (DigestArgs) Kind() string { return "rules.digest" }

// InsertOpts puts the job on the events queue, beside event.process.
func (DigestArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: events.QueueEvents, MaxAttempts: 10}
}

// digestRow is one rule_digests row.
type digestRow struct {
	ID            uuid.UUID  `db:"id"`
	TenantID      uuid.UUID  `db:"tenant_id"`
	RuleID        uuid.UUID  `db:"rule_id"`
	RuleVersion   int        `db:"rule_version"`
	ActionIndex   int        `db:"action_index"`
	GroupKey      string     `db:"group_key"`
	DeliveryID    uuid.UUID  `db:"delivery_id"`
	State         string     `db:"state"`
	Count         int        `db:"count"`
	Max           int        `db:"max"`
	OpenedAt      time.Time  `db:"opened_at"`
	ClosesAt      time.Time  `db:"closes_at"`
	FlushedAt     *time.Time `db:"flushed_at"`
	RetentionDays int        `db:"retention_days"`
}

// collector gathers, for one event.process transaction, the rules.digest
// jobs its collected firings schedule, to insert them with one statement.
type collector struct {
	jobs []river.InsertManyParams
}

// collectTx collects a firing of digest action idx of a rule version for
// event e into its group's open digest, in tx, and returns the digest's
// delivery id. The digest's row stays locked until tx ends, so concurrent
// collections and the flush of one digest take turns.
func (s *Service) collectTx(ctx context.Context, tx *sqlx.Tx, col *collector, e events.Event, ruleID uuid.UUID, version int,
	group string, idx int, spec Digest) (uuid.UUID, error) {
	now := time.Now().UTC()
	most := spec.Max
	if most < MinDigestMax { // a hand-built definition (ParseDefinition defaults it)
		most = MaxDigestMax
	}
	d := digestRow{ID: uuid.Must(uuid.NewV7()), TenantID: e.TenantID, RuleID: ruleID, RuleVersion: version, ActionIndex: idx,
		GroupKey: group, DeliveryID: uuid.Must(uuid.NewV7()), Max: most, OpenedAt: now, ClosesAt: now.Add(spec.Window),
		RetentionDays: e.RetentionDays}
	created, err := s.repo.OpenDigest(ctx, tx, &d)
	if err != nil {
		return uuid.Nil, err
	}
	if created {
		col.jobs = append(col.jobs, river.InsertManyParams{Args: DigestArgs{TenantID: d.TenantID, DigestID: d.ID},
			InsertOpts: &river.InsertOpts{ScheduledAt: d.ClosesAt}})
	}
	snap, err := json.Marshal(snapshot(e))
	if err != nil {
		return uuid.Nil, fmt.Errorf("encode digest item: %w", err)
	}
	state, err := s.repo.CollectItem(ctx, tx, &d, e, snap)
	if err != nil {
		return uuid.Nil, err
	}
	if state == digestFull {
		col.jobs = append(col.jobs, river.InsertManyParams{Args: DigestArgs{TenantID: d.TenantID, DigestID: d.ID}})
	}
	return d.DeliveryID, nil
}

// scheduleTx inserts the rules.digest jobs the collections of tx scheduled.
func (s *Service) scheduleTx(ctx context.Context, tx *sqlx.Tx, col *collector) error {
	if len(col.jobs) == 0 {
		return nil
	}
	if s.jobs == nil {
		return errors.New("digest actions need the rules module's job client")
	}
	if _, err := s.jobs.InsertManyTx(ctx, tx.Tx, col.jobs); err != nil {
		return fmt.Errorf("enqueue rules.digest: %w", err)
	}
	return nil
}

// snapshot is the event as a digest's template and webhook body see it.
func snapshot(e events.Event) notify.EventSnapshot {
	return notify.EventSnapshot{ID: e.ID, Type: e.Type, Source: e.Source, OccurredAt: e.OccurredAt.UTC(), Payload: e.Payload}
}

// FlushDigest turns a digest into its one delivery (with its fallback
// chain), in one transaction: the collected events oldest first, the
// action's template over .count and .events. A digest already flushed, or
// gone with its tenant, is left alone, so the job may run any number of
// times.
func (s *Service) FlushDigest(ctx context.Context, tenantID, digestID uuid.UUID) error {
	return pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		d, err := s.repo.LockDigest(ctx, tx, tenantID, digestID)
		if apperr.IsKind(err, apperr.KindNotFound) || (err == nil && d.State == digestFlushed) {
			return nil
		}
		if err != nil {
			return err
		}
		items, err := s.repo.DigestItems(ctx, tx, tenantID, digestID)
		if err != nil {
			return err
		}
		if len(items) > 0 && s.notify != nil {
			c, err := s.compiled(ctx, tx, tenantID, versionKey{d.RuleID, d.RuleVersion})
			if err != nil {
				return err
			}
			actions := c.Definition().Actions
			if d.ActionIndex >= len(actions) || actions[d.ActionIndex].Digest == nil {
				return fmt.Errorf("digest %s: rule %s v%d has no digest action %d", d.ID, d.RuleID, d.RuleVersion, d.ActionIndex)
			}
			a := actions[d.ActionIndex]
			msg, failed := c.renderDigest(ctx, d.ActionIndex, items)
			err = s.notify.EnqueueTx(ctx, tx, []notify.NewDelivery{{ID: d.DeliveryID, TenantID: tenantID, RuleID: d.RuleID,
				RuleVersion: d.RuleVersion, ChannelID: a.ChannelID, Fallback: a.Fallback,
				Message: msg, Failed: failed, Event: items[0], Digest: &notify.Digest{Events: items},
				RetentionDays: d.RetentionDays}})
			if err != nil {
				return err
			}
		}
		return s.repo.MarkFlushed(ctx, tx, tenantID, digestID)
	})
}

// DigestWorker works rules.digest.
type DigestWorker struct {
	river.WorkerDefaults[DigestArgs]
	svc    *Service
	logger *slog.Logger
}

// Work flushes one digest.
func (w *DigestWorker) Work(ctx context.Context, job *river.Job[DigestArgs]) error {
	if err := w.svc.FlushDigest(ctx, job.Args.TenantID, job.Args.DigestID); err != nil {
		w.logger.WarnContext(ctx, "flushing digest failed", slog.String("digest_id", job.Args.DigestID.String()),
			slog.Int("attempt", job.Attempt), slog.Any("error", err))
		return err
	}
	return nil
}
