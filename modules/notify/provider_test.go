package notify

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/apperr"
)

const (
	testBotToken    = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
	testAccessToken = "EAAGm0PX4ZCpsBAtestaccesstoken"
)

var testSigningSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef01234567"))

// refusedAddr is a local host:port nothing listens on: connecting to it is
// refused, the providers' plainest transport failure.
func refusedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// requireRefused checks a send the receiving API refused, as the Provider
// contract has it: a *SendError carrying the HTTP status, permanent or not
// and with the Retry-After as wanted, and the channel's secret neither in
// the error (as text or with %+v) nor in the recorded response.
func requireRefused(t *testing.T, res Result, err error, status int, permanent bool, retry time.Duration, secret string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, permanent, IsPermanent(err), err.Error())
	require.Equal(t, status, res.StatusCode)
	var se *SendError
	require.ErrorAs(t, err, &se)
	require.Equal(t, status, se.StatusCode)
	d, ok := RetryAfter(err)
	require.Equal(t, retry > 0, ok)
	require.Equal(t, retry, d)
	require.NotContains(t, err.Error(), secret)
	require.NotContains(t, fmt.Sprintf("%+v", err), secret)
	require.NotContains(t, res.Response, secret)
}

func TestValidateConfig(t *testing.T) {
	t.Parallel()

	t.Run("Valid", func(t *testing.T) {
		t.Parallel()

		for _, tt := range []struct {
			name, kind, config, secrets string
			wantConfig                  string // the stored/returned wire shape
		}{
			{"Webhook", "webhook", `{"url":"https://example.com/hook"}`, `{"signingSecret":"` + testSigningSecret + `"}`, `{"url":"https://example.com/hook"}`},
			{"TelegramNumericChat", "telegram", `{"chatId":-1001234567890}`, `{"botToken":"` + testBotToken + `"}`, `{"chatId":"-1001234567890"}`},
			{"TelegramChannel", "telegram", `{"chatId":"@signalops_alerts","parseMode":"HTML"}`, `{"botToken":"` + testBotToken + `"}`, `{"chatId":"@signalops_alerts","parseMode":"HTML"}`},
			{"WhatsAppText", "whatsapp", `{"phoneNumberId":"106540352242922","to":"+4915112345678"}`, `{"accessToken":"` + testAccessToken + `"}`, `{"phoneNumberId":"106540352242922","to":"+4915112345678"}`},
			{"WhatsAppTemplate", "whatsapp", `{"phoneNumberId":"1065","to":"4915112345678","template":{"name":"order_alert","language":"en_US"}}`, `{"accessToken":"t"}`, `{"phoneNumberId":"1065","to":"4915112345678","template":{"name":"order_alert","language":"en_US"}}`},
			{"EmailMinimal", "email", `{"to":["ops@example.com"]}`, `{}`, `{"to":["ops@example.com"]}`},
			{"WebhookRateLimited", "webhook", `{"url":"https://example.com/hook","rateLimit":{"perSecond":5}}`, `{"signingSecret":"` + testSigningSecret + `"}`, `{"url":"https://example.com/hook","rateLimit":{"perSecond":5}}`},
			{"TelegramRateLimitFraction", "telegram", `{"chatId":"42","rateLimit":{"perSecond":0.5}}`, `{"botToken":"` + testBotToken + `"}`, `{"chatId":"42","rateLimit":{"perSecond":0.5}}`},
			{"EmailRateLimitNull", "email", `{"to":["ops@example.com"],"rateLimit":null}`, `{}`, `{"to":["ops@example.com"]}`},
			{"EmailFull", "email", `{"to":["Ops <ops@example.com>","b@example.org"],"subject":"Alert","smtpUrl":"smtps://mailer@smtp.example.com","from":"alerts@example.com"}`, `{"smtpPassword":"pw"}`, `{"to":["Ops <ops@example.com>","b@example.org"],"subject":"Alert","smtpUrl":"smtps://mailer@smtp.example.com","from":"alerts@example.com"}`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				cfg, sec, err := ValidateConfig(tt.kind, json.RawMessage(tt.config), json.RawMessage(tt.secrets), true)
				require.NoError(t, err)
				require.Equal(t, tt.kind, cfg.Kind)
				require.True(t, sec.Provided())
				require.False(t, sec.Generated)
				got, err := json.Marshal(cfg)
				require.NoError(t, err)
				require.JSONEq(t, tt.wantConfig, string(got))

				// What is stored loads back unchanged.
				rawSec, err := json.Marshal(sec)
				require.NoError(t, err)
				cfg2, sec2, err := ValidateConfig(tt.kind, got, rawSec, false)
				require.NoError(t, err)
				require.Equal(t, cfg, cfg2)
				require.Equal(t, sec, sec2)
			})
		}
	})

	t.Run("WebhookSecretGenerated", func(t *testing.T) {
		t.Parallel()

		for _, secrets := range []string{``, `null`, `{}`} {
			cfg, sec, err := ValidateConfig(KindWebhook, json.RawMessage(`{"url":"https://example.com/h"}`), json.RawMessage(secrets), true)
			require.NoError(t, err, secrets)
			require.Equal(t, "https://example.com/h", cfg.Webhook.URL)
			require.True(t, sec.Generated)
			require.True(t, strings.HasPrefix(sec.Webhook.SigningSecret, "whsec_"))
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sec.Webhook.SigningSecret, "whsec_"))
			require.NoError(t, err)
			require.Len(t, key, 24)
		}
		_, sec1, err := ValidateConfig(KindWebhook, json.RawMessage(`{"url":"https://example.com/h"}`), nil, true)
		require.NoError(t, err)
		_, sec2, err := ValidateConfig(KindWebhook, json.RawMessage(`{"url":"https://example.com/h"}`), nil, true)
		require.NoError(t, err)
		require.NotEqual(t, sec1.Webhook.SigningSecret, sec2.Webhook.SigningSecret)
	})

	t.Run("UpdateWithoutSecretsKeepsStored", func(t *testing.T) {
		t.Parallel()

		for _, kind := range []string{KindWebhook, KindTelegram, KindWhatsApp, KindEmail} {
			config := map[string]string{
				KindWebhook:  `{"url":"https://example.com/h"}`,
				KindTelegram: `{"chatId":"42"}`,
				KindWhatsApp: `{"phoneNumberId":"1","to":"4915112345678"}`,
				KindEmail:    `{"to":["a@example.com"]}`,
			}[kind]
			_, sec, err := ValidateConfig(kind, json.RawMessage(config), nil, false)
			require.NoError(t, err, kind)
			require.False(t, sec.Provided(), kind)
			require.False(t, sec.Generated, kind)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()

		for _, tt := range []struct {
			name, kind, config, secrets string
			creating                    bool
			wantFields                  []string
		}{
			{"UnknownKind", "sms", `{}`, `{}`, true, []string{"kind"}},
			{"MissingConfig", "webhook", ``, `{}`, true, []string{"config"}},
			{"ConfigNotObject", "webhook", `[1]`, `{}`, true, []string{"config"}},
			{"SecretsNotObject", "telegram", `{"chatId":"1"}`, `"x"`, true, []string{"secrets", "secrets.botToken"}},

			{"WebhookMissingURL", "webhook", `{}`, ``, true, []string{"config.url"}},
			{"WebhookURLNotString", "webhook", `{"url":42}`, ``, true, []string{"config.url"}},
			{"WebhookURLScheme", "webhook", `{"url":"ftp://example.com/x"}`, ``, true, []string{"config.url"}},
			{"WebhookURLRelative", "webhook", `{"url":"/hook"}`, ``, true, []string{"config.url"}},
			{"WebhookURLNoHost", "webhook", `{"url":"https:///x"}`, ``, true, []string{"config.url"}},
			{"WebhookURLCredentials", "webhook", `{"url":"https://u:p@example.com/"}`, ``, true, []string{"config.url"}},
			{"WebhookURLBadPort", "webhook", `{"url":"https://example.com:99999/"}`, ``, true, []string{"config.url"}},
			{"WebhookUnknownConfigField", "webhook", `{"url":"https://example.com","method":"PUT"}`, ``, true, []string{"config.method"}},
			{"WebhookBadSecretPrefix", "webhook", `{"url":"https://example.com"}`, `{"signingSecret":"secret"}`, true, []string{"secrets.signingSecret"}},
			{"WebhookShortSecret", "webhook", `{"url":"https://example.com"}`, `{"signingSecret":"whsec_c2hvcnQ="}`, true, []string{"secrets.signingSecret"}},
			{"WebhookUpdateSecretsWithoutSecret", "webhook", `{"url":"https://example.com"}`, `{}`, false, []string{"secrets.signingSecret"}},
			{"WebhookBadPreviousSecret", "webhook", `{"url":"https://example.com"}`, `{"signingSecret":"` + testSigningSecret + `","previousSigningSecrets":["` + testSigningSecret + `","nope"]}`, true, []string{"secrets.previousSigningSecrets[1]"}},
			{"WebhookUnknownSecretField", "webhook", `{"url":"https://example.com"}`, `{"signingSecret":"` + testSigningSecret + `","token":"x"}`, true, []string{"secrets.token"}},

			{"TelegramMissingChat", "telegram", `{}`, `{"botToken":"` + testBotToken + `"}`, true, []string{"config.chatId"}},
			{"TelegramBadChat", "telegram", `{"chatId":"general"}`, `{"botToken":"` + testBotToken + `"}`, true, []string{"config.chatId"}},
			{"TelegramFractionalChat", "telegram", `{"chatId":1.5}`, `{"botToken":"` + testBotToken + `"}`, true, []string{"config.chatId"}},
			{"TelegramParseMode", "telegram", `{"chatId":"1","parseMode":"markdown"}`, `{"botToken":"` + testBotToken + `"}`, true, []string{"config.parseMode"}},
			{"TelegramMissingToken", "telegram", `{"chatId":"1"}`, `{}`, true, []string{"secrets.botToken"}},
			{"TelegramMissingSecrets", "telegram", `{"chatId":"1"}`, ``, true, []string{"secrets.botToken"}},
			{"TelegramBadToken", "telegram", `{"chatId":"1"}`, `{"botToken":"not-a-token"}`, true, []string{"secrets.botToken"}},
			{"TelegramEmptyToken", "telegram", `{"chatId":"1"}`, `{"botToken":"  "}`, true, []string{"secrets.botToken"}},
			{"TelegramUnknownField", "telegram", `{"chatId":"1","chat_id":"1"}`, `{"botToken":"` + testBotToken + `"}`, true, []string{"config.chat_id"}},

			{"WhatsAppMissingAll", "whatsapp", `{}`, `{}`, true, []string{"config.phoneNumberId", "config.to", "secrets.accessToken"}},
			{"WhatsAppBadPhoneNumberID", "whatsapp", `{"phoneNumberId":"abc","to":"4915112345678"}`, `{"accessToken":"t"}`, true, []string{"config.phoneNumberId"}},
			{"WhatsAppBadTo", "whatsapp", `{"phoneNumberId":"1","to":"0151 123"}`, `{"accessToken":"t"}`, true, []string{"config.to"}},
			{"WhatsAppTemplateNotObject", "whatsapp", `{"phoneNumberId":"1","to":"4915112345678","template":"order"}`, `{"accessToken":"t"}`, true, []string{"config.template"}},
			{"WhatsAppTemplateMissingName", "whatsapp", `{"phoneNumberId":"1","to":"4915112345678","template":{"language":"en"}}`, `{"accessToken":"t"}`, true, []string{"config.template.name"}},
			{"WhatsAppTemplateBadLanguage", "whatsapp", `{"phoneNumberId":"1","to":"4915112345678","template":{"name":"x","language":"english"}}`, `{"accessToken":"t"}`, true, []string{"config.template.language"}},
			{"WhatsAppTemplateUnknownField", "whatsapp", `{"phoneNumberId":"1","to":"4915112345678","template":{"name":"x","language":"en","namespace":"y"}}`, `{"accessToken":"t"}`, true, []string{"config.template.namespace"}},
			{"WhatsAppTokenWithSpace", "whatsapp", `{"phoneNumberId":"1","to":"4915112345678"}`, `{"accessToken":"a b"}`, true, []string{"secrets.accessToken"}},

			{"EmailMissingTo", "email", `{}`, `{}`, true, []string{"config.to"}},
			{"EmailToNotArray", "email", `{"to":"a@example.com"}`, `{}`, true, []string{"config.to"}},
			{"EmailToEmpty", "email", `{"to":[]}`, `{}`, true, []string{"config.to"}},
			{"EmailBadRecipient", "email", `{"to":["a@example.com","not an address",7]}`, `{}`, true, []string{"config.to[1]", "config.to[2]"}},
			{"EmailSubjectNewline", "email", `{"to":["a@example.com"],"subject":"a\r\nBcc: x@evil.test"}`, `{}`, true, []string{"config.subject"}},
			{"EmailSMTPURLScheme", "email", `{"to":["a@example.com"],"smtpUrl":"http://mail.example.com"}`, `{}`, true, []string{"config.smtpUrl"}},
			{"EmailSMTPURLPassword", "email", `{"to":["a@example.com"],"smtpUrl":"smtp://u:hunter2@mail.example.com"}`, `{}`, true, []string{"config.smtpUrl"}},
			{"EmailSMTPURLQuery", "email", `{"to":["a@example.com"],"smtpUrl":"smtp://mail.example.com?tls=1"}`, `{}`, true, []string{"config.smtpUrl"}},
			{"EmailBadFrom", "email", `{"to":["a@example.com"],"from":"nobody"}`, `{}`, true, []string{"config.from"}},
			{"EmailPasswordWithoutURL", "email", `{"to":["a@example.com"]}`, `{"smtpPassword":"pw"}`, true, []string{"secrets.smtpPassword"}},
			{"EmailPasswordWithoutUser", "email", `{"to":["a@example.com"],"smtpUrl":"smtp://mail.example.com"}`, `{"smtpPassword":"pw"}`, true, []string{"secrets.smtpPassword"}},
			{"RateLimitNotObject", "webhook", `{"url":"https://example.com/h","rateLimit":5}`, `{}`, true, []string{"config.rateLimit"}},
			{"RateLimitMissingPerSecond", "webhook", `{"url":"https://example.com/h","rateLimit":{}}`, `{}`, true, []string{"config.rateLimit.perSecond"}},
			{"RateLimitZero", "telegram", `{"chatId":"42","rateLimit":{"perSecond":0}}`, `{"botToken":"` + testBotToken + `"}`, true, []string{"config.rateLimit.perSecond"}},
			{"RateLimitNegative", "email", `{"to":["a@example.com"],"rateLimit":{"perSecond":-1}}`, `{}`, true, []string{"config.rateLimit.perSecond"}},
			{"RateLimitTooHigh", "whatsapp", `{"phoneNumberId":"1","to":"4915112345678","rateLimit":{"perSecond":10001}}`, `{"accessToken":"t"}`, true, []string{"config.rateLimit.perSecond"}},
			{"RateLimitNotNumber", "webhook", `{"url":"https://example.com/h","rateLimit":{"perSecond":"5"}}`, `{}`, true, []string{"config.rateLimit.perSecond"}},
			{"RateLimitUnknownField", "webhook", `{"url":"https://example.com/h","rateLimit":{"perSecond":5,"burst":10}}`, `{}`, true, []string{"config.rateLimit.burst"}},
			{"EmailUnknownSecret", "email", `{"to":["a@example.com"]}`, `{"password":"pw"}`, true, []string{"secrets.password"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := ValidateConfig(tt.kind, json.RawMessage(tt.config), json.RawMessage(tt.secrets), tt.creating)
				require.Error(t, err)
				aerr, ok := apperr.As(err)
				require.True(t, ok, "%T %v", err, err)
				require.Equal(t, apperr.KindInvalid, aerr.Kind)
				require.Equal(t, "validation_failed", aerr.Code)
				var fields []string
				for _, f := range aerr.Fields {
					fields = append(fields, f.Field)
					require.NotEmpty(t, f.Message)
				}
				require.Equal(t, tt.wantFields, fields)
				require.NotContains(t, err.Error(), "hunter2")
			})
		}
	})
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()

	_, sec, err := ValidateConfig(KindTelegram, json.RawMessage(`{"chatId":"1"}`), json.RawMessage(`{"botToken":"`+testBotToken+`"}`), true)
	require.NoError(t, err)
	for _, s := range []string{fmt.Sprint(sec), fmt.Sprintf("%+v", sec), fmt.Sprintf("%#v", sec), fmt.Sprintf("%v", *sec.Telegram), fmt.Sprintf("%+v", sec.Telegram)} {
		require.NotContains(t, s, testBotToken)
	}
	var buf strings.Builder
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("channel", "secrets", sec)
	require.NotContains(t, buf.String(), testBotToken)
	require.Contains(t, buf.String(), "[redacted]")
}

