package cmd

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMailsinkCommand(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name, addr, wantErr string
	}{
		{"AllInterfaces", "0.0.0.0:1025", `--addr must be a loopback address and port such as 127.0.0.1:1025, got "0.0.0.0:1025"`},
		{"NoPort", "127.0.0.1", `--addr must be a loopback address and port such as 127.0.0.1:1025, got "127.0.0.1"`},
		{"Hostname", "localhost:1025", `--addr must be a loopback address and port such as 127.0.0.1:1025, got "localhost:1025"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := &bytes.Buffer{}
			c := newMailsinkCmd(&app{stdout: out, stderr: out})
			c.SetArgs([]string{"--addr", tt.addr})
			require.EqualError(t, c.ExecuteContext(t.Context()), tt.wantErr)
		})
	}

	t.Run("ListensUntilCanceled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel() // already over: it binds, announces itself, and stops cleanly
		out := &bytes.Buffer{}
		c := newMailsinkCmd(&app{stdout: out, stderr: out})
		c.SetArgs([]string{"--addr", "127.0.0.1:0"})
		require.NoError(t, c.ExecuteContext(ctx))
		require.Regexp(t, `^mailsink: listening on 127\.0\.0\.1:\d+; use SMTP_URL=smtp://127\.0\.0\.1:\d+\n$`, out.String())
	})
}
