package cmd

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/signalops/signalops/cmd/mailsink"
)

// newMailsinkCmd runs a development SMTP server that prints what it gets.
func newMailsinkCmd(a *app) *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "mailsink",
		Short: "Development: a local SMTP server that prints every mail it receives",
		Long: `A local SMTP server for trying e-mail channels without a mail account: it
accepts every mail (no TLS, no authentication), prints the envelope, the
main headers and the plain-text body to stdout, and keeps nothing.

Point SignalOps at it with SMTP_URL=smtp://127.0.0.1:1025 (for serve and
work) or with a channel's "smtpUrl": "smtp://127.0.0.1:1025" (which also
needs WEBHOOK_ALLOW_PRIVATE=true). It listens on loopback only.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ap, err := netip.ParseAddrPort(addr)
			if err != nil || !ap.Addr().IsLoopback() {
				return fmt.Errorf("--addr must be a loopback address and port such as 127.0.0.1:1025, got %q", addr)
			}
			ln, err := net.Listen("tcp", ap.String())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "mailsink: listening on %s; use SMTP_URL=smtp://%s\n", ln.Addr(), ln.Addr())
			return mailsink.Serve(cmd.Context(), ln, a.stdout)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:1025", "loopback address to listen on")
	return cmd
}
