package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"math/big"
	"slices"
	"time"

	"github.com/google/uuid"
)

// KeyPrefix starts every SignalOps API key, so leaked keys are easy to scan for.
const KeyPrefix = "so_live_"

// Scopes an API key may carry.
const (
	ScopeEventsWrite = "events:write"
	ScopeEventsRead  = "events:read"
)

// AllScopes lists every scope, in display order.
var AllScopes = []string{ScopeEventsWrite, ScopeEventsRead}

const (
	keyRandomBytes = 32
	keyBodyLen     = 43 // base62 digits of a 256-bit number
	keyCheckLen    = 6  // base62 digits of the key's MAC (35 bits)
	displayLen     = len(KeyPrefix) + 6
	// Keys issued before the MAC was added have no check digits; they keep
	// working, looked up in the database as before.
	legacyKeyLen = len(KeyPrefix) + keyBodyLen
	keyLen       = legacyKeyLen + keyCheckLen
)

// APIKey is a stored key: never the key itself, only its digest.
type APIKey struct {
	ID         uuid.UUID  `db:"id"`
	TenantID   uuid.UUID  `db:"tenant_id"`
	Label      string     `db:"label"`
	Prefix     string     `db:"prefix"`
	Digest     []byte     `db:"digest"`
	Scopes     []string   `db:"-"`
	CreatedAt  time.Time  `db:"created_at"`
	ExpiresAt  *time.Time `db:"expires_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
}

// HasScope reports whether the key carries scope.
func (k APIKey) HasScope(scope string) bool { return slices.Contains(k.Scopes, scope) }

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newKey returns a fresh key, its digest and its display prefix. The key
// ends with keyCheckLen base62 digits of an HMAC of the rest under mac (the
// api_key_mac secret in the database): a key that does not carry a valid
// MAC cannot exist, and is refused without a lookup.
func newKey(mac []byte) (key string, digest [32]byte, prefix string) {
	b := make([]byte, keyRandomBytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	n := new(big.Int).SetBytes(b)
	body := make([]byte, keyBodyLen)
	base, mod := big.NewInt(62), new(big.Int)
	for i := keyBodyLen - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		body[i] = base62[mod.Int64()]
	}
	key = KeyPrefix + string(body)
	key += keyCheck(mac, key)
	return key, sha256.Sum256([]byte(key)), key[:displayLen]
}

// keyCheck is the MAC part of a key: base62 of HMAC-SHA256(mac, head).
func keyCheck(mac []byte, head string) string {
	h := hmac.New(sha256.New, mac)
	h.Write([]byte(head))
	v := binary.BigEndian.Uint64(h.Sum(nil))
	out := make([]byte, keyCheckLen)
	for i := keyCheckLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out)
}

// validKeyMAC reports, in constant time, whether a key of the current
// format carries the MAC of its random part.
func validKeyMAC(mac []byte, key string) bool {
	want := keyCheck(mac, key[:legacyKeyLen])
	return subtle.ConstantTimeCompare([]byte(want), []byte(key[legacyKeyLen:])) == 1
}

// wellFormedKey rejects garbage before it costs a database lookup.
func wellFormedKey(key string) bool {
	if (len(key) != keyLen && len(key) != legacyKeyLen) || key[:len(KeyPrefix)] != KeyPrefix {
		return false
	}
	for i := len(KeyPrefix); i < len(key); i++ {
		c := key[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}
