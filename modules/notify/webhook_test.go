package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// receivedWebhook is one request as a Standard Webhooks receiver saw it.
type receivedWebhook struct {
	ID, Timestamp, Signature, ContentType, UserAgent string
	Body                                             []byte
	VerifiedWith                                     []string // which configured secrets verified
}

// webhookReceiver verifies deliveries the way a receiver following the
// Standard Webhooks spec does — written here from the spec text, not by
// calling the code under test: signed content is "{id}.{timestamp}.{body}",
// the key is the base64-decoded part of the secret after "whsec_", the
// header lists space-separated "v1,<base64 HMAC-SHA256>" signatures, and
// the timestamp must be within 5 minutes of now.
type webhookReceiver struct {
	t       *testing.T
	secrets []string
	status  func(n int) (int, http.Header, string) // response for the n-th request (1-based)

	mu   sync.Mutex
	got  []receivedWebhook
	errs []string
}

func (rcv *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rw := receivedWebhook{
		ID:          r.Header.Get("webhook-id"),
		Timestamp:   r.Header.Get("webhook-timestamp"),
		Signature:   r.Header.Get("webhook-signature"),
		ContentType: r.Header.Get("Content-Type"),
		UserAgent:   r.Header.Get("User-Agent"),
		Body:        body,
	}
	var problems []string
	if r.Method != http.MethodPost {
		problems = append(problems, "method "+r.Method)
	}
	ts, err := strconv.ParseInt(rw.Timestamp, 10, 64)
	if err != nil {
		problems = append(problems, "bad timestamp")
	} else if d := time.Since(time.Unix(ts, 0)); d > 5*time.Minute || d < -5*time.Minute {
		problems = append(problems, "timestamp outside tolerance")
	}
	presented := map[string]bool{}
	for _, s := range strings.Split(rw.Signature, " ") {
		if v, ok := strings.CutPrefix(s, "v1,"); ok {
			presented[v] = true
		}
	}
	for _, secret := range rcv.secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
		if err != nil {
			problems = append(problems, "test secret not base64")
			continue
		}
		mac := hmac.New(sha256.New, key)
		_, _ = io.WriteString(mac, rw.ID+"."+rw.Timestamp+".")
		mac.Write(body)
		if presented[base64.StdEncoding.EncodeToString(mac.Sum(nil))] {
			rw.VerifiedWith = append(rw.VerifiedWith, secret)
		}
	}
	if len(rw.VerifiedWith) == 0 {
		problems = append(problems, "no valid signature")
	}

	rcv.mu.Lock()
	rcv.got = append(rcv.got, rw)
	rcv.errs = append(rcv.errs, problems...)
	n := len(rcv.got)
	rcv.mu.Unlock()

	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "; "), http.StatusUnauthorized)
		return
	}
	status, header, respBody := http.StatusOK, http.Header{}, `{"received":true}`
	if rcv.status != nil {
		status, header, respBody = rcv.status(n)
	}
	for k, vs := range header {
		w.Header()[k] = vs
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, respBody)
}

func (rcv *webhookReceiver) received() ([]receivedWebhook, []string) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]receivedWebhook(nil), rcv.got...), append([]string(nil), rcv.errs...)
}

func webhookChannel(t *testing.T, rawURL string, secrets ...string) (ChannelConfig, Secrets) {
	t.Helper()
	sec := map[string]any{"signingSecret": secrets[0]}
	if len(secrets) > 1 {
		sec["previousSigningSecrets"] = secrets[1:]
	}
	rawSec, err := json.Marshal(sec)
	require.NoError(t, err)
	cfg, s, err := ValidateConfig(KindWebhook, json.RawMessage(`{"url":"`+rawURL+`"}`), rawSec, true)
	require.NoError(t, err)
	return cfg, s
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := GenerateSigningSecret()
	require.NoError(t, err)
	return s
}

func webhookMessage() Message {
	id := uuid.Must(uuid.NewV7())
	return Message{
		DeliveryID: id,
		EventType:  "order.created",
		Text:       "Order 42: 1000",
		Payload:    []byte(`{"type":"order.created","timestamp":"2026-01-02T03:04:05Z","data":{"deliveryId":"` + id.String() + `","message":"Order 42: 1000"}}`),
	}
}

