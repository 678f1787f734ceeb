package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/signalops/signalops/platform/apperr"
)

// Channel kinds. They are stored in rows and sent on the wire: never rename one.
const (
	KindEmail    = "email"
	KindTelegram = "telegram"
	KindWhatsApp = "whatsapp"
	KindWebhook  = "webhook"
)

// Message is one rendered notification to send.
type Message struct {
	// DeliveryID is stable across retries of one delivery. The webhook
	// provider derives webhook-id from it and the email provider the
	// Message-ID, so a receiver can deduplicate a retried send.
	DeliveryID uuid.UUID
	EventType  string
	// Subject is the rendered email subject; "" falls back to the channel's
	// configured subject, then to a default naming EventType.
	Subject string
	// Text is the rendered message as plain text.
	Text string
	// Payload is the full JSON body of a webhook delivery, built by the
	// caller. Providers other than webhook ignore it.
	Payload []byte
	// TemplateParams are the body parameters of a WhatsApp template message.
	// nil sends Text as the single parameter {{1}} (when Text is not empty);
	// a non-nil empty slice sends the template without parameters.
	TemplateParams []string
}

// Result is what a provider reports for one attempt. Send fills it in on
// failure too (as far as the attempt got), so the caller can record the
// attempt whatever the outcome.
type Result struct {
	StatusCode        int           // HTTP status, or the final SMTP reply code
	ProviderMessageID string        // Telegram message_id, WhatsApp wamid, webhook-id, email Message-ID
	Latency           time.Duration // from dial to the end of the (capped) response
	Response          string        // the response summarized: ≤ 512 bytes of valid UTF-8, secrets scrubbed
}

// Provider sends one message to one configured channel.
//
// Every returned error is a *SendError (see IsPermanent and RetryAfter); a
// cancelled or expired ctx gives a transient one. Send never puts a secret
// in an error or in Result.
type Provider interface {
	Send(ctx context.Context, cfg ChannelConfig, sec Secrets, msg Message) (Result, error)
}

// SendError classifies a failed send: Permanent failures (a 4xx, a refused
// destination, an invalid channel) fail the delivery at once; the others are
// retried with backoff, or after RetryAfter when the provider asked for it.
type SendError struct {
	Permanent  bool
	RetryAfter time.Duration // > 0 only when the provider named a delay (429 Retry-After, Telegram retry_after)
	StatusCode int           // HTTP status or SMTP reply code; 0 when none was received
	Err        error
}

func (e *SendError) Error() string {
	kind := "transient"
	if e.Permanent {
		kind = "permanent"
	}
	if e.Err == nil {
		return kind + " send failure"
	}
	return e.Err.Error() + " (" + kind + ")"
}

func (e *SendError) Unwrap() error { return e.Err }

// Permanent marks err as a failure that retrying cannot fix.
func Permanent(err error) error {
	return &SendError{Permanent: true, Err: err}
}

// Transient marks err as a failure worth retrying; retryAfter > 0 is the
// delay the provider asked for, 0 leaves the delay to the caller's backoff.
func Transient(err error, retryAfter time.Duration) error {
	return &SendError{RetryAfter: max(retryAfter, 0), Err: err}
}

// IsPermanent reports whether err is a permanent send failure. Errors that
// carry no classification (context cancellation, say) are not permanent.
func IsPermanent(err error) bool {
	var se *SendError
	return errors.As(err, &se) && se.Permanent
}

// statusOf is the HTTP status (or SMTP reply code) a send failed with; 0
// when none was received.
func statusOf(err error) int {
	var se *SendError
	if errors.As(err, &se) {
		return se.StatusCode
	}
	return 0
}

// Throttled returns the pause a receiver asked for with a 429 and its
// Retry-After (Telegram: retry_after): the whole channel waits that long,
// and the delivery's attempt is not spent (SPEC §8).
func Throttled(err error) (time.Duration, bool) {
	if ra, ok := RetryAfter(err); ok && statusOf(err) == http.StatusTooManyRequests {
		return ra, true
	}
	return 0, false
}

