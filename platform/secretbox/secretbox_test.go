package secretbox_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/secretbox"
)

func newKey(t *testing.T) secretbox.KeyEntry {
	t.Helper()
	k := make([]byte, secretbox.KeySize)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return secretbox.KeyEntry{Key: k}
}

// newBox is secretbox.New(current, old...); the test fails if it refuses the keys.
func newBox(t *testing.T, current secretbox.KeyEntry, old ...secretbox.KeyEntry) *secretbox.Box {
	t.Helper()
	box, err := secretbox.New(current, old...)
	require.NoError(t, err)
	return box
}

// seal is box.Seal; the test fails if it does.
func seal(t *testing.T, box *secretbox.Box, plaintext, aad []byte) string {
	t.Helper()
	sealed, err := box.Seal(plaintext, aad)
	require.NoError(t, err)
	return sealed
}

func TestBox(t *testing.T) {
	t.Parallel()

	aad := []byte("channel:0197a3c2-0000-7000-8000-000000000001")
	plaintext := []byte(`{"botToken":"123456:ABCDEFGHIJKLMNOPQRSTUV"}`)

	t.Run("Roundtrip", func(t *testing.T) {
		t.Parallel()

		key := newKey(t)
		box := newBox(t, key)

		sealed := seal(t, box, plaintext, aad)
		require.True(t, strings.HasPrefix(sealed, "v1:"+secretbox.KeyID(key.Key)+":"), sealed)
		require.NotContains(t, sealed, "botToken")

		got, err := box.Open(sealed, aad)
		require.NoError(t, err)
		require.Equal(t, plaintext, got)

		again := seal(t, box, plaintext, aad)
		require.NotEqual(t, sealed, again, "every seal uses a fresh nonce")
	})

	t.Run("EmptyPlaintext", func(t *testing.T) {
		t.Parallel()

		box := newBox(t, newKey(t))
		sealed := seal(t, box, nil, nil)
		got, err := box.Open(sealed, nil)
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("WrongAADFails", func(t *testing.T) {
		t.Parallel()

		box := newBox(t, newKey(t))
		sealed := seal(t, box, plaintext, aad)

		_, err := box.Open(sealed, []byte("channel:another"))
		require.ErrorIs(t, err, secretbox.ErrOpen)
		_, err = box.Open(sealed, nil)
		require.ErrorIs(t, err, secretbox.ErrOpen)
	})

	t.Run("TamperFails", func(t *testing.T) {
		t.Parallel()

		box := newBox(t, newKey(t))
		sealed := seal(t, box, plaintext, aad)

		i := strings.LastIndexByte(sealed, ':')
		raw, err := base64.RawURLEncoding.DecodeString(sealed[i+1:])
		require.NoError(t, err)
		for _, pos := range []int{0, 12, len(raw) - 1} { // nonce, ciphertext, tag
			bad := bytes.Clone(raw)
			bad[pos] ^= 0x01
			_, err = box.Open(sealed[:i+1]+base64.RawURLEncoding.EncodeToString(bad), aad)
			require.ErrorIs(t, err, secretbox.ErrOpen, "flipped byte %d", pos)
		}

		_, err = box.Open(sealed[:len(sealed)-4], aad)
		require.Error(t, err)
		for _, s := range []string{"", "v1", "v1::abc", "v2:" + sealed[3:], "v1:" + box.CurrentKeyID() + ":!!!", "v1:" + box.CurrentKeyID() + ":AAAA"} {
			_, err = box.Open(s, aad)
			require.ErrorIs(t, err, secretbox.ErrMalformed, "%q", s)
		}
	})

	t.Run("RelabelledKeyIDFails", func(t *testing.T) {
		t.Parallel()

		k := newKey(t)
		box := newBox(t, secretbox.KeyEntry{ID: "a", Key: k.Key}, secretbox.KeyEntry{ID: "b", Key: k.Key})
		sealed := seal(t, box, plaintext, aad)
		require.True(t, strings.HasPrefix(sealed, "v1:a:"))

		_, err := box.Open("v1:b:"+strings.TrimPrefix(sealed, "v1:a:"), aad)
		require.ErrorIs(t, err, secretbox.ErrOpen, "the key id is authenticated")
	})

	t.Run("Rotation", func(t *testing.T) {
		t.Parallel()

		oldKey, newKeyEntry := newKey(t), newKey(t)
		oldBox := newBox(t, oldKey)
		sealedOld := seal(t, oldBox, plaintext, aad)

		box := newBox(t, newKeyEntry, oldKey)
		require.Equal(t, secretbox.KeyID(newKeyEntry.Key), box.CurrentKeyID())

		got, err := box.Open(sealedOld, aad)
		require.NoError(t, err, "the old key still opens")
		require.Equal(t, plaintext, got)
		require.True(t, box.NeedsRotation(sealedOld))

		sealedNew := seal(t, box, got, aad)
		require.True(t, strings.HasPrefix(sealedNew, "v1:"+secretbox.KeyID(newKeyEntry.Key)+":"), "new values use the current key")
		require.False(t, box.NeedsRotation(sealedNew))

		_, err = oldBox.Open(sealedNew, aad)
		require.ErrorIs(t, err, secretbox.ErrUnknownKey)

		// Once the old key is dropped its values no longer open.
		onlyNew := newBox(t, newKeyEntry)
		_, err = onlyNew.Open(sealedOld, aad)
		require.ErrorIs(t, err, secretbox.ErrUnknownKey)
	})

	t.Run("BadKeys", func(t *testing.T) {
		t.Parallel()

		_, err := secretbox.New(secretbox.KeyEntry{Key: make([]byte, 16)})
		require.Error(t, err)
		k := newKey(t)
		_, err = secretbox.New(k, k)
		require.ErrorContains(t, err, "duplicate key id")
		_, err = secretbox.New(secretbox.KeyEntry{ID: "has:colon", Key: k.Key})
		require.Error(t, err)
	})
}
