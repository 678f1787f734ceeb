package notify

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

const testPhoneNumberID = "106540352242922"

// fakeCloudAPI is shaped like the WhatsApp Cloud API: POST
// /{phone-number-id}/messages with a bearer token, answering
// {"messaging_product":"whatsapp","contacts":[…],"messages":[{"id":"wamid…"}]}
// or {"error":{"message","type","code","error_subcode","fbtrace_id"}}.
type fakeCloudAPI struct {
	reply func() (int, http.Header, string)

	mu     sync.Mutex
	bodies []json.RawMessage
}

func (f *fakeCloudAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Header.Get("Authorization") != "Bearer "+testAccessToken {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"Invalid OAuth access token - Cannot parse access token","type":"OAuthException","code":190,"fbtrace_id":"AbC"}}`)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/"+testPhoneNumberID+"/messages" || r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":{"message":"Unsupported post request","type":"GraphMethodException","code":100,"error_subcode":33,"fbtrace_id":"AbC"}}`)
		return
	}
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	n := len(f.bodies)
	f.mu.Unlock()
	if f.reply != nil {
		status, header, resp := f.reply()
		for k, vs := range header {
			w.Header()[k] = vs
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, resp)
		return
	}
	var req struct {
		To string `json:"to"`
	}
	_ = json.Unmarshal(body, &req)
	_, _ = fmt.Fprintf(w, `{"messaging_product":"whatsapp","contacts":[{"input":%q,"wa_id":%q}],"messages":[{"id":"wamid.HBgLNDkxNTExMjM0NTY3OBUCABEYEjAw%d"}]}`, req.To, req.To, n)
}

func (f *fakeCloudAPI) got() []json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]json.RawMessage(nil), f.bodies...)
}

func TestWhatsApp(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		api  *fakeCloudAPI
		prov Provider
	}

	setup := func(t *testing.T, reply func() (int, http.Header, string)) *testBundle {
		t.Helper()
		api := &fakeCloudAPI{reply: reply}
		srv := httptest.NewServer(api)
		t.Cleanup(srv.Close)
		prov, err := NewProviders(Options{WhatsAppBase: srv.URL, HTTPTimeout: 2 * time.Second}).For(KindWhatsApp)
		require.NoError(t, err)
		return &testBundle{api: api, prov: prov}
	}

	channel := func(t *testing.T, config, token string) (ChannelConfig, Secrets) {
		t.Helper()
		cfg, sec, err := ValidateConfig(KindWhatsApp, json.RawMessage(config), json.RawMessage(`{"accessToken":"`+token+`"}`), true)
		require.NoError(t, err)
		return cfg, sec
	}

	textConfig := `{"phoneNumberId":"` + testPhoneNumberID + `","to":"+4915112345678"}`
	templateConfig := `{"phoneNumberId":"` + testPhoneNumberID + `","to":"4915112345678","template":{"name":"order_alert","language":"en_US"}}`
	msg := Message{DeliveryID: uuid.New(), EventType: "order.created", Text: "Order 42: 1000"}

	t.Run("Text", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, nil)
		cfg, sec := channel(t, textConfig, testAccessToken)

		res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "wamid.HBgLNDkxNTExMjM0NTY3OBUCABEYEjAw1", res.ProviderMessageID)
		require.NotContains(t, res.Response, testAccessToken)

		got := bundle.api.got()
		require.Len(t, got, 1)
		require.JSONEq(t, `{"messaging_product":"whatsapp","recipient_type":"individual","to":"4915112345678","type":"text","text":{"body":"Order 42: 1000"}}`, string(got[0]))
	})

	t.Run("Templates", func(t *testing.T) {
		t.Parallel()

		for _, tt := range []struct {
			name   string
			params []string
			want   string // the request body
		}{
			{"WithParams", []string{"42", "1000 €"}, `{"messaging_product":"whatsapp","recipient_type":"individual","to":"4915112345678","type":"template",
				"template":{"name":"order_alert","language":{"code":"en_US"},
				"components":[{"type":"body","parameters":[{"type":"text","text":"42"},{"type":"text","text":"1000 €"}]}]}}`},
			{"TextAsSingleParam", nil, `{"messaging_product":"whatsapp","recipient_type":"individual","to":"4915112345678","type":"template",
				"template":{"name":"order_alert","language":{"code":"en_US"},
				"components":[{"type":"body","parameters":[{"type":"text","text":"Order 42: 1000"}]}]}}`},
			{"WithoutParams", []string{}, `{"messaging_product":"whatsapp","recipient_type":"individual","to":"4915112345678","type":"template",
				"template":{"name":"order_alert","language":{"code":"en_US"}}}`},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				bundle := setup(t, nil)
				cfg, sec := channel(t, templateConfig, testAccessToken)
				m := msg
				m.TemplateParams = tt.params

				res, err := bundle.prov.Send(t.Context(), cfg, sec, m)
				require.NoError(t, err)
				require.NotEmpty(t, res.ProviderMessageID)
				got := bundle.api.got()
				require.Len(t, got, 1)
				require.JSONEq(t, tt.want, string(got[0]))
			})
		}
	})

	t.Run("BadTokenIsPermanent", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, nil)
		wrong := "EAAGwrongtoken"
		cfg, sec := channel(t, textConfig, wrong)

		res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.True(t, IsPermanent(err))
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		require.Contains(t, err.Error(), "190")
		require.NotContains(t, err.Error(), wrong)
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()

		for _, tt := range []struct {
			name          string
			status        int
			header        http.Header
			body          string
			wantPermanent bool
			wantRetry     time.Duration
		}{
			{"Undeliverable", 400, nil, `{"error":{"message":"Message Undeliverable.","type":"OAuthException","code":131026,"error_data":{"messaging_product":"whatsapp","details":"Message Undeliverable."},"fbtrace_id":"x"}}`, true, 0},
			{"TemplateMissing", 404, nil, `{"error":{"message":"(#132001) Template name does not exist in the translation","type":"OAuthException","code":132001,"fbtrace_id":"x"}}`, true, 0},
			{"RateLimitAs400", 400, nil, `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"fbtrace_id":"x"}}`, false, 0},
			{"PairRateLimit", 400, nil, `{"error":{"message":"(#131056) (Business Account, Consumer Account) pair rate limit hit","type":"OAuthException","code":131056,"fbtrace_id":"x"}}`, false, 0},
			{"TooManyRequests", 429, http.Header{"Retry-After": {"5"}}, `{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4,"fbtrace_id":"x"}}`, false, 5 * time.Second},
			{"ServerError", 500, nil, `{"error":{"message":"An unknown error has occurred.","type":"OAuthException","code":1,"fbtrace_id":"x"}}`, false, 0},
			{"ServiceUnavailable", 503, nil, `upstream connect error`, false, 0},
			{"EchoesToken", 400, nil, `{"error":{"message":"bad token ` + testAccessToken + `","type":"OAuthException","code":100}}`, true, 0},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				bundle := setup(t, func() (int, http.Header, string) { return tt.status, tt.header, tt.body })
				cfg, sec := channel(t, textConfig, testAccessToken)

				res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
				requireRefused(t, res, err, tt.status, tt.wantPermanent, tt.wantRetry, testAccessToken)
			})
		}
	})
}
