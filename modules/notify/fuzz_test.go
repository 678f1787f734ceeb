package notify

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/signalops/signalops/platform/apperr"
)

// FuzzValidateConfig: whatever a client sends as a channel, ValidateConfig
// does not panic; a refusal is a validation_failed problem naming fields
// under kind/config/secrets and quoting no secret; an accepted channel is
// one the store can load back (ValidateConfig of its own wire shape, as
// Service.open does) unchanged, and its secrets never print.
func FuzzValidateConfig(f *testing.F) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	for _, seed := range []struct {
		kind, config, secrets string
		creating              bool
	}{
		{KindWebhook, `{"url":"https://example.com/hook"}`, `{"signingSecret":"` + secret + `"}`, true},
		{KindWebhook, `{"url":"https://example.com/hook"}`, `null`, true},
		{KindWebhook, `{"url":"https://example.com/hook"}`, ``, false},
		{KindWebhook, `{"url":"ftp://x"}`, `{"signingSecret":"whsec_short","previousSigningSecrets":["` + secret + `","a","b","c"]}`, true},
		{KindWebhook, `{"url":"http://[::1]:0/"}`, `{"signingSecret":1}`, true},
		{KindTelegram, `{"chatId":-1001234567890,"parseMode":"MarkdownV2"}`, `{"botToken":"123456:ABCdefGHIjklMNOpqrSTUvwxYZ012345678"}`, true},
		{KindTelegram, `{"chatId":"@channel_name"}`, `{"botToken":"x y"}`, true},
		{KindWhatsApp, `{"phoneNumberId":"1234567890","to":"+4915112345678","template":{"name":"order_update","language":"en_US"}}`, `{"accessToken":"EAAG-token"}`, true},
		{KindEmail, `{"to":["a@example.com","B <b@example.com>"],"subject":"Hi","smtpUrl":"smtps://user@mail.example.com","from":"x@example.com"}`, `{"smtpPassword":"pw"}`, true},
		{KindEmail, `{"to":[]}`, `{"smtpPassword":"pw"}`, true},
		{"", `{}`, `{}`, false},
		{KindEmail, `[`, `]`, true},
	} {
		f.Add(seed.kind, []byte(seed.config), []byte(seed.secrets), seed.creating)
	}
	f.Fuzz(func(t *testing.T, kind string, config, secrets []byte, creating bool) {
		cfg, sec, err := ValidateConfig(kind, config, secrets, creating)
		secretValues := fuzzSecretStrings(secrets)
		if err != nil {
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.KindInvalid || e.Code != "validation_failed" || e.Detail == "" || len(e.Fields) == 0 {
				t.Fatalf("error is not a validation problem: %T %v", err, err)
			}
			for _, fe := range e.Fields {
				if fe.Message == "" || !(fe.Field == "kind" || hasAnyPrefix(fe.Field, "config", "secrets")) {
					t.Fatalf("bad field error %+v", fe)
				}
				for _, s := range secretValues {
					if strings.Contains(fe.Message, s) {
						t.Fatalf("field error %+v quotes a secret", fe)
					}
				}
			}
			if cfg.Kind != "" || sec.Kind != "" {
				t.Fatalf("values returned with an error: %+v", cfg)
			}
			return
		}

		switch kind {
		case KindWebhook, KindTelegram, KindWhatsApp, KindEmail:
		default:
			t.Fatalf("kind %q accepted", kind)
		}
		if cfg.Kind != kind || sec.Kind != kind || !cfg.present() {
			t.Fatalf("kind %q gave config %+v, secrets kind %q", kind, cfg, sec.Kind)
		}
		secretsGiven := !isNull(secrets)
		if (secretsGiven || creating) != sec.Provided() {
			t.Fatalf("secrets given %v, creating %v, provided %v", secretsGiven, creating, sec.Provided())
		}
		if sec.Generated && (kind != KindWebhook || !creating) {
			t.Fatalf("generated secret for %s creating=%v", kind, creating)
		}
		if kind == KindWebhook {
			if err := checkWebhookURL(cfg.Webhook.URL); err != nil {
				t.Fatalf("accepted webhook url %q: %v", cfg.Webhook.URL, err)
			}
			if sec.Provided() {
				if _, err := SignWebhook("msg_x", 1, nil, append([]string{sec.Webhook.SigningSecret}, sec.Webhook.PreviousSigningSecrets...)...); err != nil {
					t.Fatalf("accepted signing secrets do not sign: %v", err)
				}
			}
		}

		// What is stored loads back the same.
		storedCfg, err := json.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal config: %v", err)
		}
		storedSec := []byte("null")
		if sec.Provided() {
			if storedSec, err = json.Marshal(sec); err != nil {
				t.Fatalf("marshal secrets: %v", err)
			}
			secretValues = append(secretValues, fuzzSecretStrings(storedSec)...)
		}
		cfg2, sec2, err := ValidateConfig(kind, storedCfg, storedSec, false)
		if err != nil {
			t.Fatalf("stored channel %s / secrets does not load back: %v", storedCfg, err)
		}
		sec.Generated = false
		if !reflect.DeepEqual(cfg, cfg2) || !reflect.DeepEqual(sec, sec2) {
			t.Fatalf("channel changed on reload: %+v → %+v", cfg, cfg2)
		}

		// Secrets never print.
		for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
			out := fmt.Sprintf(verb, sec)
			out += fmt.Sprintf(verb, sec.Webhook) + fmt.Sprintf(verb, sec.Telegram) + fmt.Sprintf(verb, sec.WhatsApp) + fmt.Sprintf(verb, sec.Email)
			if sec.Webhook != nil {
				out += fmt.Sprintf(verb, *sec.Webhook)
			}
			for _, s := range secretValues {
				if strings.Contains(out, s) {
					t.Fatalf("%s of secrets prints a secret", verb)
				}
			}
		}
	})
}

