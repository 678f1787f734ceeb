package cmd

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/config"
	"github.com/signalops/signalops/modules/auth/authtest"
	"github.com/signalops/signalops/platform/testdb"
)

// TestEmailSetup follows docs/channels.md's e-mail section through the
// production router: a channel test is sent by the serving process with its
// own SMTP_URL, or with the channel's smtpUrl, to `signalops mailsink`.
func TestEmailSetup(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		router http.Handler
		token  string
	}
	setup := func(t *testing.T, smtpURL string) *testBundle {
		t.Helper()
		sys, _ := wireTest(t, nil, func(cfg *config.Config) { cfg.Notify.SMTPURL = smtpURL })
		tenant := authtest.CreateTenant(t.Context(), t, sys.db, nil)
		return &testBundle{router: sys.router(), token: authtest.Token(t.Context(), t, sys.db, tenant.OwnerEmail)}
	}
	// testChannel creates an e-mail channel and answers its test.
	testChannel := func(t *testing.T, b *testBundle, config string) (ok bool, errText string) {
		t.Helper()
		id := createdID(t, serveReq(b.router, "POST", "/api/channels", `{"name":"ops mail","kind":"email","config":`+config+`}`,
			"Authorization", "Bearer "+b.token))
		rec := serveReq(b.router, "POST", "/api/channels/"+id+"/test", "", "Authorization", "Bearer "+b.token)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var res struct {
			OK    bool
			Error string
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &res))
		return res.OK, res.Error
	}

	t.Run("OperatorSMTPURL", func(t *testing.T) {
		t.Parallel()
		out, addr := startMailSink(t)
		b := setup(t, "smtp://"+addr)

		ok, errText := testChannel(t, b, `{"to":["ops@example.com"]}`)
		require.True(t, ok, errText)
		require.Contains(t, out.String(), "Subject: SignalOps test\n")
		require.Contains(t, out.String(), "\n\nSignalOps test message for channel ops mail\n---\n")
	})

	t.Run("ChannelSMTPURLWithoutOperatorOne", func(t *testing.T) {
		t.Parallel()
		out, addr := startMailSink(t)
		b := setup(t, "")

		ok, errText := testChannel(t, b, `{"to":["ops@example.com"]}`)
		require.False(t, ok)
		require.Equal(t, "email is not configured: this process started without SMTP_URL (serve sends channel tests, "+
			"work sends deliveries: set it for both and restart them) and the channel has no smtpUrl (permanent)", errText)

		ok, errText = testChannel(t, b, `{"to":["ops@example.com"],"smtpUrl":"smtp://`+addr+`"}`)
		require.True(t, ok, errText)
		require.Contains(t, out.String(), "--- mail from signalops@localhost to ops@example.com (")
	})

	t.Run("SMTPURLTheProviderRefusesStopsStart", func(t *testing.T) {
		t.Parallel()
		pool, url := testdb.NewWithURL(t)
		for _, tt := range []struct{ smtpURL, wantErr string }{
			{"smtp://127.0.0.1:99999", "config: SMTP_URL has an invalid port"},
			{"smtp://127.0.0.1:1025?starttls=yes", "config: SMTP_URL accepts only the query parameter starttls=required|opportunistic"},
			{"smtp://127.0.0.1:1025/mail", "config: SMTP_URL must be smtp://[user@]host[:port] or smtps://[user@]host[:port]"},
		} {
			cfg, err := config.Load(func(k string) string {
				return map[string]string{"DATABASE_URL": url, "SMTP_URL": tt.smtpURL,
					"SECRET_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}[k]
			})
			require.NoError(t, err, "config.Load checks only the scheme and host")
			_, err = wire(pool, cfg, slog.New(slog.DiscardHandler))
			require.EqualError(t, err, tt.wantErr)
		}
	})
}
