package cmd

import (
	"encoding/base64"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/cmd/mailsink"
	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/httpx/httpxtest"
	"github.com/signalops/signalops/platform/testdb"
)

// The fixtures cmd's tests share: a wired system, and a tenant that calls
// it through the production router while a real worker runs.

// wireTest wires a system on a fresh test database: testConfig with
// authtest's JWT secret (so authtest.Token works), then adjust when it is
// not nil. Logs go to logger, or nowhere when it is nil. url is the
// database's, for startWorker.
func wireTest(t testing.TB, logger *slog.Logger, adjust func(*config.Config)) (sys *system, url string) {
	t.Helper()
	pool, url := testdb.NewWithURL(t)
	cfg := testConfig(t, url) // NOTIFY_RETRY_SCHEDULE=100ms,100ms: three attempts
	cfg.JWTSecret = string(authtest.Options.JWTSecret)
	if adjust != nil {
		adjust(&cfg)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	sys, err := wire(pool, cfg, logger)
	require.NoError(t, err)
	return sys, url
}

// tenantBundle is a wired system with a running worker and one enterprise
// tenant (its management rate limit leaves room for a test's calls).
type tenantBundle struct {
	sys    *system
	router http.Handler
	tenant authtest.Tenant
	token  string // the tenant owner's
}

func setupTenant(t *testing.T, adjust func(*config.Config)) *tenantBundle {
	t.Helper()
	sys, url := wireTest(t, nil, adjust)
	return newTenantBundle(t, sys, url)
}

// newTenantBundle creates the tenant on sys and starts a worker.
func newTenantBundle(t *testing.T, sys *system, url string) *tenantBundle {
	t.Helper()
	b := newTenant(t, sys, sys.router())
	startWorker(t, sys, url)
	return b
}

// newTenant creates an enterprise tenant on sys whose owner calls router;
// it starts no worker (newTenantBundle does).
func newTenant(t *testing.T, sys *system, router http.Handler) *tenantBundle {
	t.Helper()
	ctx := t.Context()
	tenant := authtest.CreateTenant(ctx, t, sys.db, &authtest.TenantOpts{Plan: new("enterprise")})
	return &tenantBundle{sys: sys, router: router, tenant: tenant, token: authtest.Token(ctx, t, sys.db, tenant.OwnerEmail)}
}

// api calls the router as the tenant's owner.
func (b *tenantBundle) api(t *testing.T, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	return serveReq(b.router, method, path, body, "Authorization", "Bearer "+b.token)
}

// createdID requires rec to be a 201 and returns the created resource's id.
func createdID(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	return httpxtest.Decode[struct{ ID string }](t, rec).ID
}

// channel creates a webhook channel to url; secret signs its deliveries.
func (b *tenantBundle) channel(t *testing.T, url string, secret []byte) string {
	t.Helper()
	rec := b.api(t, "POST", "/api/channels", `{"name":"hook","kind":"webhook","config":{"url":"`+url+`"},
		"secrets":{"signingSecret":"whsec_`+base64.StdEncoding.EncodeToString(secret)+`"}}`)
	require.NotContains(t, rec.Body.String(), "whsec_", "secrets are never returned")
	return createdID(t, rec)
}

// receiverChannel starts a signature-checking receiver and its channel.
func (b *tenantBundle) receiverChannel(t *testing.T) (*receiver, string) {
	t.Helper()
	secret := []byte("0123456789abcdef0123456789abcdef")
	rx := &receiver{t: t, secret: secret, got: map[string]int{}}
	srv := httptest.NewServer(rx)
	t.Cleanup(srv.Close)
	rx.url = srv.URL
	return rx, b.channel(t, srv.URL+"/hook", secret)
}

// brokenChannel is a channel whose endpoint answers every POST with
// handle; calls counts them.
func (b *tenantBundle) brokenChannel(t *testing.T, handle http.HandlerFunc) (calls *atomic.Int32, id string) {
	t.Helper()
	calls = new(atomic.Int32)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		handle(w, r)
	}))
	t.Cleanup(srv.Close)
	return calls, b.channel(t, srv.URL+"/hook", []byte("fedcba9876543210fedcba9876543210"))
}

func (b *tenantBundle) rule(t *testing.T, definition string) string {
	t.Helper()
	return createdID(t, b.api(t, "POST", "/api/rules", `{"name":"workflow","definition":`+definition+`}`))
}

// ingest sends one event with the tenant's API key and returns its id.
func (b *tenantBundle) ingest(t *testing.T, body string) string {
	t.Helper()
	return acceptedID(t, serveReq(b.router, "POST", "/api/events", body, "x-api-key", b.tenant.APIKey))
}

// deliveryRow is one row of GET /api/deliveries.
type deliveryRow struct {
	ID         string
	ChannelID  string
	Status     string
	Message    string
	LastError  *string
	FallbackOf *string
	ReplacedBy *string
	Fallback   []string
	Attempts   []struct {
		Succeeded  bool
		StatusCode *int
		Error      *string
	}
}

// deliveryRows lists the deliveries of the tenant's event eventID.
func (b *tenantBundle) deliveryRows(t *testing.T, eventID string) []deliveryRow {
	t.Helper()
	rec := b.api(t, "GET", "/api/deliveries?eventId="+eventID, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	return httpxtest.Decode[struct{ Data []deliveryRow }](t, rec).Data
}

// acceptedID requires rec to be a 202 and returns the accepted event's id.
func acceptedID(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	return httpxtest.Decode[struct{ ID string }](t, rec).ID
}

// startMailSink runs `signalops mailsink` on a loopback port until the test
// ends and returns what it prints (every mail it got) and its address.
func startMailSink(t *testing.T) (out *syncBuffer, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	out = &syncBuffer{}
	go func() { _ = mailsink.Serve(t.Context(), ln, out) }()
	return out, ln.Addr().String()
}

// mailsReceived counts the mails a mail sink printed.
func mailsReceived(sink *syncBuffer) int { return strings.Count(sink.String(), "--- mail from ") }

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
