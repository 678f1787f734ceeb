package notify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// receivedMail is one message as the SMTP server took it.
type receivedMail struct {
	From   string
	To     []string
	Data   []byte
	TLS    bool
	AuthAs string
}

// smtpBackend is an in-process SMTP server (go-smtp) that stores what it
// receives and can be told to reject with a given reply.
type smtpBackend struct {
	user, pass string // when set, AUTH PLAIN with these is required
	mailErr    error
	rcptErr    error
	dataErr    error

	mu       sync.Mutex
	received []receivedMail
	authFail int
}

func (be *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{be: be, conn: c}, nil
}

func (be *smtpBackend) got() []receivedMail {
	be.mu.Lock()
	defer be.mu.Unlock()
	return append([]receivedMail(nil), be.received...)
}

type smtpSession struct {
	be     *smtpBackend
	conn   *smtp.Conn
	authAs string
	from   string
	to     []string
}

func (s *smtpSession) AuthMechanisms() []string {
	if s.be.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.be.user || password != s.be.pass {
			s.be.mu.Lock()
			s.be.authFail++
			s.be.mu.Unlock()
			return smtp.ErrAuthFailed
		}
		s.authAs = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.be.user != "" && s.authAs == "" {
		return smtp.ErrAuthRequired
	}
	if s.be.mailErr != nil {
		return s.be.mailErr
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.be.rcptErr != nil {
		return s.be.rcptErr
	}
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if s.be.dataErr != nil {
		return s.be.dataErr
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.be.mu.Lock()
	s.be.received = append(s.be.received, receivedMail{From: s.from, To: s.to, Data: data, TLS: isTLS, AuthAs: s.authAs})
	s.be.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

type smtpServerOpts struct {
	addr        string      // default 127.0.0.1:0
	tlsConfig   *tls.Config // offered via STARTTLS, or implicit with implicitTLS
	implicitTLS bool
}

// startSMTP runs be on a local port and returns "host:port".
func startSMTP(t *testing.T, be *smtpBackend, opts smtpServerOpts) (string, bool) {
	t.Helper()
	if opts.addr == "" {
		opts.addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", opts.addr)
	if err != nil {
		return "", false
	}
	srv := smtp.NewServer(be)
	srv.Domain = "mx.test"
	srv.AllowInsecureAuth = true // the client, not the server, must refuse plaintext passwords to remote hosts
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	if opts.implicitTLS {
		l = tls.NewListener(l, opts.tlsConfig)
	} else {
		srv.TLSConfig = opts.tlsConfig
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l.Addr().String(), true
}

// selfSigned returns a server TLS config for 127.0.0.1/localhost and a
// pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mx.test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

func trusting(pool *x509.CertPool) func(string) *tls.Config {
	return func(host string) *tls.Config {
		return &tls.Config{ServerName: host, RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
}

func emailChannel(t *testing.T, config, secrets string) (ChannelConfig, Secrets) {
	t.Helper()
	cfg, sec, err := ValidateConfig(KindEmail, json.RawMessage(config), json.RawMessage(secrets), true)
	require.NoError(t, err)
	return cfg, sec
}

// parsedMail is a received message taken apart the way a mail client would.
type parsedMail struct {
	Header     mail.Header
	Subject    string
	Date       time.Time
	Text, HTML string
}

func parseMail(t *testing.T, data []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	require.NoError(t, err)
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	require.NoError(t, err)
	date, err := m.Header.Date()
	require.NoError(t, err)
	out := parsedMail{Header: m.Header, Subject: subject, Date: date}

	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	require.NoError(t, err)
	require.Equal(t, "multipart/alternative", mediaType)
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart() // decodes quoted-printable itself
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		body, err := io.ReadAll(part)
		require.NoError(t, err)
		if strings.EqualFold(part.Header.Get("Content-Transfer-Encoding"), "base64") {
			body, err = base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(body, []byte("\r\n"), nil)))
			require.NoError(t, err)
		}
		ct, _, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		require.NoError(t, err)
		switch ct {
		case "text/plain":
			out.Text = string(body)
		case "text/html":
			out.HTML = string(body)
		default:
			t.Fatalf("unexpected part %s", ct)
		}
	}
	return out
}

func TestEmail(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		be   *smtpBackend
		addr string
		prov *emailProvider
	}

	// setup runs a plain SMTP server and an email provider whose SMTP_URL
	// points at it (the operator's server is trusted even on loopback).
	setup := func(t *testing.T, be *smtpBackend, smtpURL func(addr string) string) *testBundle {
		t.Helper()
		addr, ok := startSMTP(t, be, smtpServerOpts{})
		require.True(t, ok)
		if smtpURL == nil {
			smtpURL = func(addr string) string { return "smtp://" + addr }
		}
		p := NewProviders(Options{SMTPURL: smtpURL(addr), SMTPFrom: "SignalOps <alerts@signalops.test>", HTTPTimeout: 5 * time.Second})
		return &testBundle{be: be, addr: addr, prov: p.email}
	}

	msg := Message{
		DeliveryID: uuid.MustParse("0197a3c2-5f1e-7c3a-9d2b-4e5f6a7b8c9d"),
		EventType:  "order.created",
		Subject:    "Order 42 – 1000 €",
		Text:       "Order 42: 1000 €\n<b>big</b> & \"quoted\"",
	}

	t.Run("Delivers", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, &smtpBackend{}, nil)
		cfg, sec := emailChannel(t, `{"to":["Ops Team <ops@example.com>","oncall@example.org"]}`, `{}`)

		before := time.Now().Add(-time.Second)
		res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		require.Equal(t, 250, res.StatusCode)
		require.Equal(t, "<0197a3c2-5f1e-7c3a-9d2b-4e5f6a7b8c9d@signalops>", res.ProviderMessageID)
		require.NotEmpty(t, res.Response)

		got := bundle.be.got()
		require.Len(t, got, 1)
		require.Equal(t, "alerts@signalops.test", got[0].From)
		require.Equal(t, []string{"ops@example.com", "oncall@example.org"}, got[0].To)
		require.False(t, got[0].TLS)

		m := parseMail(t, got[0].Data)
		from, err := mail.ParseAddress(m.Header.Get("From"))
		require.NoError(t, err)
		require.Equal(t, "alerts@signalops.test", from.Address)
		require.Equal(t, "SignalOps", from.Name)
		to, err := m.Header.AddressList("To")
		require.NoError(t, err)
		require.Len(t, to, 2)
		require.Equal(t, "ops@example.com", to[0].Address)
		require.Equal(t, "Ops Team", to[0].Name)
		require.Equal(t, "oncall@example.org", to[1].Address)
		require.Equal(t, msg.Subject, m.Subject)
		require.Equal(t, "<0197a3c2-5f1e-7c3a-9d2b-4e5f6a7b8c9d@signalops>", m.Header.Get("Message-ID"))
		require.WithinRange(t, m.Date, before, time.Now().Add(time.Second))
		require.Equal(t, strings.ReplaceAll(msg.Text, "\n", "\r\n"), strings.TrimRight(m.Text, "\r\n"))
		require.Contains(t, m.HTML, "&lt;b&gt;big&lt;/b&gt; &amp; &#34;quoted&#34;")
		require.NotContains(t, m.HTML, "<b>big</b>")
		require.Contains(t, m.HTML, "Order 42: 1000 €")
	})

	t.Run("SubjectFallbacks", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, &smtpBackend{}, nil)
		noSubject := msg
		noSubject.Subject = ""

		cfg, sec := emailChannel(t, `{"to":["ops@example.com"],"subject":"Configured subject"}`, `{}`)
		_, err := bundle.prov.Send(t.Context(), cfg, sec, noSubject)
		require.NoError(t, err)
		cfg, sec = emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)
		_, err = bundle.prov.Send(t.Context(), cfg, sec, noSubject)
		require.NoError(t, err)
		injected := msg
		injected.Subject = "Hi\r\nBcc: victim@example.com"
		_, err = bundle.prov.Send(t.Context(), cfg, sec, injected)
		require.NoError(t, err)

		got := bundle.be.got()
		require.Len(t, got, 3)
		require.Equal(t, "Configured subject", parseMail(t, got[0].Data).Subject)
		require.Equal(t, "SignalOps: order.created", parseMail(t, got[1].Data).Subject)
		third := parseMail(t, got[2].Data)
		require.Equal(t, "Hi Bcc: victim@example.com", third.Subject)
		require.Empty(t, third.Header.Get("Bcc"))
		require.Equal(t, []string{"ops@example.com"}, got[2].To)
	})

	t.Run("ChannelFrom", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, &smtpBackend{}, nil)
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"],"from":"billing@acme.test"}`, `{}`)
		_, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		got := bundle.be.got()
		require.Len(t, got, 1)
		require.Equal(t, "billing@acme.test", got[0].From)
	})

	t.Run("Replies", func(t *testing.T) {
		t.Parallel()

		for _, tt := range []struct {
			name          string
			be            *smtpBackend
			wantCode      int
			wantPermanent bool
		}{
			{"Rcpt451", &smtpBackend{rcptErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Try again later"}}, 451, false},
			{"Rcpt550", &smtpBackend{rcptErr: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user"}}, 550, true},
			{"Mail452", &smtpBackend{mailErr: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "Insufficient storage"}}, 452, false},
			{"Data554", &smtpBackend{dataErr: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Rejected as spam"}}, 554, true},
			{"Data451", &smtpBackend{dataErr: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "Greylisted"}}, 451, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()

				bundle := setup(t, tt.be, nil)
				cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)

				res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
				require.Error(t, err)
				require.Equal(t, tt.wantPermanent, IsPermanent(err), err.Error())
				require.Equal(t, tt.wantCode, res.StatusCode)
				var se *SendError
				require.ErrorAs(t, err, &se)
				require.Equal(t, tt.wantCode, se.StatusCode)
				require.Empty(t, bundle.be.got())
			})
		}
	})

	t.Run("Auth", func(t *testing.T) {
		t.Parallel()

		be := &smtpBackend{user: "mailer", pass: "s3cr3t-pw"}
		bundle := setup(t, be, func(addr string) string { return "smtp://mailer:s3cr3t-pw@" + addr })
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)

		_, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		got := be.got()
		require.Len(t, got, 1)
		require.Equal(t, "mailer", got[0].AuthAs)
	})

	t.Run("AuthFailedIsPermanent", func(t *testing.T) {
		t.Parallel()

		be := &smtpBackend{user: "mailer", pass: "s3cr3t-pw"}
		bundle := setup(t, be, func(addr string) string { return "smtp://mailer:wrong-pw@" + addr })
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)

		res, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.True(t, IsPermanent(err), err.Error())
		require.Equal(t, 535, res.StatusCode)
		require.NotContains(t, err.Error(), "wrong-pw")
		require.NotContains(t, res.Response, "wrong-pw")
		require.Empty(t, be.got())
	})

	t.Run("NoPasswordOverPlaintextToRemoteHost", func(t *testing.T) {
		t.Parallel()

		// 127.0.0.2 is loopback on Linux but not a name the PLAIN mechanism
		// treats as local: it stands in for a remote server without TLS.
		be := &smtpBackend{user: "mailer", pass: "s3cr3t-pw"}
		addr, ok := startSMTP(t, be, smtpServerOpts{addr: "127.0.0.2:0"})
		if !ok {
			t.Skip("cannot listen on 127.0.0.2")
		}
		prov := NewProviders(Options{SMTPURL: "smtp://mailer:s3cr3t-pw@" + addr, SMTPFrom: "alerts@signalops.test", HTTPTimeout: 5 * time.Second}).email
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)

		_, err := prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.True(t, IsPermanent(err), err.Error())
		be.mu.Lock()
		require.Zero(t, be.authFail, "the password never reached the server")
		be.mu.Unlock()
		require.Empty(t, be.got())
	})

	t.Run("STARTTLSWithChannelServer", func(t *testing.T) {
		t.Parallel()

		serverTLS, pool := selfSigned(t)
		be := &smtpBackend{user: "mailer", pass: "channel-pw"}
		addr, ok := startSMTP(t, be, smtpServerOpts{tlsConfig: serverTLS})
		require.True(t, ok)
		// The channel's own server is on loopback: allowed only with
		// WebhookAllowPrivate (see PerChannelServerGuarded).
		prov := NewProviders(Options{SMTPFrom: "alerts@signalops.test", WebhookAllowPrivate: true, HTTPTimeout: 5 * time.Second}).email
		prov.tlsConfig = trusting(pool)
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"],"smtpUrl":"smtp://mailer@`+addr+`?starttls=required"}`, `{"smtpPassword":"channel-pw"}`)

		_, err := prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		got := be.got()
		require.Len(t, got, 1)
		require.True(t, got[0].TLS, "the session was upgraded with STARTTLS")
		require.Equal(t, "mailer", got[0].AuthAs)
	})

	t.Run("STARTTLSOpportunistic", func(t *testing.T) {
		t.Parallel()

		serverTLS, pool := selfSigned(t)
		be := &smtpBackend{}
		addr, ok := startSMTP(t, be, smtpServerOpts{tlsConfig: serverTLS})
		require.True(t, ok)
		prov := NewProviders(Options{SMTPURL: "smtp://" + addr, SMTPFrom: "alerts@signalops.test", HTTPTimeout: 5 * time.Second}).email
		prov.tlsConfig = trusting(pool)
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)

		_, err := prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		got := be.got()
		require.Len(t, got, 1)
		require.True(t, got[0].TLS, "STARTTLS is used when offered")
	})

	t.Run("UntrustedCertificateFails", func(t *testing.T) {
		t.Parallel()

		serverTLS, _ := selfSigned(t)
		be := &smtpBackend{}
		addr, ok := startSMTP(t, be, smtpServerOpts{tlsConfig: serverTLS})
		require.True(t, ok)
		prov := NewProviders(Options{SMTPURL: "smtp://" + addr, SMTPFrom: "alerts@signalops.test", HTTPTimeout: 5 * time.Second}).email

		cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)
		_, err := prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.False(t, IsPermanent(err), "a certificate problem may be fixed on the server side: retried")
		require.Empty(t, be.got())
	})

	t.Run("STARTTLSRequiredButNotOffered", func(t *testing.T) {
		t.Parallel()

		bundle := setup(t, &smtpBackend{}, func(addr string) string { return "smtp://" + addr + "?starttls=required" })
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)
		_, err := bundle.prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.Empty(t, bundle.be.got())
	})

	t.Run("ImplicitTLS", func(t *testing.T) {
		t.Parallel()

		serverTLS, pool := selfSigned(t)
		be := &smtpBackend{user: "mailer", pass: "tls-pw"}
		addr, ok := startSMTP(t, be, smtpServerOpts{tlsConfig: serverTLS, implicitTLS: true})
		require.True(t, ok)
		prov := NewProviders(Options{SMTPURL: "smtps://mailer:tls-pw@" + addr, SMTPFrom: "alerts@signalops.test", HTTPTimeout: 5 * time.Second}).email
		prov.tlsConfig = trusting(pool)
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)

		_, err := prov.Send(t.Context(), cfg, sec, msg)
		require.NoError(t, err)
		got := be.got()
		require.Len(t, got, 1)
		require.True(t, got[0].TLS)
		require.Equal(t, "mailer", got[0].AuthAs)
	})

	t.Run("PerChannelServerGuarded", func(t *testing.T) {
		t.Parallel()

		be := &smtpBackend{}
		addr, ok := startSMTP(t, be, smtpServerOpts{})
		require.True(t, ok)
		prov := NewProviders(Options{SMTPFrom: "alerts@signalops.test", HTTPTimeout: 5 * time.Second}).email // strict
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"],"smtpUrl":"smtp://`+addr+`"}`, `{}`)

		res, err := prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.True(t, IsPermanent(err), err.Error())
		require.ErrorIs(t, err, ErrDestinationNotAllowed)
		require.Empty(t, be.got())
		require.NotContains(t, err.Error(), "127.0.0.1", "the class of failure, not the address")
		require.NotContains(t, res.Response, "127.0.0.1")
	})

	t.Run("ConnectionRefusedIsTransient", func(t *testing.T) {
		t.Parallel()

		prov := NewProviders(Options{SMTPURL: "smtp://" + refusedAddr(t), SMTPFrom: "alerts@signalops.test", HTTPTimeout: 2 * time.Second}).email
		cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)

		_, err := prov.Send(t.Context(), cfg, sec, msg)
		require.Error(t, err)
		require.False(t, IsPermanent(err))
	})

	t.Run("NotConfiguredIsPermanent", func(t *testing.T) {
		t.Parallel()

		cfg, sec := emailChannel(t, `{"to":["ops@example.com"]}`, `{}`)
		for _, opts := range []Options{
			{SMTPFrom: "alerts@signalops.test"},      // no SMTP_URL
			{SMTPURL: "smtp://localhost:2525"},       // no sender
			{SMTPURL: "http://x", SMTPFrom: "a@b.c"}, // bad SMTP_URL
		} {
			_, err := NewProviders(opts).email.Send(t.Context(), cfg, sec, msg)
			require.True(t, IsPermanent(err), fmt.Sprint(err))
			if opts.SMTPURL == "" {
				require.ErrorContains(t, err, "this process started without SMTP_URL (serve sends channel tests, work sends deliveries")
			}
		}
	})
}

