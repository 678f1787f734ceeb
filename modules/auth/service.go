package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/ratelimit"
)

// keyCacheTTL bounds how long a verified key is trusted without asking the
// database again: a revocation or suspension takes effect in every process
// within this time.
const keyCacheTTL = 2 * time.Second

// keyCacheMax caps each key cache (verified keys; misses); when one is
// full it is emptied rather than grown. Misses have their own cache, so a
// flood of unknown keys can never evict the real ones.
const keyCacheMax = 100_000

// Limits that slow guessing (docs/security.md). Only failures are charged.
const (
	// Failed API-key authentications per client address (/64 for IPv6):
	// 20, then 2 per second. Beyond it keys are refused before any lookup.
	keyFailRate, keyFailBurst = 2.0, 20
	// Failed logins per account (e-mail address), from any address: 10,
	// then 1 every 30 s. A client address that has signed in to the account
	// before is not held by this limit, so guesses from elsewhere slow the
	// attacker without locking the owner out.
	loginFailRate, loginFailBurst = 1.0 / 30, 10
	knownAddrTTL                  = 30 * 24 * time.Hour
)

// Options configures the auth Service.
type Options struct {
	JWTSecret  []byte // HS256 key for management tokens
	AdminToken string // operator token; "" disables the operator API
	// Limiter holds the failure limits above; nil makes a private one.
	Limiter *ratelimit.Limiter
}

// Service is the auth use cases: tenants, keys, users, authentication.
type Service struct {
	db     *sqlx.DB
	repo   repo
	logger *slog.Logger
	tokens tokens
	admin  [32]byte // SHA-256 of ADMIN_TOKEN; zero when disabled
	// dummyHash is compared against when a login names no user, so unknown
	// emails cost the same bcrypt time as wrong passwords. Made on first use.
	dummyHash func() []byte

	mu     sync.Mutex
	cache  map[[32]byte]cachedKey
	misses map[[32]byte]time.Time // unknown keys → until when to trust that

	macMu sync.Mutex
	mac   []byte // api_key_mac, loaded on first use

	limiter *ratelimit.Limiter
	knownMu sync.Mutex
	known   map[string]time.Time // email + "|" + AddrKey → last sign-in there

	usedMu sync.Mutex
	used   map[uuid.UUID]time.Time // key id → last use, flushed in batches
}

type cachedKey struct {
	key          APIKey
	tenantStatus string
	tenantPlan   string
	until        time.Time
}

// NewService returns the auth Service over db.
func NewService(db *sqlx.DB, logger *slog.Logger, opts Options) *Service {
	s := &Service{
		db: db, logger: logger,
		dummyHash: sync.OnceValue(func() []byte {
			h, _ := bcrypt.GenerateFromPassword([]byte("not a real password, only timing"), bcryptCost)
			return h
		}),
		tokens:  tokens{secret: opts.JWTSecret, now: time.Now},
		cache:   make(map[[32]byte]cachedKey),
		misses:  make(map[[32]byte]time.Time),
		used:    make(map[uuid.UUID]time.Time),
		limiter: opts.Limiter,
		known:   make(map[string]time.Time),
	}
	if s.limiter == nil {
		s.limiter = ratelimit.New()
	}
	if opts.AdminToken != "" {
		s.admin = sha256.Sum256([]byte(opts.AdminToken))
	}
	return s
}

// CreatedTenant is a new tenant with its first API key, shown only now.
type CreatedTenant struct {
	Tenant       Tenant
	APIKey       string
	APIKeyPrefix string
	Owner        *User
}

