package pg

import (
	"time"

	"github.com/google/uuid"
)

// UUIDv7Floor is the smallest UUIDv7 of t's millisecond: its 48-bit Unix
// millisecond prefix is t's and every other bit is zero. Ids made at t or
// later are ≥ it, so it bounds time ranges of UUIDv7 keys (and partitions
// ranged on them).
func UUIDv7Floor(t time.Time) uuid.UUID {
	var u uuid.UUID
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	return u
}

// UUIDv7Time is the millisecond a UUIDv7 was made.
func UUIDv7Time(id uuid.UUID) time.Time {
	var ms int64
	for i := range 6 {
		ms = ms<<8 | int64(id[i])
	}
	return time.UnixMilli(ms).UTC()
}
