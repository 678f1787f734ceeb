package auth

import (
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Token settings. The algorithm is pinned: a token whose header names any
// other algorithm (none, RS256, HS512) is refused before its signature is
// looked at.
const (
	tokenIssuer   = "signalops"
	tokenAudience = "signalops-api"
	tokenTTL      = time.Hour
	tokenLeeway   = 30 * time.Second
)

// claims are the registered claims plus tenant and role.
type claims struct {
	TenantID string `json:"tid"`
	Role     string `json:"role"`
	jwt.RegisteredClaims
}

type tokens struct {
	secret []byte
	now    func() time.Time
}

func (t tokens) issue(u User) (string, error) {
	now := t.now()
	c := claims{
		TenantID: u.TenantID.String(),
		Role:     u.Role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    tokenIssuer,
			Subject:   u.ID.String(),
			Audience:  jwt.ClaimStrings{tokenAudience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(tokenTTL)),
			ID:        uuid.NewString(),
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.secret)
}

var errBadToken = errors.New("invalid token")

// parse verifies signature, algorithm, issuer, audience, expiry and
// issued-at, and returns the user and tenant ids the token names.
func (t tokens) parse(raw string) (userID, tenantID uuid.UUID, err error) {
	var c claims
	_, err = jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(tokenIssuer),
		jwt.WithAudience(tokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
		jwt.WithTimeFunc(t.now),
	)
	if err != nil {
		return uuid.Nil, uuid.Nil, errBadToken
	}
	// A token may not outlive the TTL we issue, whatever exp says.
	if c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) > tokenTTL {
		return uuid.Nil, uuid.Nil, errBadToken
	}
	if userID, err = uuid.Parse(c.Subject); err != nil {
		return uuid.Nil, uuid.Nil, errBadToken
	}
	if tenantID, err = uuid.Parse(c.TenantID); err != nil {
		return uuid.Nil, uuid.Nil, errBadToken
	}
	return userID, tenantID, nil
}