// CreateTenant creates a tenant, its first API key (scopes events:write and
// events:read) and optionally its owner, in one transaction.
func (s *Service) CreateTenant(ctx context.Context, in CreateTenantInput) (CreatedTenant, error) {
	if err := in.validate(); err != nil {
		return CreatedTenant{}, err
	}
	var out CreatedTenant
	var owner *User
	if in.OwnerEmail != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(in.OwnerPassword), bcryptCost)
		if err != nil {
			return out, fmt.Errorf("hash password: %w", err)
		}
		owner = &User{Email: normalizeEmail(in.OwnerEmail), PasswordHash: string(hash), Role: RoleOwner}
	}
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		t := Tenant{Slug: in.Slug, Name: in.Name, Plan: in.Plan, SoftLimit: in.SoftLimit, HardLimit: in.HardLimit}
		if err := s.repo.InsertTenant(ctx, tx, &t); err != nil {
			return err
		}
		key, raw, err := s.createAPIKey(ctx, tx, t.ID, "default", AllScopes, nil)
		if err != nil {
			return err
		}
		if owner != nil {
			owner.TenantID = t.ID
			if err := s.repo.InsertUser(ctx, tx, owner); err != nil {
				return err
			}
		}
		out = CreatedTenant{Tenant: t, APIKey: raw, APIKeyPrefix: key.Prefix, Owner: owner}
		return nil
	})
	return out, err
}

// GetTenant returns one tenant.
func (s *Service) GetTenant(ctx context.Context, id uuid.UUID) (Tenant, error) {
	return s.repo.GetTenant(ctx, s.db, id)
}

// ListTenants lists tenants for the operator: up to limit+1 rows.
func (s *Service) ListTenants(ctx context.Context, before uuid.UUID, limit int) ([]Tenant, error) {
	return s.repo.ListTenants(ctx, s.db, before, limit+1)
}

// TenantPatch is an operator's change to a tenant; nil fields stay as they
// are. ClearSoftLimit/ClearHardLimit return a limit to the plan's default.
type TenantPatch struct {
	Status         *string
	Plan           *string
	SoftLimit      *int64
	HardLimit      *int64
	ClearSoftLimit bool
	ClearHardLimit bool
	Weight         *int64
	ClearWeight    bool
}

