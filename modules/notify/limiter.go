package notify

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// channelSlots caps the sends in flight per channel in this process
// (FlowOptions.ChannelConcurrency), so that a channel whose receiver is
// slow holds at most that many of the process's NOTIFY_WORKERS while the
// other channels' deliveries keep flowing.
//
// A delivery over the cap either waits here, briefly, when the channel is
// fast (a slot is expected within shortWait: waiting in process costs less
// than a snooze and its two writes), or snoozes (no attempt spent) for its
// estimated turn: the channel's recent send time (an EWMA) divided by the
// cap, times the deliveries already told to come back, jittered and held
// to [minBusyWait, maxBusyWait]. Spreading the turns keeps a backlog of a
// slow channel from waking all at once and being snoozed again and again.
type channelSlots struct {
	cap int
	mu  sync.Mutex
	m   map[uuid.UUID]*channelSlot
}

type channelSlot struct {
	sem      chan struct{} // one token per send in flight
	latency  time.Duration // EWMA of the channel's send times here
	nextTurn time.Time     // when the last delivery told to come back was expected to get a slot
	used     time.Time
}

const (
	shortWait   = 100 * time.Millisecond
	minBusyWait = 200 * time.Millisecond
	maxBusyWait = 30 * time.Second
	// maxChannelSlots bounds the map; idle entries go first.
	maxChannelSlots = 4096
	idleSlot        = 10 * time.Minute
)

func newChannelSlots(limit int) *channelSlots {
	return &channelSlots{cap: max(limit, 1), m: make(map[uuid.UUID]*channelSlot)}
}

func (s *channelSlots) get(id uuid.UUID, now time.Time) *channelSlot {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs, ok := s.m[id]
	if !ok {
		if len(s.m) >= maxChannelSlots {
			for k, v := range s.m {
				if len(v.sem) == 0 && now.Sub(v.used) > idleSlot {
					delete(s.m, k)
				}
			}
		}
		cs = &channelSlot{sem: make(chan struct{}, s.cap)}
		s.m[id] = cs
	}
	cs.used = now
	return cs
}

// acquire takes a send slot of channel id. ok false: none is free soon
// enough; snooze for wait and try again.
func (s *channelSlots) acquire(ctx context.Context, id uuid.UUID) (release func(took time.Duration), wait time.Duration, ok bool) {
	now := time.Now()
	cs := s.get(id, now)
	release = func(took time.Duration) { s.release(cs, took) }
	select {
	case cs.sem <- struct{}{}:
		return release, 0, true
	default:
	}
	turn := s.turn(cs, now)
	if turn <= shortWait {
		t := time.NewTimer(2 * shortWait)
		defer t.Stop()
		select {
		case cs.sem <- struct{}{}:
			return release, 0, true
		case <-t.C:
		case <-ctx.Done():
		}
	}
	return nil, min(max(jitter(turn, 0.25), minBusyWait), maxBusyWait), false
}

// turn reserves the next turn of a full channel and returns how far away
// it is.
func (s *channelSlots) turn(cs *channelSlot, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := cs.nextTurn
	if at.Before(now) {
		at = now
	}
	at = at.Add(cs.latency / time.Duration(s.cap))
	cs.nextTurn = minTime(at, now.Add(maxBusyWait))
	return at.Sub(now)
}

func (s *channelSlots) release(cs *channelSlot, took time.Duration) {
	s.mu.Lock()
	if cs.latency == 0 {
		cs.latency = took
	} else {
		cs.latency = (4*cs.latency + took) / 5
	}
	s.mu.Unlock()
	<-cs.sem
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