func TestWebhook(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		rcv  *webhookReceiver
		srv  *httptest.Server
		prov *webhookProvider
	}

	setup := func(t *testing.T, secrets []string, status func(int) (int, http.Header, string)) *testBundle {
		t.Helper()
		rcv := &webhookReceiver{t: t, secrets: secrets, status: status}
		srv := httptest.NewServer(rcv)
		t.Cleanup(srv.Close)
		// The receiver is on loopback: allow private targets for the
		// protocol tests; the SSRF tests below use the strict policy.
		return &testBundle{rcv: rcv, srv: srv, prov: newWebhookProvider(Options{WebhookAllowPrivate: true, HTTPTimeout: 5 * time.Second})}
	}

	t.Run("SignedDelivery", func(t *testing.T) {
		t.Parallel()

		secret := newSecret(t)
		bundle := setup(t, []string{secret}, nil)
		cfg, sec := webhookChannel(t, bundle.srv.URL+"/hooks/signalops?x=1", secret)
		msg := webhookMessage()

		res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, res.StatusCode)
		require.Equal(t, `{"received":true}`, res.Response)
		require.Positive(t, res.Latency)

		got, problems := bundle.rcv.received()
		require.Empty(t, problems)
		require.Len(t, got, 1)
		require.Equal(t, msg.Payload, got[0].Body)
		require.Equal(t, "application/json", got[0].ContentType)
		require.Equal(t, "SignalOps-Webhooks/1", got[0].UserAgent)
		require.Equal(t, "msg_"+strings.ReplaceAll(msg.DeliveryID.String(), "-", ""), got[0].ID)
		require.Equal(t, got[0].ID, res.ProviderMessageID)
		require.Equal(t, []string{secret}, got[0].VerifiedWith)
		require.Len(t, strings.Split(got[0].Signature, " "), 1)
	})

	t.Run("StableIDAcrossRetries", func(t *testing.T) {
		t.Parallel()

		secret := newSecret(t)
		bundle := setup(t, []string{secret}, nil)
		cfg, sec := webhookChannel(t, bundle.srv.URL, secret)
		msg := webhookMessage()
		other := webhookMessage()

		for _, m := range []Message{msg, msg, other} {
			_, err := bundle.prov.Send(t.Context(), cfg, sec, m)
			require.NoError(t, err)
		}
		got, problems := bundle.rcv.received()
		require.Empty(t, problems)
		require.Len(t, got, 3)
		require.Equal(t, got[0].ID, got[1].ID, "a retried delivery keeps its webhook-id")
		require.NotEqual(t, got[0].ID, got[2].ID)
	})

	t.Run("RotationSignsWithEverySecret", func(t *testing.T) {
		t.Parallel()

		current, previous := newSecret(t), newSecret(t)
		bundle := setup(t, []string{current, previous}, nil)
		cfg, sec := webhookChannel(t, bundle.srv.URL, current, previous)

		_, err := bundle.prov.Send(t.Context(), cfg, sec, webhookMessage())
		require.NoError(t, err)
		got, problems := bundle.rcv.received()
		require.Empty(t, problems)
		require.Len(t, got, 1)
		require.Len(t, strings.Split(got[0].Signature, " "), 2)
		require.Equal(t, []string{current, previous}, got[0].VerifiedWith, "a receiver holding either secret verifies")
	})

	t.Run("WrongSecretIsRejectedByReceiver", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, []string{newSecret(t)}, nil)
		cfg, sec := webhookChannel(t, bundle.srv.URL, newSecret(t))

		res, err := bundle.prov.Send(t.Context(), cfg, sec, webhookMessage())
		require.True(t, IsPermanent(err), "401 is permanent: %v", err)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
		require.Contains(t, res.Response, "no valid signature")
	})

	t.Run("StatusMapping", func(t *testing.T) {
		t.Parallel()

		for _, tt := range []struct {
			name          string
			status        int
			header        http.Header
			wantPermanent bool
			wantRetry     time.Duration
		}{
			{"ServerError", 500, nil, false, 0},
			{"BadGateway", 502, nil, false, 0},
			{"RequestTimeout", 408, nil, false, 0},
			{"TooManyRequestsSeconds", 429, http.Header{"Retry-After": {"7"}}, false, 7 * time.Second},
			{"TooManyRequestsDate", 429, http.Header{"Retry-After": {time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat)}}, false, 2 * time.Minute},
			{"TooManyRequestsNoHeader", 429, nil, false, 0},
			{"UnavailableRetryAfter", 503, http.Header{"Retry-After": {"30"}}, false, 30 * time.Second},
			{"BadRequest", 400, nil, true, 0},
			{"NotFound", 404, nil, true, 0},
			{"Gone", 410, nil, true, 0},
			{"RedirectNotFollowed", 307, http.Header{"Location": {"https://example.com/elsewhere"}}, true, 0},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				secret := newSecret(t)
				bundle := setup(t, []string{secret}, func(int) (int, http.Header, string) {
					return tt.status, tt.header, "nope"
				})
				cfg, sec := webhookChannel(t, bundle.srv.URL, secret)

				res, err := bundle.prov.Send(t.Context(), cfg, sec, webhookMessage())
				require.Error(t, err)
				require.Equal(t, tt.status, res.StatusCode)
				require.Equal(t, "nope", res.Response)
				require.Equal(t, tt.wantPermanent, IsPermanent(err), err.Error())
				var se *SendError
				require.ErrorAs(t, err, &se)
				require.Equal(t, tt.status, se.StatusCode)
				d, ok := RetryAfter(err)
				require.Equal(t, tt.wantRetry > 0, ok)
				require.InDelta(t, tt.wantRetry.Seconds(), d.Seconds(), 2)
				require.NotContains(t, err.Error(), secret)
			})
		}
	})

	t.Run("LargeResponseIsCapped", func(t *testing.T) {
		t.Parallel()

		secret := newSecret(t)
		bundle := setup(t, []string{secret}, func(int) (int, http.Header, string) {
			return 200, nil, strings.Repeat("é", 200_000)
		})
		cfg, sec := webhookChannel(t, bundle.srv.URL, secret)
		res, err := bundle.prov.Send(t.Context(), cfg, sec, webhookMessage())
		require.NoError(t, err)
		require.LessOrEqual(t, len(res.Response), 512)
		require.True(t, strings.HasPrefix(res.Response, "éé"))
	})

	t.Run("TimeoutIsTransient", func(t *testing.T) {
		t.Parallel()

		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		prov := newWebhookProvider(Options{WebhookAllowPrivate: true, HTTPTimeout: 200 * time.Millisecond})
		secret := newSecret(t)
		cfg, sec := webhookChannel(t, srv.URL, secret)

		res, err := prov.Send(t.Context(), cfg, sec, webhookMessage())
		require.Error(t, err)
		require.False(t, IsPermanent(err))
		var netErr net.Error
		require.ErrorAs(t, err, &netErr)
		require.True(t, netErr.Timeout())
		require.Zero(t, res.StatusCode)
		require.NotContains(t, err.Error(), srv.URL, "the URL layer is dropped")
	})

	t.Run("ConnectionRefusedIsTransient", func(t *testing.T) {
		t.Parallel()

		prov := newWebhookProvider(Options{WebhookAllowPrivate: true, HTTPTimeout: 2 * time.Second})
		cfg, sec := webhookChannel(t, "http://"+refusedAddr(t)+"/", newSecret(t))

		_, err := prov.Send(t.Context(), cfg, sec, webhookMessage())
		require.Error(t, err)
		require.False(t, IsPermanent(err))
	})

	t.Run("InvalidChannelIsPermanent", func(t *testing.T) {
		t.Parallel()

		prov := newWebhookProvider(Options{HTTPTimeout: time.Second})
		cfg, sec := webhookChannel(t, "https://example.com/", newSecret(t))
		_, err := prov.Send(t.Context(), cfg, sec, Message{DeliveryID: uuid.New()})
		require.True(t, IsPermanent(err), "no payload")

		bad := ChannelConfig{Kind: KindWebhook, Webhook: &WebhookConfig{URL: "file:///etc/passwd"}}
		_, err = prov.Send(t.Context(), bad, sec, webhookMessage())
		require.True(t, IsPermanent(err), "scheme")

		_, err = prov.Send(t.Context(), cfg, Secrets{Kind: KindWebhook}, webhookMessage())
		require.True(t, IsPermanent(err), "no secrets")
	})
}

