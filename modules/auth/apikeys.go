package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/ratelimit"
)

// CreateAPIKey creates a key for the tenant; the raw key is returned only here.
func (s *Service) CreateAPIKey(ctx context.Context, tenantID uuid.UUID, label string, scopes []string, expiresAt *time.Time) (APIKey, string, error) {
	var fields []apperr.FieldError
	if label == "" || len(label) > 100 {
		fields = append(fields, apperr.FieldError{Field: "label", Message: "must be 1-100 characters"})
	}
	if len(scopes) == 0 {
		fields = append(fields, apperr.FieldError{Field: "scopes", Message: "must name at least one scope"})
	}
	for i, sc := range scopes {
		if !slices.Contains(AllScopes, sc) {
			fields = append(fields, apperr.FieldError{Field: fmt.Sprintf("scopes[%d]", i), Message: "unknown scope " + strconv.Quote(sc)})
		}
	}
	if expiresAt != nil && !expiresAt.After(time.Now()) {
		fields = append(fields, apperr.FieldError{Field: "expiresAt", Message: "must be in the future"})
	}
	if len(fields) > 0 {
		return APIKey{}, "", apperr.Invalid("validation_failed", "The API key is invalid.", fields...)
	}
	return s.createAPIKey(ctx, s.db, tenantID, label, slices.Compact(slices.Sorted(slices.Values(scopes))), expiresAt)
}

func (s *Service) createAPIKey(ctx context.Context, q pg.Querier, tenantID uuid.UUID, label string, scopes []string, expiresAt *time.Time) (APIKey, string, error) {
	mac, err := s.keyMAC(ctx)
	if err != nil {
		return APIKey{}, "", err
	}
	raw, digest, prefix := newKey(mac)
	k := APIKey{TenantID: tenantID, Label: label, Prefix: prefix, Digest: digest[:], Scopes: scopes, ExpiresAt: expiresAt}
	if err := s.repo.InsertAPIKey(ctx, q, &k); err != nil {
		return APIKey{}, "", err
	}
	return k, raw, nil
}

// ListAPIKeys lists the tenant's keys (never the keys themselves): up to limit+1 rows.
func (s *Service) ListAPIKeys(ctx context.Context, tenantID, before uuid.UUID, limit int) ([]APIKey, error) {
	return s.repo.ListAPIKeys(ctx, s.db, tenantID, before, limit+1)
}

// RevokeAPIKey revokes one of the tenant's keys; every process stops
// accepting it within keyCacheTTL.
func (s *Service) RevokeAPIKey(ctx context.Context, tenantID, id uuid.UUID) error {
	return s.repo.RevokeAPIKey(ctx, s.db, tenantID, id)
}

var errInvalidKey = apperr.Unauthorized("invalid_api_key", "The API key is unknown, revoked or expired.")

// AuthenticateKey verifies a raw API key and returns its principal. A
// verified key is cached for keyCacheTTL, so the ingestion hot path costs one
// SHA-256 and a map lookup, not a database round trip.
//
// A key of the current format that does not carry the MAC of its random
// part cannot exist and is refused without a lookup; an unknown key of the
// older format costs one lookup per keyCacheTTL (misses are cached apart
// from real keys).
//
// addr is the client's address. Refused keys are charged to it; once it has
// failed keyFailBurst times, keys without a valid MAC (older keys, and
// guesses) are refused with 429 before any lookup, while keys that carry a
// valid MAC still go through, so a producer is not locked out by a
// neighbour behind the same address.
func (s *Service) AuthenticateKey(ctx context.Context, raw, addr string) (Principal, error) {
	p, err := s.authenticateKey(ctx, raw, addr)
	if apperr.IsKind(err, apperr.KindUnauthorized) {
		s.limiter.Allow("key-fail:"+ratelimit.AddrKey(addr), keyFailRate, keyFailBurst)
	}
	return p, err
}