func TestValidateSMTPURL(t *testing.T) {
	t.Parallel()

	for _, ok := range []string{
		"smtp://localhost", "smtp://mail.example.com:25", "smtp://user:p%40ss@mail.example.com:587?starttls=required",
		"smtps://user:pass@mail.example.com", "smtp://[::1]:2525", "smtp://mail.example.com?starttls=opportunistic",
	} {
		require.NoError(t, ValidateSMTPURL(ok), ok)
	}
	for _, bad := range []string{
		"", "localhost:25", "http://mail.example.com", "smtp://", "smtp://mail.example.com:0", "smtp://mail.example.com/path",
		"smtp://mail.example.com?starttls=maybe", "smtp://mail.example.com?foo=bar", "smtp://user:hunter2@mail.example.com:99999",
	} {
		err := ValidateSMTPURL(bad)
		require.Error(t, err, bad)
		require.NotContains(t, err.Error(), "hunter2")
	}

	s, err := parseSMTPURL("smtp://user:p%40ss@mail.example.com?starttls=required", true)
	require.NoError(t, err)
	require.Equal(t, smtpSettings{host: "mail.example.com", port: 587, user: "user", pass: "p@ss", requireTLS: true}, s)
	s, err = parseSMTPURL("smtps://mail.example.com", true)
	require.NoError(t, err)
	require.Equal(t, smtpSettings{host: "mail.example.com", port: 465, implicitTLS: true}, s)
}