func TestWebhookSSRF(t *testing.T) {
	t.Parallel()

	// hits counts requests that reached a target: every refusal must leave
	// it at zero, proving the request was stopped before it was sent.
	type target struct {
		url  string
		hits *int64
	}
	var mu sync.Mutex
	serve := func(t *testing.T, network, addr string) (target, bool) {
		t.Helper()
		l, err := net.Listen(network, addr)
		if err != nil {
			return target{}, false
		}
		var hits int64
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			hits++
			mu.Unlock()
		}))
		srv.Listener = l
		srv.Start()
		t.Cleanup(srv.Close)
		return target{url: srv.URL, hits: &hits}, true
	}
	count := func(tg target) int64 {
		mu.Lock()
		defer mu.Unlock()
		return *tg.hits
	}
	strict := func() *webhookProvider {
		return newWebhookProvider(Options{HTTPTimeout: 3 * time.Second}) // WebhookAllowPrivate false: production default
	}
	requireRefused := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		require.True(t, IsPermanent(err), err.Error())
		require.ErrorIs(t, err, ErrDestinationNotAllowed)
	}

	loop4, ok := serve(t, "tcp", "127.0.0.1:0")
	require.True(t, ok)

	t.Run("Loopback", func(t *testing.T) {
		t.Parallel()

		cfg, sec := webhookChannel(t, loop4.url+"/hook", newSecret(t))
		_, err := strict().Send(t.Context(), cfg, sec, webhookMessage())
		requireRefused(t, err)
		require.Zero(t, count(loop4))
	})

	t.Run("LocalhostName", func(t *testing.T) {
		t.Parallel()

		u, err := url.Parse(loop4.url)
		require.NoError(t, err)
		cfg, sec := webhookChannel(t, "http://localhost:"+u.Port()+"/hook", newSecret(t))
		_, err = strict().Send(t.Context(), cfg, sec, webhookMessage())
		requireRefused(t, err) // resolved, then refused at dial time
		require.Zero(t, count(loop4))
	})

	t.Run("IPv6Loopback", func(t *testing.T) {
		t.Parallel()

		target := "http://[::1]:9/hook" // nothing listens: refusal must come before the connect
		if loop6, ok := serve(t, "tcp6", "[::1]:0"); ok {
			target = loop6.url + "/hook"
			t.Cleanup(func() { require.Zero(t, count(loop6)) })
		}
		cfg, sec := webhookChannel(t, target, newSecret(t))
		_, err := strict().Send(t.Context(), cfg, sec, webhookMessage())
		requireRefused(t, err)
	})

	t.Run("PrivateAndMetadata", func(t *testing.T) {
		t.Parallel()

		// Unroutable from a test box: without the guard these would time
		// out (transient), not fail at once as refused (permanent).
		for _, raw := range []string{
			"http://10.0.0.1/hook",
			"http://169.254.169.254/latest/meta-data/",
			"http://192.168.1.1/",
			"http://100.64.0.1/",
			"http://[::ffff:10.0.0.1]/",
			"http://[fd00::1]/",
			"http://0.0.0.0:1/",
		} {
			cfg, sec := webhookChannel(t, raw, newSecret(t))
			_, err := strict().Send(t.Context(), cfg, sec, webhookMessage())
			requireRefused(t, err)
		}
	})

	t.Run("RedirectToLoopbackNotFollowed", func(t *testing.T) {
		t.Parallel()

		inner, ok := serve(t, "tcp", "127.0.0.1:0")
		require.True(t, ok)
		var outerHits int64
		outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			outerHits++
			mu.Unlock()
			http.Redirect(w, r, inner.url+"/internal", http.StatusTemporaryRedirect)
		}))
		t.Cleanup(outer.Close)
		outerAddr := netip.MustParseAddrPort(outer.Listener.Addr().String())

		// Test hook: treat the outer server as if it were public; every
		// other address keeps the production policy.
		prov := strict()
		prov.allowAddr = func(ap netip.AddrPort) bool { return ap == outerAddr || IsPublicAddr(ap.Addr()) }

		cfg, sec := webhookChannel(t, outer.URL+"/hook", newSecret(t))
		res, err := prov.Send(t.Context(), cfg, sec, webhookMessage())
		require.Error(t, err)
		require.True(t, IsPermanent(err))
		require.Equal(t, http.StatusTemporaryRedirect, res.StatusCode)
		require.Contains(t, err.Error(), "redirects are not followed")
		mu.Lock()
		require.Equal(t, int64(1), outerHits)
		mu.Unlock()
		require.Zero(t, count(inner))

		// And the hook itself refuses the loopback target when dialled directly.
		cfg, sec = webhookChannel(t, inner.url, newSecret(t))
		_, err = prov.Send(t.Context(), cfg, sec, webhookMessage())
		requireRefused(t, err)
	})

	t.Run("AllowPrivate", func(t *testing.T) {
		t.Parallel()

		tg, ok := serve(t, "tcp", "127.0.0.1:0")
		require.True(t, ok)
		cfg, sec := webhookChannel(t, tg.url, newSecret(t))
		prov := newWebhookProvider(Options{WebhookAllowPrivate: true, HTTPTimeout: 3 * time.Second})
		_, err := prov.Send(t.Context(), cfg, sec, webhookMessage())
		require.NoError(t, err)
		require.Equal(t, int64(1), count(tg))
	})
}

func TestIsPublicAddr(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		addr   string
		public bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2606:4700:4700::1111", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.0.1", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"255.255.255.255", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false},        // IPv4-compatible
		{"64:ff9b::7f00:1", false},    // NAT64 of 127.0.0.1
		{"2002:a00:1::1", false},      // 6to4 of 10.0.0.1
		{"2001:0:4136:e378::", false}, // Teredo
	} {
		require.Equal(t, tt.public, IsPublicAddr(netip.MustParseAddr(tt.addr)), tt.addr)
	}
	require.False(t, IsPublicAddr(netip.Addr{}))
}

func TestSignWebhook(t *testing.T) {
	t.Parallel()

	// The example from the Standard Webhooks specification.
	sig, err := SignWebhook("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`), "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	require.NoError(t, err)
	require.Equal(t, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", sig)

	_, err = SignWebhook("id", 1, nil)
	require.Error(t, err)
	_, err = SignWebhook("id", 1, nil, "whsec_!!")
	require.Error(t, err)
	require.NotContains(t, fmt.Sprint(err), "!!")
	require.False(t, errors.Is(err, ErrDestinationNotAllowed))
}
