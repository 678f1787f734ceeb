package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"net"
	"net/netip"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// smtpSettings is a parsed SMTP URL.
type smtpSettings struct {
	host        string
	port        int
	user, pass  string
	implicitTLS bool // smtps://
	requireTLS  bool // smtp://…?starttls=required
}

// ValidateSMTPURL checks an operator SMTP_URL: smtp://[user:pass@]host[:port]
// (STARTTLS when offered; ?starttls=required insists) or smtps://… (implicit
// TLS). Default ports: 587 for smtp, 465 for smtps. The error never quotes
// the URL, which may hold a password.
func ValidateSMTPURL(raw string) error {
	_, err := parseSMTPURL(raw, true)
	return err
}

// parseSMTPURL parses an SMTP URL; a per-channel one (allowPassword false)
// must not carry a password. Error texts are safe to show and never quote
// the input.
func parseSMTPURL(raw string, allowPassword bool) (smtpSettings, error) {
	const shape = "must be smtp://[user@]host[:port] or smtps://[user@]host[:port]"
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return smtpSettings{}, errors.New(shape)
	}
	var s smtpSettings
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicitTLS = 465, true
	default:
		return smtpSettings{}, errors.New(shape)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return smtpSettings{}, errors.New(shape)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return smtpSettings{}, errors.New("has an invalid port")
		}
		s.port = n
	}
	if u.Path != "" && u.Path != "/" {
		return smtpSettings{}, errors.New(shape)
	}
	if u.User != nil {
		s.user = u.User.Username()
		if p, ok := u.User.Password(); ok {
			if !allowPassword {
				return smtpSettings{}, errors.New("must not contain a password; put it in secrets.smtpPassword")
			}
			s.pass = p
		}
	}
	for k, vs := range u.Query() {
		if k != "starttls" || len(vs) != 1 {
			return smtpSettings{}, errors.New("accepts only the query parameter starttls=required|opportunistic")
		}
		switch vs[0] {
		case "required":
			s.requireTLS = true
		case "opportunistic":
		default:
			return smtpSettings{}, errors.New("accepts only the query parameter starttls=required|opportunistic")
		}
	}
	if s.implicitTLS && s.requireTLS {
		s.requireTLS = false // smtps is TLS from the first byte
	}
	return s, nil
}

// emailProvider sends over SMTP with go-mail.
//
// The operator's SMTP_URL is trusted (a local relay is normal); a channel's
// own smtpUrl is tenant input, so its server address must pass the same
// public-address check as webhooks unless WebhookAllowPrivate is set.
type emailProvider struct {
	defaultURL   string
	defaultFrom  string
	timeout      time.Duration
	allowPrivate bool
	// allowAddr decides whether a per-channel server's resolved address may
	// be dialled; tests swap it.
	allowAddr func(netip.AddrPort) bool
	// tlsConfig builds the TLS config for a server (system roots, TLS 1.2+).
	// Tests swap it to trust their self-signed server.
	tlsConfig func(host string) *tls.Config
	now       func() time.Time
}

func newEmailProvider(opts Options) *emailProvider {
	return &emailProvider{
		defaultURL:   opts.SMTPURL,
		defaultFrom:  opts.SMTPFrom,
		timeout:      opts.HTTPTimeout,
		allowPrivate: opts.WebhookAllowPrivate,
		allowAddr:    func(ap netip.AddrPort) bool { return IsPublicAddr(ap.Addr()) },
		tlsConfig: func(host string) *tls.Config {
			return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		},
		now: time.Now,
	}
}

// EmailMessageID returns the Message-ID of a delivery's email,
// "<delivery-id@signalops>": the same on every retry, so mail clients
// collapse duplicates.
func EmailMessageID(deliveryID uuid.UUID) string {
	return "<" + deliveryID.String() + "@signalops>"
}

