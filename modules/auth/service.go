package auth

import (
	"crypto/sha256"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"golang.org/x/crypto/bcrypt"

	"github.com/signalops/signalops/platform/apperr"
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

var errSuspended = apperr.Forbidden("tenant_suspended", "This tenant is suspended.")
