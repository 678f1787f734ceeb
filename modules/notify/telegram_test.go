package notify

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// fakeBotAPI is shaped like the Telegram Bot API: POST /bot<token>/sendMessage
// with a JSON body, answering {"ok":true,"result":{...}} or
// {"ok":false,"error_code":…,"description":…,"parameters":{…}}.
type fakeBotAPI struct {
	t     *testing.T
	token string
	// reply, when set, answers instead of a successful send.
	reply func() (int, string)

	mu       sync.Mutex
	requests []map[string]any
}

func (f *fakeBotAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: expected a JSON POST"}`)
		return
	}
	if r.URL.Path != "/bot"+f.token+"/sendMessage" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":401,"description":"Unauthorized"}`)
		return
	}
	var body map[string]any
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request: invalid JSON"}`)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, body)
	n := len(f.requests)
	f.mu.Unlock()
	if f.reply != nil {
		status, resp := f.reply()
		w.WriteHeader(status)
		_, _ = io.WriteString(w, resp)
		return
	}
	chat, _ := json.Marshal(body["chat_id"])
	text, _ := json.Marshal(body["text"])
	_, _ = fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"from":{"id":1,"is_bot":true,"first_name":"SignalOps"},"chat":{"id":%s,"type":"supergroup"},"date":1767225600,"text":%s}}`,
		4200+n, chat, text)
}

func (f *fakeBotAPI) got() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]any(nil), f.requests...)
}

func TestTelegram(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		api  *fakeBotAPI
		srv  *httptest.Server
		prov Provider
	}

	setup := func(t *testing.T, reply func() (int, string)) *testBundle {
		t.Helper()
		api := &fakeBotAPI{t: t, token: testBotToken, reply: reply}
		srv := httptest.NewServer(api)
		t.Cleanup(srv.Close)
		prov, err := NewProviders(Options{TelegramBase: srv.URL + "/", HTTPTimeout: 2 * time.Second}).For(KindTelegram)
		require.NoError(t, err)
		return &testBundle{api: api, srv: srv, prov: prov}
	}

	channel := func(t *testing.T, config, token string) (ChannelConfig, Secrets) {
		t.Helper()
		cfg, sec, err := ValidateConfig(KindTelegram, json.RawMessage(config), json.RawMessage(`{"botToken":"`+token+`"}`), true)
		require.NoError(t, err)
		return cfg, sec
	}

	msg := Message{DeliveryID: uuid.New(), EventType: "order.created", Text: "Order 42: 1000 €"}

	t.Run("SendMessage", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, nil)
		cfg, sec := channel(t, `{"chatId":-1001234567890,"parseMode":"HTML"}`, testBotToken)

		res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, "4201", res.ProviderMessageID)
		require.NotContains(t, res.Response, testBotToken)

		got := bundle.api.got()
		require.Len(t, got, 1)
		require.Equal(t, json.Number("-1001234567890"), got[0]["chat_id"], "numeric chat ids go as numbers")
		require.Equal(t, msg.Text, got[0]["text"])
		require.Equal(t, "HTML", got[0]["parse_mode"])
	})

	t.Run("ChannelUsernameAndNoParseMode", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, nil)
		cfg, sec := channel(t, `{"chatId":"@signalops_alerts"}`, testBotToken)

		_, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		got := bundle.api.got()
		require.Len(t, got, 1)
		require.Equal(t, "@signalops_alerts", got[0]["chat_id"])
		require.NotContains(t, got[0], "parse_mode")
	})

	t.Run("LongTextIsCut", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, nil)
		cfg, sec := channel(t, `{"chatId":1}`, testBotToken)
		long := msg
		long.Text = strings.Repeat("ä", 5000)

		_, err := bundle.prov.Send(t.Context(), cfg, sec, long)
		require.NoError(t, err)
		got := bundle.api.got()
		require.Len(t, []rune(got[0]["text"].(string)), 4096)
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()

		for _, tt := range []struct {
			name          string
			status        int
			body          string
			wantPermanent bool
			wantRetry     time.Duration
		}{
			{"FloodWait", 429, `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}`, false, 3 * time.Second},
			{"ChatNotFound", 400, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`, true, 0},
			{"Blocked", 403, `{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}`, true, 0},
			{"MigratedGroup", 400, `{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1009876543210}}`, true, 0},
			{"BadGateway", 502, `<html>502 Bad Gateway</html>`, false, 0},
			{"InternalError", 500, `{"ok":false,"error_code":500,"description":"Internal Server Error"}`, false, 0},
			{"EchoesToken", 400, `{"ok":false,"error_code":400,"description":"Bad Request: token ` + testBotToken + ` rejected"}`, true, 0},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				bundle := setup(t, func() (int, string) { return tt.status, tt.body })
				cfg, sec := channel(t, `{"chatId":1}`, testBotToken)

				res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
				requireRefused(t, res, err, tt.status, tt.wantPermanent, tt.wantRetry, testBotToken)
				if tt.name == "MigratedGroup" {
					require.Contains(t, err.Error(), "-1009876543210")
				}
			})
		}
	})

	t.Run("BadTokenIsPermanent", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, nil)
		wrong := "987654321:ZZZdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
		cfg, sec := channel(t, `{"chatId":1}`, wrong)

		res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.True(t, IsPermanent(err))
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		require.NotContains(t, err.Error(), wrong)
		require.Empty(t, bundle.api.got())
	})

	t.Run("TransportErrorsHideToken", func(t *testing.T) {
		t.Parallel()

		// Connection refused: net/http's *url.Error would quote the URL,
		// and with it the token.
		prov, err := NewProviders(Options{TelegramBase: "http://" + refusedAddr(t), HTTPTimeout: 2 * time.Second}).For(KindTelegram)
		require.NoError(t, err)
		cfg, sec := channel(t, `{"chatId":1}`, testBotToken)

		_, err = prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.False(t, IsPermanent(err))
		require.NotContains(t, err.Error(), testBotToken)
		require.NotContains(t, fmt.Sprintf("%+v", err), testBotToken)

		// Timeout.
		release := make(chan struct{})
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body) // lets the server notice the client hanging up
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(slow.Close)
		t.Cleanup(func() { close(release) })
		prov, err = NewProviders(Options{TelegramBase: slow.URL, HTTPTimeout: 100 * time.Millisecond}).For(KindTelegram)
		require.NoError(t, err)
		_, err = prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.False(t, IsPermanent(err))
		require.NotContains(t, err.Error(), testBotToken)

		// A malformed base URL: url.Parse quotes its input too.
		prov, err = NewProviders(Options{TelegramBase: "http://exa mple.com", HTTPTimeout: time.Second}).For(KindTelegram)
		require.NoError(t, err)
		_, err = prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.NotContains(t, err.Error(), testBotToken)
	})
}
