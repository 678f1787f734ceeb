// Package mailsink is a development SMTP server that accepts every mail and
// prints it: something to point SMTP_URL or a channel's smtpUrl at when
// trying e-mail channels on one machine, without an account anywhere.
//
// It offers no TLS and no authentication, and keeps nothing: each mail is
// written to the output as it arrives — envelope, the headers a reader
// looks at, and the text/plain part decoded — and then forgotten. It is not
// a relay and must listen on loopback only.
package mailsink

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// maxMessageBytes bounds one mail; SignalOps' are a few KiB.
const maxMessageBytes = 10 << 20

// Serve answers SMTP on ln until ctx is done, writing every mail it receives
// to out. It returns nil after ctx ends.
func Serve(ctx context.Context, ln net.Listener, out io.Writer) error {
	be := &backend{out: out}
	s := smtp.NewServer(be)
	s.Domain = "mailsink.localhost"
	s.MaxMessageBytes = maxMessageBytes
	s.MaxRecipients = 100
	s.ReadTimeout = time.Minute
	s.WriteTimeout = time.Minute
	s.AllowInsecureAuth = true

	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = s.Close()
		_ = ln.Close() // Close misses a listener that Serve has not registered yet
		if err := <-done; err != nil && !errors.Is(err, smtp.ErrServerClosed) {
			return err
		}
		return nil
	}
}

type backend struct {
	mu  sync.Mutex // one mail printed at a time
	out io.Writer
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct {
	b    *backend
	from string
	to   []string
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	text := Format(s.from, s.to, raw)
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	_, err = io.WriteString(s.b.out, text)
	return err
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// Format renders one received mail for a terminal: the envelope, From, To,
// Subject, Date and Message-ID, then the first text/plain part, decoded. A
// message it cannot parse is shown raw.
func Format(from string, to []string, raw []byte) string {
	var b strings.Builder
	fmt.Fprintf(&b, "--- mail from %s to %s (%d bytes)\n", from, strings.Join(to, ", "), len(raw))
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		b.Write(raw)
		b.WriteString("\n---\n")
		return b.String()
	}
	dec := new(mime.WordDecoder)
	for _, h := range []string{"From", "To", "Subject", "Date", "Message-Id"} {
		v := msg.Header.Get(h)
		if v == "" {
			continue
		}
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
		fmt.Fprintf(&b, "%s: %s\n", h, v)
	}
	b.WriteString("\n")
	body, err := plainText(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), msg.Body)
	if err != nil {
		fmt.Fprintf(&b, "(body not shown: %v)\n", err)
	} else {
		b.WriteString(strings.TrimRight(body, "\r\n"))
		b.WriteString("\n")
	}
	b.WriteString("---\n")
	return b.String()
}

// plainText returns the first text/plain part of a body, decoded.
func plainText(contentType, encoding string, body io.Reader) (string, error) {
	if contentType == "" {
		contentType = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return "", fmt.Errorf("content type: %w", err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return "", errors.New("no text/plain part")
			}
			if err != nil {
				return "", fmt.Errorf("multipart: %w", err)
			}
			// multipart.Reader decodes quoted-printable itself and drops the header.
			text, err := plainText(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p)
			if err == nil {
				return text, nil
			}
		}
	}
	if mt != "text/plain" {
		return "", fmt.Errorf("no text/plain part (%s)", mt)
	}
	switch strings.ToLower(encoding) {
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body) // it skips line breaks
	}
	b, err := io.ReadAll(io.LimitReader(body, maxMessageBytes))
	if err != nil {
		return "", err
	}
	return string(b), nil
}