// UpdateTenant applies an operator's patch. Suspending a tenant locks out its
// keys and users within keyCacheTTL.
func (s *Service) UpdateTenant(ctx context.Context, id uuid.UUID, p TenantPatch) (Tenant, error) {
	var t Tenant
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		if t, err = s.repo.GetTenant(ctx, tx, id); err != nil {
			return err
		}
		if p.Status != nil {
			t.Status = *p.Status
		}
		if p.Plan != nil {
			t.Plan = *p.Plan
		}
		if p.ClearSoftLimit {
			t.SoftLimit = nil
		} else if p.SoftLimit != nil {
			t.SoftLimit = p.SoftLimit
		}
		if p.ClearHardLimit {
			t.HardLimit = nil
		} else if p.HardLimit != nil {
			t.HardLimit = p.HardLimit
		}
		var fields []apperr.FieldError
		if p.ClearWeight {
			t.Weight = nil
		} else if p.Weight != nil {
			if *p.Weight < 1 || *p.Weight > MaxWeight {
				fields = append(fields, apperr.FieldError{Field: "weight", Message: fmt.Sprintf("must be 1-%d, or null for the plan's default", MaxWeight)})
			} else {
				w := int(*p.Weight)
				t.Weight = &w
			}
		}
		if t.Status != StatusActive && t.Status != StatusSuspended {
			fields = append(fields, apperr.FieldError{Field: "status", Message: "must be active or suspended"})
		}
		if !plans[t.Plan] {
			fields = append(fields, apperr.FieldError{Field: "plan", Message: "must be free, pro or enterprise"})
		}
		for _, l := range []struct {
			name string
			v    *int64
		}{{"softLimit", t.SoftLimit}, {"hardLimit", t.HardLimit}} {
			if l.v != nil && *l.v < 0 {
				fields = append(fields, apperr.FieldError{Field: l.name, Message: "must not be negative"})
			}
		}
		if t.SoftLimit != nil && t.HardLimit != nil && *t.SoftLimit > *t.HardLimit {
			fields = append(fields, apperr.FieldError{Field: "softLimit", Message: "must not exceed hardLimit"})
		}
		if len(fields) > 0 {
			return apperr.Invalid("validation_failed", "The tenant change is invalid.", fields...)
		}
		return s.repo.UpdateTenant(ctx, tx, &t)
	})
	return t, err
}

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
	proven := false
	if len(raw) == keyLen {
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
	digest := sha256.Sum256([]byte(raw))
	now := time.Now()
	c, ok := s.cached(digest, now)
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

var errSuspended = apperr.Forbidden("tenant_suspended", "This tenant is suspended.")

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

var errBadCredentials = apperr.Unauthorized("invalid_credentials", "The email or password is wrong.")

// Login checks a user's password and returns a signed token. Unknown emails
// and wrong passwords take the same bcrypt time and give the same answer.
func (s *Service) Login(ctx context.Context, in LoginInput) (string, error) {
	email := normalizeEmail(in.Email)
	account := "login-fail:" + email
	place := email + "|" + ratelimit.AddrKey(in.Addr)
	if d := s.limiter.Peek(account, loginFailRate, loginFailBurst); !d.Allowed && !s.knownPlace(place) {
		return "", ratelimit.Refused(d)
	}
	users, err := s.repo.ListUsersByEmail(ctx, s.db, email, in.Tenant, maxLoginCandidates)
	if err != nil {
		return "", err
	}
	// Every candidate costs one bcrypt comparison; none costs one too, so
	// an unknown address answers as slowly as a wrong password.
	var matched []User
	if len(users) == 0 {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(in.Password))
	}
	for _, u := range users {
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(in.Password)) == nil {
			matched = append(matched, u)
		}
	}
	switch {
	case len(matched) == 0:
		s.limiter.Allow(account, loginFailRate, loginFailBurst)
		return "", errBadCredentials
	case len(matched) > 1:
		return "", apperr.Conflict("tenant_required",
			"This e-mail address and password belong to users of several tenants: send tenant with the slug of the one to sign in to.")
	}
	u := matched[0]
	t, err := s.repo.GetTenant(ctx, s.db, u.TenantID)
	if err != nil {
		return "", err
	}
	if t.Status != StatusActive {
		return "", errSuspended
	}
	s.rememberPlace(place)
	return s.tokens.issue(u)
}

// maxLoginCandidates bounds the bcrypt comparisons of one login: an address
// in more tenants than this must name the tenant.
const maxLoginCandidates = 5

// LoginInput is a sign-in attempt. Tenant (a slug) is needed only when the
// address and password belong to users of several tenants; Addr is the
// client address, for the per-account limit.
type LoginInput struct {
	Email, Password, Tenant, Addr string
}

func (s *Service) knownPlace(place string) bool {
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	at, ok := s.known[place]
	return ok && time.Since(at) < knownAddrTTL
}

func (s *Service) rememberPlace(place string) {
	s.knownMu.Lock()
	defer s.knownMu.Unlock()
	if len(s.known) >= keyCacheMax {
		clear(s.known)
	}
	s.known[place] = time.Now()
}

var errInvalidToken = apperr.Unauthorized("invalid_token", "The bearer token is invalid or expired.")

// AuthenticateToken verifies a management token and returns the user's
// principal with the role it has now (a role change or deletion takes effect
// at once, not when the token expires).
func (s *Service) AuthenticateToken(ctx context.Context, raw string) (Principal, error) {
	userID, tenantID, err := s.tokens.parse(raw)
	if err != nil {
		return Principal{}, errInvalidToken
	}
	u, err := s.repo.GetUser(ctx, s.db, tenantID, userID)
	if apperr.IsKind(err, apperr.KindNotFound) {
		return Principal{}, errInvalidToken
	}
	if err != nil {
		return Principal{}, err
	}
	t, err := s.repo.GetTenant(ctx, s.db, tenantID)
	if err != nil {
		return Principal{}, err
	}
	if t.Status != StatusActive {
		return Principal{}, errSuspended
	}
	return Principal{TenantID: tenantID, Plan: t.Plan, UserID: u.ID, Role: u.Role}, nil
}