// fuzzSecretStrings returns the string values (top level and in arrays) of
// a secrets object that are long enough not to occur by chance.
func fuzzSecretStrings(raw []byte) []string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil {
		return nil
	}
	var out []string
	add := func(r json.RawMessage) {
		var s string
		if json.Unmarshal(r, &s) == nil && len(s) >= 12 {
			out = append(out, s)
		}
	}
	for _, v := range obj {
		add(v)
		var list []json.RawMessage
		if json.Unmarshal(v, &list) == nil {
			for _, item := range list {
				add(item)
			}
		}
	}
	return out
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if s == p || strings.HasPrefix(s, p+".") || strings.HasPrefix(s, p+"[") {
			return true
		}
	}
	return false
}

// FuzzSignWebhook: the webhook-signature header verifies with an HMAC
// computed here from the Standard Webhooks text — key = base64 after
// "whsec_" (padded or not), content = id.timestamp.body — for every secret
// of a rotation; a malformed secret is refused without quoting it.
func FuzzSignWebhook(f *testing.F) {
	f.Add("msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`), []byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), false)
	f.Add("", int64(0), []byte{}, []byte{}, true)
	f.Add("msg_.with.dots", int64(-1), []byte("a.b.c\x00\xff"), bytes.Repeat([]byte{0xff}, 80), true)
	f.Add("msg_1", int64(1<<62), []byte(`{}`), bytes.Repeat([]byte("k"), 47), false)
	f.Fuzz(func(t *testing.T, id string, ts int64, body, key []byte, raw bool) {
		// A valid key is 24–64 bytes; shape the fuzzed bytes into one, and
		// a second, different key for a rotation.
		key = append(bytes.Clone(key), make([]byte, max(24-len(key), 0))...)[:min(max(len(key), 24), 64)]
		other := append([]byte{^key[0]}, key[1:]...)
		enc := base64.StdEncoding
		if raw {
			enc = base64.RawStdEncoding
		}
		secret, previous := "whsec_"+enc.EncodeToString(key), "whsec_"+base64.StdEncoding.EncodeToString(other)

		want := func(k []byte) string {
			mac := hmac.New(sha256.New, k)
			mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
			mac.Write(body)
			return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		}
		sig, err := SignWebhook(id, ts, body, secret)
		if err != nil {
			t.Fatalf("valid secret refused: %v", err)
		}
		if !hmac.Equal([]byte(sig), []byte(want(key))) {
			t.Fatalf("signature %q does not verify (want %q)", sig, want(key))
		}
		sig, err = SignWebhook(id, ts, body, secret, previous)
		if err != nil {
			t.Fatalf("rotation refused: %v", err)
		}
		if got := strings.Split(sig, " "); len(got) != 2 || got[0] != want(key) || got[1] != want(other) {
			t.Fatalf("rotation signatures %q", sig)
		}

		// The same bytes used directly as a secret: accepted only when they
		// are a whsec_ key of the right length, and then sign with it.
		arbitrary := "whsec_" + string(body)
		sig, err = SignWebhook(id, ts, body, arbitrary)
		if err != nil {
			if strings.Contains(err.Error(), arbitrary) {
				t.Fatalf("error quotes the secret: %v", err)
			}
			return
		}
		k, derr := base64.StdEncoding.DecodeString(string(body))
		if derr != nil {
			k, derr = base64.RawStdEncoding.DecodeString(string(body))
		}
		if derr != nil || len(k) < 24 || len(k) > 64 {
			t.Fatalf("malformed secret %q accepted", arbitrary)
		}
		if sig != want(k) {
			t.Fatalf("signature with secret %q does not verify", arbitrary)
		}
	})
}
