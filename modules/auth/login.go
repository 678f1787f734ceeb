package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/ratelimit"
)

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