// Send mails msg to the channel's recipients, as plain text with an HTML
// alternative.
func (p *emailProvider) Send(ctx context.Context, cfg ChannelConfig, sec Secrets, msg Message) (Result, error) {
	if err := checkKind(KindEmail, cfg, sec); err != nil {
		return Result{}, err
	}
	ec := cfg.Email
	var (
		set   smtpSettings
		err   error
		guard bool
	)
	if ec.SMTPURL != "" {
		set, err = parseSMTPURL(ec.SMTPURL, false)
		if err != nil {
			return Result{}, Permanent(fmt.Errorf("channel smtpUrl %w", err))
		}
		set.pass = sec.Email.SMTPPassword
		guard = !p.allowPrivate
	} else {
		if p.defaultURL == "" {
			// Each process reads SMTP_URL once, at start: say which processes
			// need it, since a channel test runs in serve and deliveries in work.
			return Result{}, Permanent(errors.New("email is not configured: this process started without SMTP_URL " +
				"(serve sends channel tests, work sends deliveries: set it for both and restart them) " +
				"and the channel has no smtpUrl"))
		}
		set, err = parseSMTPURL(p.defaultURL, true)
		if err != nil {
			return Result{}, Permanent(fmt.Errorf("SMTP_URL %w", err))
		}
	}
	from := ec.From
	if from == "" {
		from = p.defaultFrom
	}
	if from == "" {
		return Result{}, Permanent(errors.New("email has no sender: set SMTP_FROM or the channel's from"))
	}
	if len(ec.To) == 0 {
		return Result{}, Permanent(errors.New("email channel has no recipients"))
	}

	m, msgID, err := p.buildMessage(ec, from, msg)
	if err != nil {
		return Result{}, Permanent(err)
	}
	client, err := p.client(set, guard)
	if err != nil {
		return Result{}, Permanent(redact("configure smtp client", err, set.pass))
	}

	res := Result{ProviderMessageID: msgID}
	start := time.Now()
	err = client.DialAndSendWithContext(ctx, m)
	res.Latency = time.Since(start)
	if err != nil {
		permanent, code := classifySMTP(err)
		if code == 0 {
			err = netFailure(err) // never the resolved address of the mail server
		}
		res.StatusCode = code
		res.Response = truncateUTF8(scrub(err.Error(), set.pass), maxResponseSummary)
		return res, &SendError{
			Permanent:  permanent,
			StatusCode: code,
			Err:        redact("send email", err, set.pass),
		}
	}
	res.StatusCode = 250
	res.Response = summarize([]byte(m.ServerResponse()), set.pass)
	return res, nil
}

func (p *emailProvider) buildMessage(ec *EmailConfig, from string, msg Message) (*mail.Msg, string, error) {
	subject := msg.Subject
	if subject == "" {
		subject = ec.Subject
	}
	if subject == "" && msg.EventType != "" {
		subject = "SignalOps: " + msg.EventType
	}
	if subject == "" {
		subject = "SignalOps notification"
	}
	// One line only: a rendered subject must not smuggle in headers.
	subject = truncateUTF8(strings.Join(strings.Fields(subject), " "), 900)

	m := mail.NewMsg()
	if err := m.From(from); err != nil {
		return nil, "", fmt.Errorf("email sender: %w", err)
	}
	if err := m.To(ec.To...); err != nil {
		return nil, "", fmt.Errorf("email recipients: %w", err)
	}
	msgID := EmailMessageID(msg.DeliveryID)
	m.Subject(subject)
	m.SetDateWithValue(p.now())
	m.SetMessageIDWithValue(strings.Trim(msgID, "<>"))
	m.SetUserAgent("SignalOps")
	m.SetBodyString(mail.TypeTextPlain, msg.Text)
	m.AddAlternativeString(mail.TypeTextHTML, emailHTML(subject, msg.Text))
	return m, msgID, nil
}

