package notify

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/signalops/signalops/platform/apperr"
)

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
			v.match("secrets.botToken", tok, botTokenRe, "must look like 123456:ABC-DEF… (the token BotFather gave)")
			sec.Telegram = &TelegramSecrets{BotToken: tok}
		}
	case KindWhatsApp:
		if cobj != nil {
			v.allow(cobj, "config", "phoneNumberId", "to", "template", "rateLimit")
			wc := &WhatsAppConfig{
				PhoneNumberID: v.required(cobj, "config", "phoneNumberId"),
				To:            v.required(cobj, "config", "to"),
			}
			v.match("config.phoneNumberId", wc.PhoneNumberID, phoneNumberIDRe, "must be the numeric phone number id")
			v.match("config.to", wc.To, phoneRe, "must be a phone number in international format, digits only (e.g. +4915112345678)")
			if tobj := v.object(cobj["template"], "config.template", false); tobj != nil {
				v.allow(tobj, "config.template", "name", "language")
				t := &WhatsAppTemplate{
					Name:     v.required(tobj, "config.template", "name"),
					Language: v.required(tobj, "config.template", "language"),
				}
				v.match("config.template.name", t.Name, templateNameRe, "must be lowercase letters, digits and underscores")
				v.match("config.template.language", t.Language, languageRe, "must be a language code such as en or en_US")
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

// match records msg for field when s, given (a missing or empty one is
// reported by required), does not match re.
func (v *validator) match(field, s string, re *regexp.Regexp, msg string) {
	if s != "" && !re.MatchString(s) {
		v.add(field, msg)
	}
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
	v.eachString("secrets.previousSigningSecrets", list, func(path, s string) {
		v.signingSecret(s, path)
		out = append(out, s)
	})
	return out
}

// eachString calls f with each item of the array at path that is a string,
// and that item's path; the others are "must be a string".
func (v *validator) eachString(path string, list []json.RawMessage, f func(path, s string)) {
	for i, item := range list {
		at := fmt.Sprintf("%s[%d]", path, i)
		var s string
		if err := json.Unmarshal(item, &s); err != nil {
			v.add(at, "must be a string")
			continue
		}
		f(at, s)
	}
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
	v.eachString("config.to", list, func(path, s string) {
		if _, err := mail.ParseAddress(s); err != nil {
			v.add(path, "must be an email address")
			return
		}
		out = append(out, s)
	})
	return out
}
