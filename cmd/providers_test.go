package cmd

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestProvidersEndToEnd: one event, one rule with three actions, delivered
// through the worker to servers shaped like Telegram's Bot API, the
// WhatsApp Cloud API and an SMTP server (signalops mailsink).
func TestProvidersEndToEnd(t *testing.T) {
	t.Parallel()

	var mu sync.Mutex
	got := map[string]map[string]any{}
	keep := func(provider string, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		got[provider] = m
		mu.Unlock()
	}
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bot123456:SECRET-token_abcdefghijklmnop/sendMessage" {
			http.Error(w, `{"ok":false,"error_code":404}`, http.StatusNotFound)
			return
		}
		keep("telegram", r)
		_, _ = io.WriteString(w, `{"ok":true,"result":{"message_id":77}}`)
	}))
	t.Cleanup(tg.Close)
	wa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/1055/messages" || r.Header.Get("Authorization") != "Bearer EAAG-token" {
			http.Error(w, `{"error":{"message":"bad","code":190}}`, http.StatusUnauthorized)
			return
		}
		keep("whatsapp", r)
		_, _ = io.WriteString(w, `{"messaging_product":"whatsapp","messages":[{"id":"wamid.X1"}]}`)
	}))
	t.Cleanup(wa.Close)
	mails, smtpAddr := startMailSink(t)
	b := setupTenant(t, withProviders(tg.URL, wa.URL, smtpAddr))
	pool := b.sys.db
	tgID, waID, mailID := b.providerChannels(t)
	b.rule(t, `{"match":{"type":"order.*"},"actions":[
		{"channelId":"`+tgID+`","template":"TG {{.payload.orderId}}"},
		{"channelId":"`+waID+`","template":"WA {{.payload.orderId}}"},
		{"channelId":"`+mailID+`","template":"MAIL {{.payload.orderId}}"}]}`)

	b.ingest(t, `{"type":"order.created","payload":{"orderId":"Z-9"}}`)

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return got["telegram"] != nil && got["whatsapp"] != nil && mailsReceived(mails) == 1
	}, 15*time.Second, 20*time.Millisecond)

	require.Equal(t, "TG Z-9", got["telegram"]["text"])
	require.EqualValues(t, -100200, got["telegram"]["chat_id"])
	require.Equal(t, "whatsapp", got["whatsapp"]["messaging_product"])
	require.Equal(t, "4915112345678", got["whatsapp"]["to"])
	require.Equal(t, "WA Z-9", got["whatsapp"]["text"].(map[string]any)["body"])
	mail := mails.String()
	require.Regexp(t, `--- mail from \S+ to ops@acme\.test \(`, mail, "the channel's one recipient")
	require.Contains(t, mail, "\nSubject: Order alert\n")
	require.Regexp(t, `\nMessage-Id: \S+\n`, mail)
	require.Regexp(t, `\nDate: \S.*\n`, mail)
	require.Contains(t, mail, "\n\nMAIL Z-9", "the plain-text body")

	require.Eventually(t, func() bool {
		var n int
		_ = pool.Get(&n, `SELECT count(*) FROM deliveries WHERE status = 'succeeded' AND provider_message_id IS NOT NULL`)
		return n == 3
	}, 5*time.Second, 20*time.Millisecond, "every attempt records the provider's message id")
	var ids []string
	require.NoError(t, pool.Select(&ids, `SELECT provider_message_id FROM deliveries ORDER BY provider_message_id`))
	require.Contains(t, ids, "77")
	require.Contains(t, ids, "wamid.X1")
}