// RetryAfter returns the delay the provider asked for before the next attempt.
func RetryAfter(err error) (time.Duration, bool) {
	var se *SendError
	if errors.As(err, &se) && !se.Permanent && se.RetryAfter > 0 {
		return se.RetryAfter, true
	}
	return 0, false
}

// statusError is the classified error for a non-2xx HTTP answer: 408, 429 and
// 5xx are transient; every other status (other 4xx, unfollowed 3xx) is
// permanent.
func statusError(status int, retryAfter time.Duration, err error) error {
	transient := status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500
	if transient {
		return &SendError{RetryAfter: max(retryAfter, 0), StatusCode: status, Err: err}
	}
	return &SendError{Permanent: true, StatusCode: status, Err: err}
}

// maxRetryAfter bounds a provider's requested delay, so one odd header cannot
// park a delivery for weeks.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads an HTTP Retry-After value: delay-seconds or an
// HTTP-date (RFC 9110 §10.2.3). Unparseable or past values give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now).Round(time.Second)
	}
	return min(max(d, 0), maxRetryAfter)
}

// secondsRetryAfter converts a provider's retry_after seconds field.
func secondsRetryAfter(secs int64) time.Duration {
	if secs <= 0 {
		return 0
	}
	return min(time.Duration(min(secs, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
}

const (
	maxResponseRead    = 64 << 10 // bytes of a response body read at most
	maxResponseSummary = 512      // bytes of it kept in Result.Response
)

// readCapped reads at most maxResponseRead bytes of body. The rest is left
// unread: the connection is then not reused, which is the right trade for an
// endpoint that answers with megabytes.
func readCapped(body io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(body, maxResponseRead))
}

// summarize turns a response body into Result.Response: secrets replaced,
// whitespace collapsed, cut to maxResponseSummary bytes on a rune boundary.
func summarize(body []byte, secrets ...string) string {
	s := scrub(string(body), secrets...)
	s = strings.Join(strings.Fields(s), " ")
	return truncateUTF8(s, maxResponseSummary)
}

// scrub replaces every non-empty secret in s.
func scrub(s string, secrets ...string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune, and makes
// the result valid UTF-8.
func truncateUTF8(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// truncateRunes cuts s to at most n runes, marking the cut with an ellipsis;
// chat APIs reject over-long texts outright (Telegram and WhatsApp: 4096).
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// redactedError hides secrets that an underlying error's text may contain
// (net/http puts the request URL, and with it Telegram's bot token, in
// *url.Error). Unwrap exposes only the cause with the URL layer removed.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// Options configure the providers; cmd fills them from config.
type Options struct {
	SMTPURL  string // SMTP_URL: smtp://[user:pass@]host[:port][?starttls=required] or smtps://…
	SMTPFrom string // SMTP_FROM: default From address of email channels

	TelegramBase string // TELEGRAM_API_BASE; default https://api.telegram.org
	WhatsAppBase string // WHATSAPP_API_BASE; default https://graph.facebook.com/v21.0

	// WebhookAllowPrivate lets webhooks (and per-channel SMTP servers)
	// reach loopback, private and other non-public addresses. Development only.
	WebhookAllowPrivate bool

	// HTTPTimeout bounds one provider call, connect to last byte (SMTP:
	// connect, then each command). Default 15s.
	HTTPTimeout time.Duration

	// WrapTransport, when set, wraps the transport of every HTTP provider
	// (webhooks, Telegram, WhatsApp): cmd passes tracing.Transport, which
	// traces each request and sends its traceparent.
	WrapTransport func(http.RoundTripper) http.RoundTripper
}

// Defaults applied by NewProviders.
const (
	DefaultTelegramBase = "https://api.telegram.org"
	DefaultWhatsAppBase = "https://graph.facebook.com/v21.0"
	DefaultHTTPTimeout  = 15 * time.Second
)

// Providers holds one Provider per channel kind. It is safe for concurrent
// use and meant to be built once per process.
type Providers struct {
	callTimeout time.Duration
	webhook     *webhookProvider
	telegram    *telegramProvider
	whatsapp    *whatsAppProvider
	email       *emailProvider
}

// NewProviders builds the providers. Options are checked lazily: a bad
// SMTPURL fails each email send permanently (cmd rejects it at start with
// ValidateSMTPURL).
func NewProviders(opts Options) *Providers {
	if opts.HTTPTimeout <= 0 {
		opts.HTTPTimeout = DefaultHTTPTimeout
	}
	if opts.TelegramBase == "" {
		opts.TelegramBase = DefaultTelegramBase
	}
	if opts.WhatsAppBase == "" {
		opts.WhatsAppBase = DefaultWhatsAppBase
	}
	// Telegram and WhatsApp go to operator-configured bases, so they use an
	// ordinary client (honouring HTTPS_PROXY); webhooks get a guarded one.
	apiClient := &http.Client{
		Timeout: opts.HTTPTimeout,
		Transport: opts.wrap(&http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		}),
	}
	return &Providers{
		callTimeout: opts.HTTPTimeout,
		webhook:     newWebhookProvider(opts),
		telegram:    &telegramProvider{base: strings.TrimRight(opts.TelegramBase, "/"), client: apiClient},
		whatsapp:    &whatsAppProvider{base: strings.TrimRight(opts.WhatsAppBase, "/"), client: apiClient},
		email:       newEmailProvider(opts),
	}
}

// wrap applies WrapTransport, if any, to a provider's transport.
func (o Options) wrap(rt http.RoundTripper) http.RoundTripper {
	if o.WrapTransport == nil {
		return rt
	}
	return o.WrapTransport(rt)
}

// timeout is how long one provider call may take.
func (p *Providers) timeout() time.Duration { return p.callTimeout }

// For returns the provider of kind.
func (p *Providers) For(kind string) (Provider, error) {
	switch kind {
	case KindWebhook:
		return p.webhook, nil
	case KindTelegram:
		return p.telegram, nil
	case KindWhatsApp:
		return p.whatsapp, nil
	case KindEmail:
		return p.email, nil
	}
	return nil, Permanent(fmt.Errorf("unknown channel kind %q", kind))
}

// Send sends msg through the provider of cfg.Kind.
func (p *Providers) Send(ctx context.Context, cfg ChannelConfig, sec Secrets, msg Message) (Result, error) {
	prov, err := p.For(cfg.Kind)
	if err != nil {
		return Result{}, err
	}
	return prov.Send(ctx, cfg, sec, msg)
}

// checkKind verifies that cfg and sec describe a channel of kind and that
// both carry that kind's settings.
func checkKind(kind string, cfg ChannelConfig, sec Secrets) error {
	if cfg.Kind != kind || sec.Kind != kind {
		return Permanent(fmt.Errorf("channel kind mismatch: provider %s, config %q, secrets %q", kind, cfg.Kind, sec.Kind))
	}
	if !cfg.present() {
		return Permanent(fmt.Errorf("%s channel has no config", kind))
	}
	if !sec.Provided() {
		return Permanent(fmt.Errorf("%s channel has no secrets", kind))
	}
	return nil
}

// ChannelConfig is the validated, non-secret configuration of one channel.
// Exactly the pointer matching Kind is set. It marshals to the kind's wire
// shape (what the API returns and the channels table stores); load a stored
// one back with ValidateConfig(kind, stored, secrets, false).
type ChannelConfig struct {
	Kind     string
	Webhook  *WebhookConfig
	Telegram *TelegramConfig
	WhatsApp *WhatsAppConfig
	Email    *EmailConfig
	// RateLimit, any kind's config.rateLimit, caps the channel's sends
	// (flow.go); nil: no cap.
	RateLimit *RateLimit
}

// WebhookConfig is config of a webhook channel: {"url"}.
type WebhookConfig struct {
	URL string `json:"url"`
}

// TelegramConfig is config of a telegram channel: {"chatId","parseMode"?}.
// ChatID is kept as a string: a numeric id (input may be a JSON number) or
// an @channelusername.
type TelegramConfig struct {
	ChatID    string `json:"chatId"`
	ParseMode string `json:"parseMode,omitempty"` // "", MarkdownV2, HTML or Markdown
}

// WhatsAppConfig is config of a whatsapp channel:
// {"phoneNumberId","to","template"?:{"name","language"}}. Without Template
// the message is sent as text, which WhatsApp only delivers inside a
// 24-hour customer service window; outside it an approved template is needed.
type WhatsAppConfig struct {
	PhoneNumberID string            `json:"phoneNumberId"`
	To            string            `json:"to"`
	Template      *WhatsAppTemplate `json:"template,omitempty"`
}

// WhatsAppTemplate names an approved message template.
type WhatsAppTemplate struct {
	Name     string `json:"name"`
	Language string `json:"language"` // e.g. en_US
}

// EmailConfig is config of an email channel:
// {"to":[…],"subject"?,"smtpUrl"?,"from"?}. SMTPURL overrides SMTP_URL for
// this channel; it never carries a password (that is secrets.smtpPassword).
type EmailConfig struct {
	To      []string `json:"to"`
	Subject string   `json:"subject,omitempty"`
	SMTPURL string   `json:"smtpUrl,omitempty"`
	From    string   `json:"from,omitempty"`
}

// MarshalJSON writes the wire shape of the kind's config, with rateLimit
// when set.
func (c ChannelConfig) MarshalJSON() ([]byte, error) {
	var b []byte
	var err error
	switch {
	case c.Kind == KindWebhook && c.Webhook != nil:
		b, err = json.Marshal(c.Webhook)
	case c.Kind == KindTelegram && c.Telegram != nil:
		b, err = json.Marshal(c.Telegram)
	case c.Kind == KindWhatsApp && c.WhatsApp != nil:
		b, err = json.Marshal(c.WhatsApp)
	case c.Kind == KindEmail && c.Email != nil:
		b, err = json.Marshal(c.Email)
	default:
		return nil, fmt.Errorf("marshal channel config: no %q settings", c.Kind)
	}
	if err != nil {
		return nil, err
	}
	return withRateLimit(b, c.RateLimit)
}

func (c ChannelConfig) present() bool {
	switch c.Kind {
	case KindWebhook:
		return c.Webhook != nil
	case KindTelegram:
		return c.Telegram != nil
	case KindWhatsApp:
		return c.WhatsApp != nil
	case KindEmail:
		return c.Email != nil
	}
	return false
}

// Secrets are the write-only credentials of one channel. Exactly the pointer
// matching Kind is set, or none when an update left the secrets out (see
// Provided). MarshalJSON writes the wire shape — the plaintext to seal with
// secretbox — while String, GoString and LogValue redact, so a stray log
// line or %v does not leak them.
type Secrets struct {
	Kind string
	// Generated reports that ValidateConfig generated Webhook.SigningSecret
	// (a webhook created without one): return it once, in the create
	// response, and never again.
	Generated bool

	Webhook  *WebhookSecrets
	Telegram *TelegramSecrets
	WhatsApp *WhatsAppSecrets
	Email    *EmailSecrets
}

// WebhookSecrets are a webhook channel's secrets:
// {"signingSecret","previousSigningSecrets"?}. Each secret is
// "whsec_" + base64 of 24–64 random bytes. Deliveries are signed with
// SigningSecret and every previous secret (space-separated v1 signatures),
// so receivers can rotate without a gap; drop the old ones once they have.
type WebhookSecrets struct {
	SigningSecret          string   `json:"signingSecret"`
	PreviousSigningSecrets []string `json:"previousSigningSecrets,omitempty"`
}

// TelegramSecrets are a telegram channel's secrets: {"botToken"}.
type TelegramSecrets struct {
	BotToken string `json:"botToken"`
}

// WhatsAppSecrets are a whatsapp channel's secrets: {"accessToken"} (a
// Cloud API system-user token).
type WhatsAppSecrets struct {
	AccessToken string `json:"accessToken"`
}

// EmailSecrets are an email channel's secrets: {"smtpPassword"?}, the
// password for the user of the channel's smtpUrl.
type EmailSecrets struct {
	SMTPPassword string `json:"smtpPassword,omitempty"`
}

// Provided reports whether s carries the kind's secrets. ValidateConfig
// returns unprovided Secrets for an update that left "secrets" out: keep the
// stored ones.
func (s Secrets) Provided() bool {
	switch s.Kind {
	case KindWebhook:
		return s.Webhook != nil
	case KindTelegram:
		return s.Telegram != nil
	case KindWhatsApp:
		return s.WhatsApp != nil
	case KindEmail:
		return s.Email != nil
	}
	return false
}

// MarshalJSON writes the wire shape of the kind's secrets, in clear: only
// for sealing.
func (s Secrets) MarshalJSON() ([]byte, error) {
	switch {
	case s.Kind == KindWebhook && s.Webhook != nil:
		return json.Marshal(s.Webhook)
	case s.Kind == KindTelegram && s.Telegram != nil:
		return json.Marshal(s.Telegram)
	case s.Kind == KindWhatsApp && s.WhatsApp != nil:
		return json.Marshal(s.WhatsApp)
	case s.Kind == KindEmail && s.Email != nil:
		return json.Marshal(s.Email)
	}
	return nil, fmt.Errorf("marshal channel secrets: no %q secrets", s.Kind)
}

// String, GoString and LogValue redact: secrets never reach logs or %v.
func (s Secrets) String() string           { return "notify.Secrets{" + s.Kind + " [redacted]}" }
func (s Secrets) GoString() string         { return s.String() }
func (s Secrets) LogValue() slog.Value     { return slog.StringValue("[redacted]") }
func (s WebhookSecrets) String() string    { return "[redacted]" }
func (s WebhookSecrets) GoString() string  { return "[redacted]" }
func (s TelegramSecrets) String() string   { return "[redacted]" }
func (s TelegramSecrets) GoString() string { return "[redacted]" }
func (s WhatsAppSecrets) String() string   { return "[redacted]" }
func (s WhatsAppSecrets) GoString() string { return "[redacted]" }
func (s EmailSecrets) String() string      { return "[redacted]" }
func (s EmailSecrets) GoString() string    { return "[redacted]" }

// ValidateConfig checks a channel's kind, config and secrets as the API
// receives them and returns them typed. Problems come back together as one
// apperr.Invalid("validation_failed") whose fields name JSON paths
// ("kind", "config.url", "config.to[1]", "secrets.botToken"); unknown fields
// are rejected.
//
// config is required. secrets is required when creating; on an update an
// absent or null secrets gives Secrets with Provided() false (keep the stored
// ones). A webhook created without a signingSecret gets a generated one and
// Secrets.Generated set.
//
// It also loads stored channels: ValidateConfig(kind, storedConfig,
// openedSecrets, false).
func ValidateConfig(kind string, config json.RawMessage, secrets json.RawMessage, creating bool) (ChannelConfig, Secrets, error) {
	v := &validator{}
	cfg := ChannelConfig{Kind: kind}
	sec := Secrets{Kind: kind}

	cobj := v.object(config, "config", true)
	sobj := v.object(secrets, "secrets", false)
	secretsGiven := sobj != nil
	if !secretsGiven {
		sobj = map[string]json.RawMessage{}
	}

	switch kind {
	case KindWebhook:
		if cobj != nil {
			v.allow(cobj, "config", "url", "rateLimit")
			cfg.Webhook = &WebhookConfig{URL: v.webhookURL(cobj)}
		}
		if secretsGiven || creating {
			v.allow(sobj, "secrets", "signingSecret", "previousSigningSecrets")
			ws := &WebhookSecrets{}
			if s, ok := v.str(sobj, "secrets", "signingSecret"); ok {
				v.signingSecret(s, "secrets.signingSecret")
				ws.SigningSecret = s
			} else if creating {
				gen, err := GenerateSigningSecret()
				if err != nil {
					return ChannelConfig{}, Secrets{}, fmt.Errorf("generate signing secret: %w", err)
				}
				ws.SigningSecret = gen
				sec.Generated = true
			} else {
				v.add("secrets.signingSecret", "is required")
			}
			ws.PreviousSigningSecrets = v.previousSecrets(sobj)
			sec.Webhook = ws
		}
	case KindTelegram:
		if cobj != nil {
			v.allow(cobj, "config", "chatId", "parseMode", "rateLimit")
			tc := &TelegramConfig{ChatID: v.chatID(cobj)}
			if s, ok := v.str(cobj, "config", "parseMode"); ok {
				switch s {
				case "MarkdownV2", "HTML", "Markdown":
					tc.ParseMode = s
				default:
					v.add("config.parseMode", "must be one of MarkdownV2, HTML, Markdown")
				}
			}
			cfg.Telegram = tc
		}
		if secretsGiven || creating {
			v.allow(sobj, "secrets", "botToken")
			tok := v.required(sobj, "secrets", "botToken")
			if tok != "" && !botTokenRe.MatchString(tok) {
				v.add("secrets.botToken", "must look like 123456:ABC-DEF… (the token BotFather gave)")
			}
			sec.Telegram = &TelegramSecrets{BotToken: tok}
		}
	case KindWhatsApp:
		if cobj != nil {
			v.allow(cobj, "config", "phoneNumberId", "to", "template", "rateLimit")
			wc := &WhatsAppConfig{
				PhoneNumberID: v.required(cobj, "config", "phoneNumberId"),
				To:            v.required(cobj, "config", "to"),
			}
			if wc.PhoneNumberID != "" && !phoneNumberIDRe.MatchString(wc.PhoneNumberID) {
				v.add("config.phoneNumberId", "must be the numeric phone number id")
			}
			if wc.To != "" && !phoneRe.MatchString(wc.To) {
				v.add("config.to", "must be a phone number in international format, digits only (e.g. +4915112345678)")
			}
			if tobj := v.object(cobj["template"], "config.template", false); tobj != nil {
				v.allow(tobj, "config.template", "name", "language")
				t := &WhatsAppTemplate{
					Name:     v.required(tobj, "config.template", "name"),
					Language: v.required(tobj, "config.template", "language"),
				}
				if t.Name != "" && !templateNameRe.MatchString(t.Name) {
					v.add("config.template.name", "must be lowercase letters, digits and underscores")
				}
				if t.Language != "" && !languageRe.MatchString(t.Language) {
					v.add("config.template.language", "must be a language code such as en or en_US")
				}
				wc.Template = t
			}
			cfg.WhatsApp = wc
		}
		if secretsGiven || creating {
			v.allow(sobj, "secrets", "accessToken")
			tok := v.required(sobj, "secrets", "accessToken")
			if tok != "" && (len(tok) > 4096 || strings.ContainsFunc(tok, isSpaceOrControl)) {
				v.add("secrets.accessToken", "must be a token without spaces, at most 4096 characters")
			}
			sec.WhatsApp = &WhatsAppSecrets{AccessToken: tok}
		}
	case KindEmail:
		// A password only makes sense with a per-channel smtpUrl naming a user.
		var smtpUser string
		smtpUserKnown := cobj != nil
		if cobj != nil {
			v.allow(cobj, "config", "to", "subject", "smtpUrl", "from", "rateLimit")
			ec := &EmailConfig{To: v.emailTo(cobj)}
			if s, ok := v.str(cobj, "config", "subject"); ok {
				if len(s) > 255 || strings.ContainsAny(s, "\r\n") {
					v.add("config.subject", "must be one line of at most 255 characters")
				}
				ec.Subject = s
			}
			if s, ok := v.str(cobj, "config", "smtpUrl"); ok {
				set, err := parseSMTPURL(s, false)
				if err != nil {
					v.add("config.smtpUrl", err.Error())
					smtpUserKnown = false // reported already
				}
				ec.SMTPURL = s
				smtpUser = set.user
			}
			if s, ok := v.str(cobj, "config", "from"); ok {
				if _, err := mail.ParseAddress(s); err != nil {
					v.add("config.from", "must be an email address")
				}
				ec.From = s
			}
			cfg.Email = ec
		}
		if secretsGiven || creating {
			v.allow(sobj, "secrets", "smtpPassword")
			es := &EmailSecrets{}
			if s, ok := v.str(sobj, "secrets", "smtpPassword"); ok {
				switch {
				case len(s) > 1024:
					v.add("secrets.smtpPassword", "must be at most 1024 characters")
				case s != "" && smtpUserKnown && smtpUser == "":
					v.add("secrets.smtpPassword", "needs config.smtpUrl with a user name")
				}
				es.SMTPPassword = s
			}
			sec.Email = es
		}
	default:
		v.add("kind", "must be one of email, telegram, whatsapp, webhook")
	}
	if cobj != nil {
		cfg.RateLimit = v.rateLimit(cobj)
	}

	if len(v.fields) > 0 {
		return ChannelConfig{}, Secrets{}, apperr.Invalid("validation_failed", "The channel is invalid.", v.fields...)
	}
	return cfg, sec, nil
}

// GenerateSigningSecret returns a new webhook signing secret:
// "whsec_" + base64 of 24 random bytes.
func GenerateSigningSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return signingSecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

const signingSecretPrefix = "whsec_"

var (
	botTokenRe      = regexp.MustCompile(`^[0-9]{1,20}:[A-Za-z0-9_-]{20,100}$`)
	chatUsernameRe  = regexp.MustCompile(`^@[A-Za-z][A-Za-z0-9_]{3,31}$`)
	phoneNumberIDRe = regexp.MustCompile(`^[0-9]{1,32}$`)
	phoneRe         = regexp.MustCompile(`^\+?[1-9][0-9]{6,14}$`)
	templateNameRe  = regexp.MustCompile(`^[a-z0-9_]{1,512}$`)
	languageRe      = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z]{2})?$`)
)

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

const maxEmailRecipients = 50

// validator collects field errors so one response names every problem.
type validator struct {
	fields []apperr.FieldError
}

func (v *validator) add(field, msg string) {
	v.fields = append(v.fields, apperr.FieldError{Field: field, Message: msg})
}

func isNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

// object decodes raw as a JSON object. Absent or null gives nil, an error
// when required.
func (v *validator) object(raw json.RawMessage, path string, required bool) map[string]json.RawMessage {
	if isNull(raw) {
		if required {
			v.add(path, "is required")
		}
		return nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		v.add(path, "must be an object")
		return nil
	}
	return obj
}

// allow reports every key of obj not in keys, in sorted order.
func (v *validator) allow(obj map[string]json.RawMessage, path string, keys ...string) {
	var unknown []string
	for k := range obj {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		v.add(path+"."+k, "unknown field")
	}
}

// str returns obj[key] when it is a string; absent or null gives ok false,
// any other type an error.
func (v *validator) str(obj map[string]json.RawMessage, path, key string) (string, bool) {
	raw, ok := obj[key]
	if !ok || isNull(raw) {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		v.add(path+"."+key, "must be a string")
		return "", false
	}
	return s, true
}

// required returns the trimmed-nonempty string obj[key] or records an error.
func (v *validator) required(obj map[string]json.RawMessage, path, key string) string {
	s, ok := v.str(obj, path, key)
	if !ok {
		if _, present := obj[key]; !present || isNull(obj[key]) {
			v.add(path+"."+key, "is required")
		}
		return ""
	}
	if strings.TrimSpace(s) == "" {
		v.add(path+"."+key, "must not be empty")
		return ""
	}
	return s
}

func (v *validator) webhookURL(obj map[string]json.RawMessage) string {
	s := v.required(obj, "config", "url")
	if s == "" {
		return ""
	}
	if err := checkWebhookURL(s); err != nil {
		v.add("config.url", err.Error())
	}
	return s
}

// checkWebhookURL is the static part of the webhook target policy; the
// address policy is enforced at dial time.
func checkWebhookURL(s string) error {
	if len(s) > 2048 {
		return errors.New("must be at most 2048 characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("must be an absolute http or https URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an absolute http or https URL")
	}
	if u.Hostname() == "" {
		return errors.New("must name a host")
	}
	if u.User != nil {
		return errors.New("must not contain credentials; receivers verify the webhook signature instead")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("has an invalid port")
		}
	}
	return nil
}

func (v *validator) signingSecret(s, path string) {
	if err := checkSigningSecret(s); err != nil {
		v.add(path, err.Error())
	}
}

func checkSigningSecret(s string) error {
	if _, err := decodeSigningSecret(s); err != nil {
		return errors.New(`must be "whsec_" followed by base64 of 24 to 64 bytes`)
	}
	return nil
}

// decodeSigningSecret strips "whsec_" and base64-decodes the key (padded
// or not).
func decodeSigningSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, signingSecretPrefix)
	if !ok {
		return nil, errors.New("missing whsec_ prefix")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return nil, errors.New("not base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, errors.New("key length out of range")
	}
	return key, nil
}

const maxPreviousSecrets = 3

func (v *validator) previousSecrets(obj map[string]json.RawMessage) []string {
	raw, ok := obj["previousSigningSecrets"]
	if !ok || isNull(raw) {
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		v.add("secrets.previousSigningSecrets", "must be an array of strings")
		return nil
	}
	if len(list) > maxPreviousSecrets {
		v.add("secrets.previousSigningSecrets", fmt.Sprintf("must have at most %d entries", maxPreviousSecrets))
		return nil
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		path := fmt.Sprintf("secrets.previousSigningSecrets[%d]", i)
		var s string
		if err := json.Unmarshal(item, &s); err != nil {
			v.add(path, "must be a string")
			continue
		}
		v.signingSecret(s, path)
		out = append(out, s)
	}
	return out
}

// chatID accepts a numeric id as a JSON number or string, or an
// @channelusername.
func (v *validator) chatID(obj map[string]json.RawMessage) string {
	raw, ok := obj["chatId"]
	if !ok || isNull(raw) {
		v.add("config.chatId", "is required")
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var val any
	if err := dec.Decode(&val); err == nil {
		var id string
		switch x := val.(type) {
		case string:
			id = x
		case json.Number:
			id = x.String()
		}
		if _, err := strconv.ParseInt(id, 10, 64); err == nil || chatUsernameRe.MatchString(id) {
			return id
		}
	}
	v.add("config.chatId", "must be a numeric chat id or an @channelusername")
	return ""
}

func (v *validator) emailTo(obj map[string]json.RawMessage) []string {
	raw, ok := obj["to"]
	if !ok || isNull(raw) {
		v.add("config.to", "is required")
		return nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		v.add("config.to", "must be an array of email addresses")
		return nil
	}
	switch {
	case len(list) == 0:
		v.add("config.to", "must name at least one recipient")
		return nil
	case len(list) > maxEmailRecipients:
		v.add("config.to", fmt.Sprintf("must name at most %d recipients", maxEmailRecipients))
		return nil
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		path := fmt.Sprintf("config.to[%d]", i)
		var s string
		if err := json.Unmarshal(item, &s); err != nil {
			v.add(path, "must be a string")
			continue
		}
		if _, err := mail.ParseAddress(s); err != nil {
			v.add(path, "must be an email address")
			continue
		}
		out = append(out, s)
	}
	return out
}