func TestSendErrorHelpers(t *testing.T) {
	t.Parallel()

	cause := errors.New("boom")

	err := fmt.Errorf("deliver: %w", Permanent(cause))
	require.True(t, IsPermanent(err))
	require.ErrorIs(t, err, cause)
	_, ok := RetryAfter(err)
	require.False(t, ok)

	err = fmt.Errorf("deliver: %w", Transient(cause, 7*time.Second))
	require.False(t, IsPermanent(err))
	d, ok := RetryAfter(err)
	require.True(t, ok)
	require.Equal(t, 7*time.Second, d)

	_, ok = RetryAfter(Transient(cause, 0))
	require.False(t, ok)
	require.False(t, IsPermanent(cause), "unclassified errors are retried")

	for _, tt := range []struct {
		status    int
		permanent bool
	}{
		{400, true}, {401, true}, {403, true}, {404, true}, {410, true}, {422, true}, {301, true},
		{408, false}, {429, false}, {500, false}, {502, false}, {503, false},
	} {
		require.Equal(t, tt.permanent, IsPermanent(statusError(tt.status, 0, cause)), tt.status)
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"7", 7 * time.Second},
		{" 120 ", 2 * time.Minute},
		{"0", 0},
		{"-3", 0},
		{"", 0},
		{"soon", 0},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
		{"99999999", maxRetryAfter},
	} {
		require.Equal(t, tt.want, parseRetryAfter(tt.in, now), tt.in)
	}
}

