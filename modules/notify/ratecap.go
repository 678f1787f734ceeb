package notify

import (
	"context"
	"time"
)

// Rate cap (config.rateLimit.perSecond) across every work process: the
// channel's sends are paced one interval (1/perSecond) apart by slots
// reserved in its channel_flow row (repo.ReserveSlot). A delivery that
// finds its slot ahead snoozes until then; the slot is kept on the
// delivery, so when its job comes back it sends without reserving again.
//
// River wakes a job snoozed for up to its scheduler interval (5 s) at the
// time asked (the job stays available, with a future scheduled_at); a
// longer snooze waits for the scheduler, which may wake it up to 5 s late.
// So a long wait is taken in two hops: first to preciseHop before the
// slot, then to the slot.

const (
	// slotGrace is how late a delivery may still use its slot (the next
	// fetch of a woken job can take up to QUEUE_FETCH_POLL_INTERVAL); later
	// than that it reserves a new one, so slots saved up never make a burst.
	slotGrace  = 2 * time.Second
	preciseHop = 4 * time.Second
)

// rateWait returns how long d must wait for its rate slot: 0 to send now.
func (w *DeliverWorker) rateWait(ctx context.Context, d *Delivery, rl RateLimit) (time.Duration, error) {
	now := time.Now()
	if d.SlotAt != nil {
		at := *d.SlotAt
		switch {
		case at.After(now):
			return hop(at.Sub(now)), nil
		case now.Sub(at) <= slotGrace:
			return 0, nil
		}
	}
	slot, dbNow, err := w.svc.repo.ReserveSlot(ctx, w.svc.db, d.TenantID, d.ChannelID, d.ID, rl.interval())
	if err != nil {
		return 0, err
	}
	d.SlotAt = &slot
	if wait := slot.Sub(dbNow); wait > time.Millisecond {
		return hop(wait), nil
	}
	return 0, nil
}

// hop is the next snooze towards a slot wait away.
func hop(wait time.Duration) time.Duration {
	if wait > preciseHop+time.Second {
		return wait - preciseHop
	}
	return wait
}
