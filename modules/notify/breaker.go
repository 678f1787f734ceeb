package notify

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"

	"github.com/signalops/signalops/platform/pg"
)

// flowTx folds a group's outcomes into their channels' flow state, in the
// transaction that records them (flow.go): failures count and may open a
// circuit, a success closes it or resets the count, a probe's outcome
// closes or reopens it, a 429 pauses the channel. Each transition that
// opens or closes a circuit records the tenant's event in the same
// transaction.
//
// The common case costs nothing: a success on a channel that was closed
// with no failures when its delivery was read, and that this process has
// not since recorded a failure of, writes nothing (a read per group to be
// sure cost 15 % of a single channel's delivery throughput). So a failure
// another process recorded while this send was in flight is not reset by
// this success; the next success that reads it is. The others lock their
// channels' rows in channel id order, so concurrent groups never deadlock.
func (w *DeliverWorker) flowTx(ctx context.Context, tx *sqlx.Tx, outs []*outcome) error {
	byChannel := map[uuid.UUID][]*outcome{}
	tenantOf := map[uuid.UUID]uuid.UUID{}
	for _, o := range outs {
		o.transition, o.flowAfter = "", Flow{}
		if o.verdict == verdictNone && o.pause == 0 {
			continue
		}
		id := o.d.ChannelID
		byChannel[id] = append(byChannel[id], o)
		tenantOf[id] = o.d.TenantID
	}
	if len(byChannel) == 0 {
		return nil
	}
	locked := map[uuid.UUID]bool{}
	for id, os := range byChannel {
		for _, o := range os {
			f := o.flowRead
			if o.verdict != verdictSuccess || o.probe || o.pause > 0 || f.State != CircuitClosed || f.ConsecutiveFailures > 0 {
				locked[id] = true
			}
		}
		if v, ok := w.recorded.Load(id); ok && !locked[id] {
			if f := v.(localFlow).flow; f.State != CircuitClosed || f.ConsecutiveFailures > 0 {
				locked[id] = true // this process recorded a failure since: reset it
			}
		}
	}
	if len(locked) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(locked))
	for id := range locked {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	tenants := make(pg.UUIDs, len(ids))
	for i, id := range ids {
		tenants[i] = tenantOf[id]
	}
	flows, err := w.svc.repo.LockFlows(ctx, tx, tenants, ids)
	if err != nil {
		return err
	}
	now := time.Now()
	for _, id := range ids {
		f, ok := flows[id]
		if !ok {
			continue // the channel is gone (its row went with it)
		}
		for _, o := range byChannel[id] {
			if o.pause > 0 {
				until := now.Add(o.pause)
				if f.PausedUntil == nil || until.After(*f.PausedUntil) {
					f.PausedUntil = &until
				}
			}
			errText := ""
			if o.sendErr != nil {
				errText = truncateUTF8(o.sendErr.Error(), 500)
			}
			if tr := f.apply(o.verdict, o.probe, o.d.ID, errText, now, w.flow); tr != "" {
				o.transition = tr
				if err := w.circuitEventTx(ctx, tx, &f, o.channel, tr); err != nil {
					return err
				}
			}
			o.flowAfter = f
		}
		if err := w.svc.repo.UpdateFlow(ctx, tx, &f); err != nil {
			return err
		}
	}
	return nil
}

// circuitEventTx records channel.circuit_opened or channel.circuit_closed
// for the channel's tenant (SPEC §8), so the tenant's rules can alert
// through another channel.
func (w *DeliverWorker) circuitEventTx(ctx context.Context, tx *sqlx.Tx, f *Flow, c Channel, transition string) error {
	rec := w.svc.recordEvent
	if rec == nil {
		return nil
	}
	typ := ""
	switch transition {
	case transitionOpened:
		typ = EventCircuitOpened
	case transitionClosed:
		typ = EventCircuitClosed
	default:
		return nil
	}
	return rec(ctx, tx, f.TenantID, typ, map[string]any{
		"channelId": f.ChannelID, "name": c.Name, "kind": c.Kind, "lastError": f.LastError,
	})
}
