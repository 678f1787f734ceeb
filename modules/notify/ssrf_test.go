package notify

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSSRFHostileTargets drives the providers as the process builds them
// (NewProviders, WebhookAllowPrivate off) at loopback, link-local, private
// and reserved targets spelled every way a URL can spell them. None is ever
// connected to; every one that resolves is refused permanently, before a
// request is made.
func TestSSRFHostileTargets(t *testing.T) {
	t.Parallel()

	var hits atomic.Int64
	count := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	local := httptest.NewServer(count)
	t.Cleanup(local.Close)
	port := strconv.Itoa(local.Listener.Addr().(*net.TCPAddr).Port)
	port6 := "9" // nothing listens there: the refusal must come before any connect
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: count}}
		srv.Start()
		t.Cleanup(srv.Close)
		port6 = strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	}
	providers := NewProviders(Options{HTTPTimeout: 3 * time.Second})

	for _, tt := range []struct {
		url string
		// mustRefuse: the host is an IP literal or a name /etc/hosts maps,
		// so resolution cannot fail and the address policy must refuse it.
		// The others may instead fail to resolve offline (transient).
		mustRefuse bool
	}{
		{"http://127.0.0.1:" + port + "/hook", true},
		{"http://127.0.0.2:" + port + "/", true},
		{"http://localhost:" + port + "/", true},
		{"http://[::1]:" + port6 + "/", true},
		{"http://[0:0:0:0:0:0:0:1]:" + port6 + "/", true},
		{"http://[::ffff:127.0.0.1]:" + port + "/", true},
		{"http://[::ffff:7f00:1]:" + port + "/", true},
		{"http://[::127.0.0.1]:" + port + "/", true},       // IPv4-compatible
		{"http://[64:ff9b::7f00:1]:" + port + "/", true},   // NAT64 of 127.0.0.1
		{"http://[2002:7f00:1::1]:" + port + "/", true},    // 6to4 of 127.0.0.1
		{"http://[fe80::1%25lo]:" + port + "/", true},      // link-local with a zone
		{"http://0.0.0.0:" + port + "/", true},             // "this host"
		{"http://[::]:" + port6 + "/", true},               // unspecified
		{"http://169.254.169.254/latest/meta-data/", true}, // cloud metadata
		{"http://[fd00:ec2::254]/latest/meta-data/", true}, // AWS IPv6 metadata
		{"http://100.100.100.200/latest/meta-data/", true}, // CGNAT range (Alibaba metadata)
		{"http://10.0.0.1/", true},
		{"http://172.16.0.1/", true},
		{"http://192.168.1.1/", true},
		{"http://224.0.0.1/", true},
		{"http://255.255.255.255/", true},
		{"http://127.1:" + port + "/", false},            // shorthand some resolvers expand
		{"http://2130706433:" + port + "/", false},       // 127.0.0.1 as one decimal number
		{"http://0x7f000001:" + port + "/", false},       // …as hex
		{"http://0177.0.0.1:" + port + "/", false},       // …with an octal octet
		{"http://127.000.000.001:" + port + "/", false},  // …zero-padded
		{"http://127.0.0.1.nip.io:" + port + "/", false}, // a public name pointing at loopback
	} {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			cfg, sec := webhookChannel(t, tt.url, newSecret(t))
			res, err := providers.Send(t.Context(), cfg, sec, webhookMessage())
			require.Error(t, err)
			require.Zero(t, res.StatusCode, "no request was answered")
			if tt.mustRefuse || IsPermanent(err) {
				require.True(t, IsPermanent(err), err.Error())
				require.ErrorIs(t, err, ErrDestinationNotAllowed)
			} else {
				require.Contains(t, err.Error(), "DNS lookup", "only a failed lookup may stand in for a refusal: %v", err)
			}
			require.Zero(t, hits.Load(), "a refused target was connected to")
			// The class of failure, never the address a name resolved to
			// nor the resolver's (a DNS oracle for internal names).
			u, _ := url.Parse(tt.url)
			msg := strings.ReplaceAll(err.Error(), u.Hostname(), "<the name the tenant wrote>")
			for _, leak := range []string{"127.", "::1", "169.254", "10.0.0.1", "dial tcp", ":53"} {
				require.NotContains(t, msg, leak)
			}
		})
	}
}

// TestSSRFRedirectsAreNotFollowed: a target that passes the address policy
// (the test hook treats one loopback server as public) and answers with any
// redirect fails permanently with that 3xx; the Location — loopback,
// metadata or anything else — is never requested.
func TestSSRFRedirectsAreNotFollowed(t *testing.T) {
	t.Parallel()

	var innerHits atomic.Int64
	inner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { innerHits.Add(1) }))
	t.Cleanup(inner.Close)

	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect, http.StatusMultipleChoices, http.StatusNotModified} {
		for _, location := range []string{inner.URL + "/internal", "http://169.254.169.254/latest/meta-data/", "/relative", "https://example.com/"} {
			t.Run(fmt.Sprintf("%d to %s", status, location), func(t *testing.T) {
				t.Parallel()
				var outerHits atomic.Int64
				outer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					outerHits.Add(1)
					w.Header().Set("Location", location)
					w.WriteHeader(status)
				}))
				t.Cleanup(outer.Close)
				outerAddr := netip.MustParseAddrPort(outer.Listener.Addr().String())

				// The production policy, except that outer counts as public.
				prov := newWebhookProvider(Options{HTTPTimeout: 3 * time.Second})
				prov.allowAddr = func(ap netip.AddrPort) bool { return ap == outerAddr || IsPublicAddr(ap.Addr()) }

				cfg, sec := webhookChannel(t, outer.URL+"/hook", newSecret(t))
				res, err := prov.Send(t.Context(), cfg, sec, webhookMessage())
				require.Error(t, err)
				require.True(t, IsPermanent(err), "a redirect is permanent: %v", err)
				require.Equal(t, status, res.StatusCode)
				require.Equal(t, int64(1), outerHits.Load())
				require.Zero(t, innerHits.Load(), "the redirect was followed")
			})
		}
	}
}
