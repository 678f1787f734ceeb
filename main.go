// Command signalops is the SignalOps event-to-notification backend: one binary
// with the serve, work, migrate, seed, dev and dlq subcommands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/signalops/signalops/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cmd.Execute(ctx)
	stop()
	os.Exit(code)
}
