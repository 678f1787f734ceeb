package notify

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

// Channel kinds. They are stored in rows and sent on the wire: never rename one.
const (
	KindEmail    = "email"
	KindTelegram = "telegram"
	KindWhatsApp = "whatsapp"
	KindWebhook  = "webhook"
)

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
	settings := c.settings()
	if settings == nil {
		return nil, fmt.Errorf("marshal channel config: no %q settings", c.Kind)
	}
	b, err := json.Marshal(settings)
	if err != nil {
		return nil, err
	}
	return withRateLimit(b, c.RateLimit)
}

func (c ChannelConfig) present() bool { return c.settings() != nil }

// settings is the config of c's kind, or nil when its pointer is not set.
func (c ChannelConfig) settings() any {
	return ofKind(c.Kind, c.Webhook, c.Telegram, c.WhatsApp, c.Email)
}

// ofKind is the one of a ChannelConfig's or a Secrets' per-kind pointers
// that matches kind, or nil when that one is not set: both types hold
// exactly that pointer.
func ofKind[W, T, A, E any](kind string, webhook *W, telegram *T, whatsApp *A, email *E) any {
	switch {
	case kind == KindWebhook && webhook != nil:
		return webhook
	case kind == KindTelegram && telegram != nil:
		return telegram
	case kind == KindWhatsApp && whatsApp != nil:
		return whatsApp
	case kind == KindEmail && email != nil:
		return email
	}
	return nil
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
func (s Secrets) Provided() bool { return s.secrets() != nil }

// MarshalJSON writes the wire shape of the kind's secrets, in clear: only
// for sealing.
func (s Secrets) MarshalJSON() ([]byte, error) {
	secrets := s.secrets()
	if secrets == nil {
		return nil, fmt.Errorf("marshal channel secrets: no %q secrets", s.Kind)
	}
	return json.Marshal(secrets)
}

// secrets is the secrets of s's kind, or nil when its pointer is not set.
func (s Secrets) secrets() any {
	return ofKind(s.Kind, s.Webhook, s.Telegram, s.WhatsApp, s.Email)
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
