package cmd

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/config"
)

// A minimal SMTP peer (emersion/go-smtp) that keeps every message.
type mailbox struct {
	mu   sync.Mutex
	msgs []*mail.Message
	rcpt []string
}

func (m *mailbox) NewSession(*smtp.Conn) (smtp.Session, error) { return &mailSession{box: m}, nil }

type mailSession struct {
	box *mailbox
	to  []string
}

func (s *mailSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}
func (s *mailSession) Data(r io.Reader) error {
	msg, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(msg.Body)
	msg.Body = strings.NewReader(string(body))
	s.box.mu.Lock()
	s.box.msgs = append(s.box.msgs, msg)
	s.box.rcpt = append(s.box.rcpt, s.to...)
	s.box.mu.Unlock()
	return nil
}
func (s *mailSession) Reset()        { s.to = nil }
func (s *mailSession) Logout() error { return nil }

// startMailbox serves SMTP on a loopback port into a new mailbox and
// returns it and the server's address.
func startMailbox(t *testing.T) (*mailbox, string) {
	t.Helper()
	box := &mailbox{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := smtp.NewServer(box)
	srv.Domain = "mx.test"
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return box, l.Addr().String()
}

// withProviders points Telegram, WhatsApp and e-mail at local servers.
func withProviders(telegramURL, whatsAppURL, smtpAddr string) func(*config.Config) {
	return func(cfg *config.Config) {
		cfg.Notify.TelegramAPIBase, cfg.Notify.WhatsAppAPIBase = telegramURL, whatsAppURL
		cfg.Notify.SMTPURL, cfg.Notify.SMTPFrom = "smtp://"+smtpAddr, "SignalOps <alerts@signalops.test>"
	}
}

// providerChannels creates a Telegram, a WhatsApp and an e-mail channel;
// no answer carries their secrets.
func (b *tenantBundle) providerChannels(t *testing.T) (telegram, whatsApp, email string) {
	t.Helper()
	channel := func(body string) string {
		rec := b.api(t, "POST", "/api/channels", body)
		require.NotContains(t, rec.Body.String(), "SECRET")
		require.NotContains(t, rec.Body.String(), "EAAG-token")
		return createdID(t, rec)
	}
	return channel(`{"name":"tg","kind":"telegram","config":{"chatId":"-100200"},"secrets":{"botToken":"123456:SECRET-token_abcdefghijklmnop"}}`),
		channel(`{"name":"wa","kind":"whatsapp","config":{"phoneNumberId":"1055","to":"4915112345678"},"secrets":{"accessToken":"EAAG-token"}}`),
		channel(`{"name":"mail","kind":"email","config":{"to":["ops@acme.test"],"subject":"Order alert"},"secrets":{}}`)
}

// TestProvidersEndToEnd: one event, one rule with three actions, delivered
// through the worker to servers shaped like Telegram's Bot API, the
// WhatsApp Cloud API and an SMTP server.
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
	box, smtpAddr := startMailbox(t)
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
		box.mu.Lock()
		defer box.mu.Unlock()
		return got["telegram"] != nil && got["whatsapp"] != nil && len(box.msgs) == 1
	}, 15*time.Second, 20*time.Millisecond)

	require.Equal(t, "TG Z-9", got["telegram"]["text"])
	require.EqualValues(t, -100200, got["telegram"]["chat_id"])
	require.Equal(t, "whatsapp", got["whatsapp"]["messaging_product"])
	require.Equal(t, "4915112345678", got["whatsapp"]["to"])
	require.Equal(t, "WA Z-9", got["whatsapp"]["text"].(map[string]any)["body"])
	msg := box.msgs[0]
	require.Equal(t, []string{"ops@acme.test"}, box.rcpt)
	require.Equal(t, "Order alert", msg.Header.Get("Subject"))
	require.NotEmpty(t, msg.Header.Get("Message-Id"))
	require.NotEmpty(t, msg.Header.Get("Date"))
	body, _ := io.ReadAll(msg.Body)
	require.Contains(t, string(body), "MAIL Z-9")

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
