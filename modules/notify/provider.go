package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
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

// reply is what an HTTP provider keeps of a response: its status line,
// header and body (read up to maxResponseRead bytes, then closed).
type reply struct {
	code   int
	status string // "429 Too Many Requests"
	header http.Header
	body   []byte
}

// exchange sends req through client and reads the reply. It fills in the
// attempt's Result as far as it got: Latency (to the end of the capped
// body), StatusCode and Response (the body summarized, secrets scrubbed).
// A failed request sets Latency only and returns http.Client.Do's error for
// the provider to classify and redact.
func exchange(client *http.Client, req *http.Request, secrets ...string) (Result, reply, error) {
	var res Result
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		res.Latency = time.Since(start)
		return res, reply{}, err
	}
	defer resp.Body.Close()
	body, _ := readCapped(resp.Body) // the status decides; a cut-off body only shortens the summary
	res.Latency = time.Since(start)
	res.StatusCode = resp.StatusCode
	res.Response = summarize(body, secrets...)
	return res, reply{code: resp.StatusCode, status: resp.Status, header: resp.Header, body: body}, nil
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
