package ratelimit

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestAllow(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := New()
	l.now = func() time.Time { return now }

	for i := range 3 {
		d := l.Allow("k", 1, 3)
		require.True(t, d.Allowed, i)
		require.Equal(t, 3, d.Limit)
		require.Equal(t, 2-i, d.Remaining)
	}
	d := l.Allow("k", 1, 3)
	require.False(t, d.Allowed)
	require.Equal(t, time.Second, d.RetryAfter)
	require.Equal(t, 3*time.Second, d.Reset)

	require.True(t, l.Allow("other", 1, 3).Allowed, "buckets are per key")

	now = now.Add(1500 * time.Millisecond)
	d = l.Allow("k", 1, 3)
	require.True(t, d.Allowed, "refilled 1.5 tokens")
	require.Equal(t, 0, d.Remaining)
	require.False(t, l.Allow("k", 1, 3).Allowed)

	now = now.Add(time.Hour)
	require.Equal(t, 2, l.Allow("k", 1, 3).Remaining, "refill stops at burst")
}

func TestSweepDropsOnlyFullBuckets(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	l := New()
	l.now = func() time.Time { return now }
	l.Allow("busy", 0.001, 5)
	l.Allow("idle", 1000, 5)
	now = now.Add(time.Second)
	l.sweep(now)
	require.Contains(t, l.buckets, "busy")
	require.NotContains(t, l.buckets, "idle")
}

func TestPeekDoesNotTake(t *testing.T) {
	t.Parallel()

	l := New()
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	require.True(t, l.Peek("k", 1, 2).Allowed, "an unknown key has a full bucket")
	require.True(t, l.Allow("k", 1, 2).Allowed)
	require.True(t, l.Allow("k", 1, 2).Allowed)
	for range 3 {
		d := l.Peek("k", 1, 2)
		require.False(t, d.Allowed, "peeking takes nothing and gives nothing")
		require.Equal(t, time.Second, d.RetryAfter)
	}
	now = now.Add(time.Second)
	require.True(t, l.Peek("k", 1, 2).Allowed)
}

func TestAddrKey(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]string{
		"203.0.113.7":             "203.0.113.7",
		"::ffff:203.0.113.7":      "203.0.113.7",
		"2001:db8:1:2:aaaa::1":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:1:2:3": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":         "2001:db8:1:3::/64",
		"fe80::1%eth0":            "fe80::/64",
		"not an address":          "not an address",
	} {
		require.Equal(t, want, AddrKey(in), in)
	}
}
