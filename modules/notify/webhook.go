package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// ErrDestinationNotAllowed is wrapped by every send refused by the address
// policy: loopback, private, link-local, CGNAT and other non-public targets,
// checked on the resolved address at dial time.
var ErrDestinationNotAllowed = errors.New("destination address is not allowed")

// WebhookUserAgent is the User-Agent of webhook deliveries.
const WebhookUserAgent = "SignalOps-Webhooks/1"

// WebhookID returns the Standard Webhooks webhook-id of a delivery:
// "msg_" + the delivery id's 32 hex digits. It is the same on every retry,
// which is what lets receivers deduplicate.
func WebhookID(deliveryID uuid.UUID) string {
	return "msg_" + strings.ReplaceAll(deliveryID.String(), "-", "")
}

// SignWebhook returns the webhook-signature header value for one delivery:
// "v1,<base64 HMAC-SHA256(id.timestamp.body)>" per secret, space-separated,
// keyed by each secret's base64-decoded bytes after "whsec_".
func SignWebhook(id string, timestamp int64, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", errors.New("no signing secret")
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := decodeSigningSecret(s)
		if err != nil {
			return "", fmt.Errorf("signing secret: %w", err) // the reason, never the secret
		}
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id))
		mac.Write([]byte{'.'})
		mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
		mac.Write([]byte{'.'})
		mac.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// webhookProvider POSTs signed payloads per the Standard Webhooks spec.
//
// Target policy: only http and https; the dialer refuses non-public
// addresses after DNS resolution (so DNS rebinding cannot slip past a
// check made earlier); no proxy, so the check sees the real peer; redirects
// are NOT followed — a 3xx is a permanent failure, as with Stripe and Svix,
// because following one would turn a signed POST into whatever the
// Location says. WebhookAllowPrivate lifts the address check only.
type webhookProvider struct {
	client *http.Client
	// allowAddr decides whether a resolved address may be dialled. Tests
	// swap it; production uses the strict public-address policy.
	allowAddr func(netip.AddrPort) bool
	now       func() time.Time
}

func newWebhookProvider(opts Options) *webhookProvider {
	p := &webhookProvider{now: time.Now}
	if opts.WebhookAllowPrivate {
		p.allowAddr = func(netip.AddrPort) bool { return true }
	} else {
		p.allowAddr = func(ap netip.AddrPort) bool { return IsPublicAddr(ap.Addr()) }
	}
	dialer := &net.Dialer{
		Timeout:   10 * time.Second,
		KeepAlive: 30 * time.Second,
		Control:   func(_, address string, _ syscall.RawConn) error { return checkDialAddr(address, p.allowAddr) },
	}
	p.client = &http.Client{
		Timeout: opts.HTTPTimeout,
		Transport: opts.wrap(&http.Transport{
			Proxy:             nil, // a proxy would hide the real destination from the address check
			DialContext:       dialer.DialContext,
			ForceAttemptHTTP2: true,
			// Many deliveries often go to one receiver at once: keep a
			// connection per concurrent delivery instead of dialing (and
			// leaving TIME_WAIT behind) for most of them.
			MaxIdleConns:           512,
			MaxIdleConnsPerHost:    128,
			IdleConnTimeout:        90 * time.Second,
			TLSHandshakeTimeout:    10 * time.Second,
			ExpectContinueTimeout:  time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		}),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return p
}

// checkDialAddr runs in a dialer's Control hook, after resolution, for
// every connection attempt (each address Happy Eyeballs tries), so a name
// that resolves — or re-resolves — to a refused address never connects.
func checkDialAddr(address string, allow func(netip.AddrPort) bool) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrDestinationNotAllowed, address)
	}
	ap = netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port())
	if !allow(ap) {
		return fmt.Errorf("%w: %s", ErrDestinationNotAllowed, ap.Addr())
	}
	return nil
}