// emailHTML is the minimal HTML alternative: the text escaped, its line
// breaks kept.
func emailHTML(subject, text string) string {
	return `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>` + html.EscapeString(subject) + `</title></head>
<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;line-height:1.5">
<div style="white-space:pre-wrap">` + html.EscapeString(text) + `</div>
<p style="color:#888;font-size:12px">Sent by SignalOps</p>
</body></html>
`
}

func (p *emailProvider) client(set smtpSettings, guard bool) (*mail.Client, error) {
	tlsCfg := p.tlsConfig(set.host)
	dialer := &net.Dialer{Timeout: p.timeout}
	if guard {
		allow := p.allowAddr
		dialer.Control = func(_, address string, _ syscall.RawConn) error { return checkDialAddr(address, allow) }
	}
	// go-mail only wraps TLS itself when it dials, so with our dialer (needed
	// for the address check) implicit TLS is done here; the smtp client sees
	// a *tls.Conn and treats the session as encrypted.
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if set.implicitTLS {
			td := &tls.Dialer{NetDialer: dialer, Config: tlsCfg}
			return td.DialContext(ctx, network, addr)
		}
		return dialer.DialContext(ctx, network, addr)
	}
	policy := mail.TLSOpportunistic
	switch {
	case set.implicitTLS:
		policy = mail.NoTLS // already TLS; no STARTTLS on top
	case set.requireTLS:
		policy = mail.TLSMandatory
	}
	opts := []mail.Option{
		mail.WithPort(set.port),
		mail.WithTimeout(p.timeout),
		mail.WithTLSPolicy(policy),
		mail.WithTLSConfig(tlsCfg),
		mail.WithDialContextFunc(dial),
	}
	if set.user != "" {
		opts = append(opts, mail.WithSMTPAuthCustom(&autoAuth{user: set.user, pass: set.pass, host: set.host}))
	}
	return mail.NewClient(set.host, opts...)
}

// errNoAuthMechanism: the server offers no mechanism we will use.
var errNoAuthMechanism = errors.New("smtp server offers no supported AUTH mechanism (PLAIN, LOGIN, CRAM-MD5)")

// autoAuth picks PLAIN, LOGIN or CRAM-MD5 from what the server advertises.
// PLAIN and LOGIN refuse to send the password over an unencrypted session
// (except to localhost): use STARTTLS or smtps.
type autoAuth struct {
	user, pass, host string
	inner            smtp.Auth
}

func (a *autoAuth) Start(si *smtp.ServerInfo) (string, []byte, error) {
	switch {
	case slices.Contains(si.Auth, "PLAIN"):
		a.inner = smtp.PlainAuth("", a.user, a.pass, a.host, false)
	case slices.Contains(si.Auth, "LOGIN"):
		a.inner = smtp.LoginAuth(a.user, a.pass, a.host, false)
	case slices.Contains(si.Auth, "CRAM-MD5"):
		a.inner = smtp.CRAMMD5Auth(a.user, a.pass)
	default:
		return "", nil, errNoAuthMechanism
	}
	return a.inner.Start(si)
}

func (a *autoAuth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.inner.Next(fromServer, more)
}

// classifySMTP maps an SMTP failure: 4xx replies are transient, 5xx
// permanent; a refused destination and auth that cannot work (no usable
// mechanism, a password that would cross an unencrypted connection) are
// permanent; connection and TLS problems are transient.
func classifySMTP(err error) (permanent bool, code int) {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		code = se.ErrorCode()
	}
	var te *textproto.Error
	if code == 0 && errors.As(err, &te) {
		code = te.Code
	}
	switch {
	case code >= 500 && code < 600:
		return true, code
	case code >= 400 && code < 500:
		return false, code
	case errors.Is(err, ErrDestinationNotAllowed), errors.Is(err, errNoAuthMechanism),
		errors.Is(err, smtp.ErrUnencrypted), errors.Is(err, smtp.ErrWrongHostname):
		return true, code
	}
	return false, code
}