// AuthenticateAdmin compares an operator token in constant time (over
// digests, so the length leaks nothing either).
func (s *Service) AuthenticateAdmin(raw string) bool {
	if s.admin == [32]byte{} {
		return false
	}
	d := sha256.Sum256([]byte(raw))
	return subtle.ConstantTimeCompare(d[:], s.admin[:]) == 1
}

// Me returns the calling user and their tenant.
func (s *Service) Me(ctx context.Context, p Principal) (User, Tenant, error) {
	u, err := s.repo.GetUser(ctx, s.db, p.TenantID, p.UserID)
	if err != nil {
		return u, Tenant{}, err
	}
	t, err := s.repo.GetTenant(ctx, s.db, p.TenantID)
	return u, t, err
}

// ListUsers lists the tenant's users: up to limit+1 rows.
func (s *Service) ListUsers(ctx context.Context, tenantID, before uuid.UUID, limit int) ([]User, error) {
	return s.repo.ListUsers(ctx, s.db, tenantID, before, limit+1)
}

// CreateUser adds a user to the caller's tenant. Only an owner may create
// another owner.
func (s *Service) CreateUser(ctx context.Context, by Principal, email, password, role string) (User, error) {
	fields := validateCredentials(email, password)
	if _, ok := roleRank[role]; !ok {
		fields = append(fields, apperr.FieldError{Field: "role", Message: "must be owner, admin, member or viewer"})
	}
	if len(fields) > 0 {
		return User{}, apperr.Invalid("validation_failed", "The user is invalid.", fields...)
	}
	if role == RoleOwner && by.Role != RoleOwner {
		return User{}, apperr.Forbidden("insufficient_role", "Only an owner can create another owner.")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	u := User{TenantID: by.TenantID, Email: normalizeEmail(email), PasswordHash: string(hash), Role: role}
	if err := s.repo.InsertUser(ctx, s.db, &u); err != nil {
		return User{}, err
	}
	return u, nil
}

// UpdateUserRole changes a user's role. Only an owner grants or takes the
// owner role; the last owner keeps it; nobody changes their own role.
func (s *Service) UpdateUserRole(ctx context.Context, by Principal, id uuid.UUID, role string) (User, error) {
	if _, ok := roleRank[role]; !ok {
		return User{}, apperr.Invalid("validation_failed", "The role is invalid.",
			apperr.FieldError{Field: "role", Message: "must be owner, admin, member or viewer"})
	}
	if id == by.UserID {
		return User{}, apperr.Conflict("cannot_change_own_role", "You cannot change your own role.")
	}
	var u User
	err := pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		cur, err := s.repo.GetUser(ctx, tx, by.TenantID, id)
		if err != nil {
			return err
		}
		if (cur.Role == RoleOwner || role == RoleOwner) && by.Role != RoleOwner {
			return apperr.Forbidden("insufficient_role", "Only an owner can grant or take the owner role.")
		}
		u, err = s.repo.UpdateUserRole(ctx, tx, by.TenantID, id, role)
		return err
	})
	return u, err
}

// DeleteUser removes a user of the caller's tenant. Admins cannot remove
// owners; nobody removes the last owner.
func (s *Service) DeleteUser(ctx context.Context, by Principal, id uuid.UUID) error {
	return pg.InTx(ctx, s.db, func(tx *sqlx.Tx) error {
		u, err := s.repo.GetUser(ctx, tx, by.TenantID, id)
		if err != nil {
			return err
		}
		if u.Role == RoleOwner && by.Role != RoleOwner {
			return apperr.Forbidden("insufficient_role", "Only an owner can remove an owner.")
		}
		return s.repo.DeleteUser(ctx, tx, by.TenantID, id)
	})
}