func (s *Service) authenticateKey(ctx context.Context, raw, addr string) (Principal, error) {
	if !wellFormedKey(raw) {
		return Principal{}, errInvalidKey
	}
	digest := sha256.Sum256([]byte(raw))
	now := time.Now()
	// A cached key passed the MAC check (below) before it was looked up
	// and stored, under the same MAC (read once per process): checking it
	// again cannot change the answer, and the HMAC was a quarter of
	// authentication's cost per request.
	c, ok := s.cached(digest, now)
	proven := ok && len(raw) == keyLen
	if len(raw) == keyLen && !proven {
		mac, err := s.keyMAC(ctx)
		if err != nil {
			return Principal{}, err
		}
		if !validKeyMAC(mac, raw) {
			return Principal{}, errInvalidKey
		}
		proven = true
	}
	if !proven {
		if d := s.limiter.Peek("key-fail:"+ratelimit.AddrKey(addr), keyFailRate, keyFailBurst); !d.Allowed {
			return Principal{}, ratelimit.Refused(d)
		}
	}
	if !ok {
		if s.missed(digest, now) {
			return Principal{}, errInvalidKey
		}
		k, err := s.repo.GetAPIKeyByDigest(ctx, s.db, digest[:])
		if apperr.IsKind(err, apperr.KindNotFound) {
			// Remember the miss too, so a flood of well-formed unknown keys
			// costs one query per key per TTL, not one per request.
			s.storeMiss(digest, now.Add(keyCacheTTL))
			return Principal{}, errInvalidKey
		}
		if err != nil {
			return Principal{}, err
		}
		c = cachedKey{key: k.APIKey, tenantStatus: k.TenantStatus, tenantPlan: k.TenantPlan, until: now.Add(keyCacheTTL)}
		s.store(digest, c)
	}
	// The lookup was by digest; compare in constant time all the same, so no
	// code path ever branches on a partial match of key material.
	if subtle.ConstantTimeCompare(c.key.Digest, digest[:]) != 1 {
		return Principal{}, errInvalidKey
	}
	switch {
	case c.key.RevokedAt != nil, c.key.ExpiresAt != nil && !now.Before(*c.key.ExpiresAt):
		return Principal{}, errInvalidKey
	case c.tenantStatus != StatusActive:
		return Principal{}, errSuspended
	}
	s.markUsed(c.key.ID, now)
	return Principal{TenantID: c.key.TenantID, Plan: c.tenantPlan, KeyID: c.key.ID, Scopes: c.key.Scopes}, nil
}

func (s *Service) cached(digest [32]byte, now time.Time) (cachedKey, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cache[digest]
	if !ok || now.After(c.until) {
		return cachedKey{}, false
	}
	return c, true
}

func (s *Service) store(digest [32]byte, c cachedKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= keyCacheMax {
		clear(s.cache)
	}
	s.cache[digest] = c
}

func (s *Service) missed(digest [32]byte, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.misses[digest]
	return ok && now.Before(until)
}

func (s *Service) storeMiss(digest [32]byte, until time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.misses) >= keyCacheMax {
		clear(s.misses)
	}
	s.misses[digest] = until
}

// keyMAC returns the secret that signs API keys, read once per process.
func (s *Service) keyMAC(ctx context.Context) ([]byte, error) {
	s.macMu.Lock()
	defer s.macMu.Unlock()
	if s.mac == nil {
		mac, err := s.repo.GetSecret(ctx, s.db, "api_key_mac")
		if err != nil {
			return nil, err
		}
		s.mac = mac
	}
	return s.mac, nil
}

func (s *Service) markUsed(id uuid.UUID, at time.Time) {
	s.usedMu.Lock()
	s.used[id] = at
	s.usedMu.Unlock()
}

// lastUsedFlushEvery is how stale api_keys.last_used_at may be.
const lastUsedFlushEvery = 10 * time.Second

// RunLastUsedFlusher writes key usage to the database in one statement every
// lastUsedFlushEvery until ctx ends, then once more.
func (s *Service) RunLastUsedFlusher(ctx context.Context) {
	t := time.NewTicker(lastUsedFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			s.FlushLastUsed(flushCtx)
			cancel()
			return
		case <-t.C:
			s.FlushLastUsed(ctx)
		}
	}
}

// FlushLastUsed writes pending key usage now.
func (s *Service) FlushLastUsed(ctx context.Context) {
	s.usedMu.Lock()
	pending := s.used
	s.used = make(map[uuid.UUID]time.Time, len(pending))
	s.usedMu.Unlock()
	if len(pending) == 0 {
		return
	}
	ids := make([]uuid.UUID, 0, len(pending))
	at := make([]time.Time, 0, len(pending))
	for id, t := range pending {
		ids, at = append(ids, id), append(at, t)
	}
	if err := s.repo.TouchAPIKeys(ctx, s.db, ids, at); err != nil {
		s.logger.WarnContext(ctx, "recording api key use failed", slog.Int("keys", len(ids)), slog.Any("error", err))
	}
}
