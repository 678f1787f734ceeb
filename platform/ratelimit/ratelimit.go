// Package ratelimit is an in-process token-bucket limiter keyed by string.
// Each process keeps its own buckets: with N serve processes behind a load
// balancer a client may get up to N times the rate. That is the documented
// trade-off for keeping the ingestion hot path free of a shared round trip.
package ratelimit

import (
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
)

// Limiter holds one bucket per key.
type Limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
	rate   float64
	burst  float64
}

// maxBuckets bounds memory; above it, buckets that have refilled are dropped
// (a full bucket is the same as no bucket).
const maxBuckets = 100_000

// New returns an empty Limiter.
func New() *Limiter {
	return &Limiter{buckets: make(map[string]*bucket), now: time.Now}
}

// Decision is the outcome of one Allow, with what the RateLimit headers report.
type Decision struct {
	Allowed    bool
	Limit      int           // the burst
	Remaining  int           // whole tokens left after this request
	Reset      time.Duration // until the bucket is full again
	RetryAfter time.Duration // until one token is available (when not allowed)
}

// Allow takes one token from key's bucket, which refills at rate per second
// up to burst.
func (l *Limiter) Allow(key string, rate float64, burst int) Decision {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			l.sweep(now)
		}
		b = &bucket{tokens: float64(burst), last: now}
		l.buckets[key] = b
	}
	b.rate, b.burst = rate, float64(burst)
	b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	d := Decision{Limit: burst}
	if b.tokens >= 1 {
		b.tokens--
		d.Allowed = true
	} else {
		d.RetryAfter = seconds((1 - b.tokens) / b.rate)
	}
	d.Remaining = int(b.tokens)
	d.Reset = seconds((b.burst - b.tokens) / b.rate)
	return d
}

// Peek reports whether key's bucket has a token, without taking it: for
// limits that charge only failures (check first, Allow after a failure).
func (l *Limiter) Peek(key string, rate float64, burst int) Decision {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	d := Decision{Limit: burst, Allowed: true, Remaining: burst}
	b, ok := l.buckets[key]
	if !ok {
		return d
	}
	tokens := math.Min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	d.Remaining = int(tokens)
	d.Reset = seconds((float64(burst) - tokens) / rate)
	if tokens < 1 {
		d.Allowed = false
		d.RetryAfter = seconds((1 - tokens) / rate)
	}
	return d
}

// AddrKey names a client address for limiting: an IPv4 address as it is,
// an IPv6 address by its /64, which one subscriber usually holds whole (so
// rotating addresses inside it gains nothing).
func AddrKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// Refused is the 429 answer for a decision that was not allowed.
func Refused(d Decision) error {
	return apperr.RateLimited("rate_limited", "Too many requests; slow down.", time.Duration(max(1, ceilSeconds(d.RetryAfter)))*time.Second)
}

func (l *Limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst {
			delete(l.buckets, k)
		}
	}
}

func seconds(s float64) time.Duration {
	if s <= 0 || math.IsInf(s, 0) || math.IsNaN(s) {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}

// KeyFunc names the bucket for a request and its rate; ok=false skips limiting.
type KeyFunc func(c echo.Context) (key string, rate float64, burst int, ok bool)

// Middleware limits requests by the bucket key names. Every response of a
// limited route carries RateLimit-Limit, RateLimit-Remaining and
// RateLimit-Reset (seconds); a refused request is 429 rate_limited with
// Retry-After.
func Middleware(l *Limiter, key KeyFunc) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			k, rate, burst, ok := key(c)
			if !ok {
				return next(c)
			}
			d := l.Allow(k, rate, burst)
			h := c.Response().Header()
			h.Set("RateLimit-Limit", strconv.Itoa(d.Limit))
			h.Set("RateLimit-Remaining", strconv.Itoa(d.Remaining))
			h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(d.Reset)))
			if !d.Allowed {
				return Refused(d)
			}
			return next(c)
		}
	}
}

func ceilSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}