// Send posts msg.Payload to the channel's URL.
func (p *webhookProvider) Send(ctx context.Context, cfg ChannelConfig, sec Secrets, msg Message) (Result, error) {
	if err := checkKind(KindWebhook, cfg, sec); err != nil {
		return Result{}, err
	}
	if err := checkWebhookURL(cfg.Webhook.URL); err != nil {
		return Result{}, Permanent(fmt.Errorf("webhook url %w", err))
	}
	if len(msg.Payload) == 0 {
		return Result{}, Permanent(errors.New("webhook message has no payload"))
	}
	secrets := append([]string{sec.Webhook.SigningSecret}, sec.Webhook.PreviousSigningSecrets...)
	id := WebhookID(msg.DeliveryID)
	ts := p.now().Unix()
	sig, err := SignWebhook(id, ts, msg.Payload, secrets...)
	if err != nil {
		return Result{}, Permanent(err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.Webhook.URL, bytes.NewReader(msg.Payload))
	if err != nil {
		return Result{}, Permanent(fmt.Errorf("build webhook request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", WebhookUserAgent)
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", sig)

	res, rep, err := exchange(p.client, req, secrets...)
	res.ProviderMessageID = id
	if err != nil {
		return res, classifyTransportError("post webhook", err)
	}

	switch {
	case rep.code >= 200 && rep.code < 300:
		return res, nil
	case rep.code >= 300 && rep.code < 400:
		return res, statusError(rep.code, 0,
			fmt.Errorf("endpoint redirected (%s); redirects are not followed, update the channel url", rep.status))
	}
	var retryAfter time.Duration
	if rep.code == http.StatusTooManyRequests || rep.code == http.StatusServiceUnavailable {
		retryAfter = parseRetryAfter(rep.header.Get("Retry-After"), p.now())
	}
	return res, statusError(rep.code, retryAfter, fmt.Errorf("endpoint responded %s", rep.status))
}

// classifyTransportError maps an error from http.Client.Do: refused
// destinations are permanent, everything else (DNS, connect, TLS, timeout)
// transient. The *url.Error layer, which quotes the URL, is dropped.
func classifyTransportError(op string, err error) error {
	err = netFailure(err)
	if errors.Is(err, ErrDestinationNotAllowed) {
		return Permanent(fmt.Errorf("%s: %w", op, err))
	}
	return Transient(fmt.Errorf("%s: %w", op, err), 0)
}

// netFailure describes a failure to reach a receiver by its class only
// ("destination address is not allowed", "DNS lookup of h failed: no such
// host", "connection refused", "timed out"): the address a name resolved
// to, the resolver's address and local ports never reach the tenant, who
// could otherwise map internal names through channel tests. Errors above
// the network (TLS, HTTP) are returned as they are.
func netFailure(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, ErrDestinationNotAllowed):
		return ErrDestinationNotAllowed
	case errors.As(err, &dnsErr):
		switch {
		case dnsErr.IsNotFound:
			return fmt.Errorf("DNS lookup of %s failed: no such host", dnsErr.Name)
		case dnsErr.IsTimeout:
			return fmt.Errorf("DNS lookup of %s failed: timed out", dnsErr.Name)
		}
		return fmt.Errorf("DNS lookup of %s failed", dnsErr.Name)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("timed out: %w", context.DeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.As(err, &netErr) && netErr.Timeout():
		return errors.New("timed out")
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("connection refused")
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return errors.New("connection reset")
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return errors.New("host unreachable")
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return fmt.Errorf("network error (%s)", opErr.Op)
	}
	return err
}

// blockedPrefixes are non-public ranges netip's predicates do not cover.
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT shared address space
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated), ::, ::1
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/32"),       // Teredo: tunnels to an embedded IPv4
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // embeds an IPv4 in the last 4 bytes
	sixToFour   = netip.MustParsePrefix("2002::/16")    // embeds an IPv4 in bytes 2–5
)

// IsPublicAddr reports whether a is a public unicast address that webhooks
// may reach: not loopback, private (RFC 1918, RFC 4193 fc00::/7),
// link-local (169.254/16, fe80::/10), unspecified, multicast, CGNAT
// (100.64/10) or another reserved range. IPv4-mapped IPv6 and the NAT64 and
// 6to4 forms are judged by the IPv4 address they carry.
func IsPublicAddr(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	if !a.IsValid() {
		return false
	}
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64Prefix.Contains(a):
			return IsPublicAddr(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case sixToFour.Contains(a):
			return IsPublicAddr(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	if a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() || a.IsMulticast() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