func TestProvidersFor(t *testing.T) {
	t.Parallel()

	p := NewProviders(Options{})
	for _, kind := range []string{KindEmail, KindTelegram, KindWhatsApp, KindWebhook} {
		prov, err := p.For(kind)
		require.NoError(t, err)
		require.NotNil(t, prov)
	}
	_, err := p.For("sms")
	require.True(t, IsPermanent(err))

	// A config of one kind handed to another kind's provider is a permanent error.
	cfg, sec, err := ValidateConfig(KindTelegram, json.RawMessage(`{"chatId":"1"}`), json.RawMessage(`{"botToken":"`+testBotToken+`"}`), true)
	require.NoError(t, err)
	wh, err := p.For(KindWebhook)
	require.NoError(t, err)
	_, err = wh.Send(t.Context(), cfg, sec, Message{Payload: []byte(`{}`)})
	require.True(t, IsPermanent(err))
}

func TestTruncate(t *testing.T) {
	t.Parallel()

	require.Equal(t, "ab", truncateUTF8("ab", 5))
	require.Equal(t, "a", truncateUTF8("aé", 2)) // é is 2 bytes: never split
	require.Equal(t, "ab…", truncateRunes("abcdef", 3))
	require.Equal(t, "x [redacted] y", summarize([]byte("x\n  SECRET\ty"), "SECRET"))
	require.Len(t, summarize([]byte(strings.Repeat("a", 2000))), maxResponseSummary)
}
