// Package secretbox encrypts small secrets at rest (channel credentials)
// with AES-256-GCM under a named key, so keys can rotate: Seal always uses
// the current key, Open picks the key named in the sealed string, and old
// keys stay listed until everything sealed with them has been re-sealed.
//
// A sealed value reads "v1:<key id>:<base64(nonce | ciphertext+tag)>". The
// caller's additional data (a channel id, say) and the version and key id
// are authenticated but not stored, so a value copied onto another row, or
// relabelled with another key id, fails to open.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// KeySize is the length of an AES-256 key.
const KeySize = 32

const version = "v1"

var (
	// ErrUnknownKey: the value was sealed under a key id this Box lacks.
	ErrUnknownKey = errors.New("secretbox: sealed with an unknown key")
	// ErrMalformed: the value is not a sealed string.
	ErrMalformed = errors.New("secretbox: malformed sealed value")
	// ErrOpen: authentication failed — wrong key or additional data, or tampering.
	ErrOpen = errors.New("secretbox: cannot open sealed value")
)

// KeyEntry is one key. ID names it in sealed values; empty means
// KeyID(Key).
type KeyEntry struct {
	ID  string
	Key []byte // KeySize bytes
}

// KeyID derives a key id from key material: the first 8 hex digits of
// SHA-256(key). It identifies the key without revealing it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

var keyIDRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Box seals and opens values. It is safe for concurrent use.
type Box struct {
	currentID string
	keys      map[string]cipher.AEAD
}

// New builds a Box that seals with current and opens values sealed with
// current or any of old.
func New(current KeyEntry, old ...KeyEntry) (*Box, error) {
	b := &Box{keys: make(map[string]cipher.AEAD, 1+len(old))}
	for i, k := range append([]KeyEntry{current}, old...) {
		if len(k.Key) != KeySize {
			return nil, fmt.Errorf("secretbox: key %d must be %d bytes, got %d", i, KeySize, len(k.Key))
		}
		id := k.ID
		if id == "" {
			id = KeyID(k.Key)
		}
		if !keyIDRe.MatchString(id) {
			return nil, fmt.Errorf("secretbox: key id %q must match %s", id, keyIDRe)
		}
		if _, dup := b.keys[id]; dup {
			return nil, fmt.Errorf("secretbox: duplicate key id %q", id)
		}
		block, err := aes.NewCipher(k.Key)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secretbox: %w", err)
		}
		b.keys[id] = aead
		if i == 0 {
			b.currentID = id
		}
	}
	return b, nil
}

// CurrentKeyID is the id Seal uses.
func (b *Box) CurrentKeyID() string { return b.currentID }

// Seal encrypts plaintext under the current key with a fresh random nonce,
// binding aad (which must be given again to Open).
func (b *Box) Seal(plaintext, aad []byte) (string, error) {
	aead := b.keys[b.currentID]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("secretbox: nonce: %w", err)
	}
	out := aead.Seal(nonce, nonce, plaintext, fullAAD(b.currentID, aad))
	return version + ":" + b.currentID + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// Open decrypts a value from Seal with the key it names and the same aad.
func (b *Box) Open(sealed string, aad []byte) ([]byte, error) {
	id, payload, err := split(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := b.keys[id]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownKey, id)
	}
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrMalformed
	}
	nonce, ct := raw[:aead.NonceSize()], raw[aead.NonceSize():]
	plain, err := aead.Open(nil, nonce, ct, fullAAD(id, aad))
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}

// NeedsRotation reports whether sealed was sealed under a key other than the
// current one, i.e. should be opened and sealed again.
func (b *Box) NeedsRotation(sealed string) bool {
	id, _, err := split(sealed)
	return err == nil && id != b.currentID
}

func split(sealed string) (id, payload string, err error) {
	v, rest, ok := strings.Cut(sealed, ":")
	if !ok || v != version {
		return "", "", ErrMalformed
	}
	id, payload, ok = strings.Cut(rest, ":")
	if !ok || id == "" || payload == "" {
		return "", "", ErrMalformed
	}
	return id, payload, nil
}

// fullAAD authenticates the version and key id along with the caller's
// data. The id never holds ':', so the concatenation is unambiguous.
func fullAAD(id string, aad []byte) []byte {
	out := make([]byte, 0, len(version)+len(id)+2+len(aad))
	out = append(out, version...)
	out = append(out, ':')
	out = append(out, id...)
	out = append(out, ':')
	return append(out, aad...)
}
