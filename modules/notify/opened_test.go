package notify

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestOpenedCache: a channel is served from the cache only while its
// stored config and sealed secrets are byte for byte the ones it was
// opened from.
func TestOpenedCache(t *testing.T) {
	var o openedCache
	c := Channel{ID: uuid.New(), Kind: KindWebhook, Config: []byte(`{"url":"https://a.example/hook"}`), SealedSecrets: "v1:sealed-a"}
	cfg := ChannelConfig{Kind: KindWebhook, Webhook: &WebhookConfig{URL: "https://a.example/hook"}}
	sec := Secrets{Kind: KindWebhook, Webhook: &WebhookSecrets{SigningSecret: "whsec_a"}}

	_, _, ok := o.get(c)
	require.False(t, ok, "empty cache")
	o.put(c, cfg, sec)
	gotCfg, gotSec, ok := o.get(c)
	require.True(t, ok)
	require.Equal(t, cfg, gotCfg)
	require.Equal(t, sec, gotSec)

	c.Config[10] = 'b' // the caller's buffer changing later does not alter the cached copy
	_, _, ok = o.get(Channel{ID: c.ID, Config: []byte(`{"url":"https://a.example/hook"}`), SealedSecrets: "v1:sealed-a"})
	require.True(t, ok)

	for name, changed := range map[string]Channel{
		"ConfigChanged":  {ID: c.ID, Config: []byte(`{"url":"https://b.example/hook"}`), SealedSecrets: "v1:sealed-a"},
		"SecretsChanged": {ID: c.ID, Config: []byte(`{"url":"https://a.example/hook"}`), SealedSecrets: "v1:sealed-b"},
		"OtherChannel":   {ID: uuid.New(), Config: []byte(`{"url":"https://a.example/hook"}`), SealedSecrets: "v1:sealed-a"},
	} {
		_, _, ok := o.get(changed)
		require.False(t, ok, name)
	}

	for range maxOpened + 1 {
		o.put(Channel{ID: uuid.New()}, cfg, sec)
	}
	require.LessOrEqual(t, len(o.m), maxOpened, "bounded")
}
