package mailsink_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/cmd/mailsink"
	"github.com/signalops/signalops/modules/notify"
)

// syncBuffer is the sink's output, read while the sink writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeShowsWhatSignalOpsSends sends through SignalOps' own e-mail
// provider, as a channel with smtpUrl does, and checks that the sink prints
// the envelope, the headers and the decoded plain-text body.
func TestServeShowsWhatSignalOpsSends(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- mailsink.Serve(ctx, ln, out) }()

	providers := notify.NewProviders(notify.Options{SMTPFrom: "SignalOps <alerts@signalops.test>", WebhookAllowPrivate: true})
	cfg, sec, err := notify.ValidateConfig(notify.KindEmail,
		[]byte(`{"to":["ops@example.test","ann@example.test"],"smtpUrl":"smtp://`+ln.Addr().String()+`"}`), nil, true)
	require.NoError(t, err)
	deliveryID := uuid.Must(uuid.NewV7())
	text := "Bestellung Ä-1: 1.250,00 € — " + strings.Repeat("long line ", 12) // quoted-printable soft breaks
	_, err = providers.Send(ctx, cfg, sec, notify.Message{DeliveryID: deliveryID, EventType: "order.created",
		Subject: "Große Bestellung", Text: text})
	require.NoError(t, err)

	got := out.String()
	require.Contains(t, got, "--- mail from alerts@signalops.test to ops@example.test, ann@example.test (")
	require.Contains(t, got, "\nFrom: \"SignalOps\" <alerts@signalops.test>\n")
	require.Contains(t, got, "\nSubject: Große Bestellung\n")
	require.Contains(t, got, "\nMessage-Id: "+notify.EmailMessageID(deliveryID)+"\n")
	require.Contains(t, got, "\n\n"+text+"\n---\n", "the plain-text part, decoded")
	require.NotContains(t, got, "<html", "the HTML alternative is not printed")

	cancel()
	require.NoError(t, <-done, "a canceled sink stops cleanly")
}

func TestFormat(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		raw  string
		want string
	}{
		{
			"PlainTextWithoutContentType",
			"Subject: hi\r\nTo: a@x.test\r\n\r\nhello\r\n",
			"--- mail from f@x.test to a@x.test (%d bytes)\nTo: a@x.test\nSubject: hi\n\nhello\n---\n",
		},
		{
			"Base64",
			"Subject: =?UTF-8?q?gr=C3=BC=C3=9Fe?=\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\nZ3LDvMOfZQ==\r\n",
			"--- mail from f@x.test to a@x.test (%d bytes)\nSubject: grüße\n\ngrüße\n---\n",
		},
		{
			"OnlyHTML",
			"Content-Type: text/html\r\n\r\n<p>hi</p>\r\n",
			"--- mail from f@x.test to a@x.test (%d bytes)\n\n(body not shown: no text/plain part (text/html))\n---\n",
		},
		{
			"NotAMessageIsShownRaw",
			"no header line\r\n",
			"--- mail from f@x.test to a@x.test (%d bytes)\nno header line\r\n\n---\n",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, fmt.Sprintf(tt.want, len(tt.raw)), mailsink.Format("f@x.test", []string{"a@x.test"}, []byte(tt.raw)))
		})
	}
}
