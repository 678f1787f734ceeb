// Command ingest is an example of the Go client: it ingests one event with
// an idempotency key, sends it again (the server answers 200 with the
// original id) and reads the stored event back.
//
//	SIGNALOPS_URL=http://localhost:3000 SIGNALOPS_API_KEY=so_live_… go run ./examples/ingest
//
// It exits non-zero when an answer is not what the API promises.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/signalops/signalops/clients/go/signalops"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	baseURL := os.Getenv("SIGNALOPS_URL")
	if baseURL == "" {
		baseURL = "http://localhost:3000"
	}
	apiKey := os.Getenv("SIGNALOPS_API_KEY")
	if apiKey == "" {
		return errors.New("set SIGNALOPS_API_KEY to a key with scopes events:write and events:read")
	}
	api, err := signalops.NewClientWithResponses(baseURL,
		signalops.WithAPIKey(apiKey),
		signalops.WithHTTPClient(&http.Client{Timeout: 10 * time.Second}))
	if err != nil {
		return err
	}

	key := os.Getenv("IDEMPOTENCY_KEY")
	if key == "" {
		key = "example-" + rand.Text()
	}
	source := "go-example"
	event := signalops.EventInput{
		Type:    "order.created",
		Source:  &source,
		Payload: map[string]any{"orderId": "A-1", "amount": 1250, "currency": "EUR"},
	}
	params := &signalops.IngestEventParams{IdempotencyKey: &key}

	first, err := api.IngestEventWithResponse(ctx, params, event)
	if err != nil {
		return fmt.Errorf("ingest: %w", err)
	}
	accepted := first.JSON202
	if accepted == nil {
		accepted = first.JSON200 // an earlier run used the same IDEMPOTENCY_KEY
	}
	if accepted == nil {
		return fmt.Errorf("ingest: %s", answer(first.StatusCode(), signalops.ProblemOf(first)))
	}
	fmt.Printf("ingested %s (%d, idempotency-key %s)\n", accepted.Id, first.StatusCode(), key)

	// A retry with the same key and body is answered from the first request.
	again, err := api.IngestEventWithResponse(ctx, params, event)
	if err != nil {
		return fmt.Errorf("retry: %w", err)
	}
	if again.JSON200 == nil || again.HTTPResponse.Header.Get(signalops.HeaderReplayed) != "true" || again.JSON200.Id != accepted.Id {
		return fmt.Errorf("retry was not a replay of %s: %s", accepted.Id, answer(again.StatusCode(), signalops.ProblemOf(again)))
	}
	fmt.Printf("retry replayed %s (%s: true)\n", again.JSON200.Id, signalops.HeaderReplayed)

	stored, err := api.GetEventWithResponse(ctx, accepted.Id)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	if stored.JSON200 == nil {
		return fmt.Errorf("read back: %s", answer(stored.StatusCode(), signalops.ProblemOf(stored)))
	}
	ev := stored.JSON200
	if ev.Type != event.Type || ev.Payload["orderId"] != "A-1" {
		return fmt.Errorf("read back a different event: %+v", ev)
	}
	fmt.Printf("read back %s from %s: status %s, payload %v\n", ev.Type, deref(ev.Source), ev.Status, ev.Payload)
	return nil
}

func answer(status int, p *signalops.Problem) string {
	if p != nil {
		return p.Error()
	}
	return fmt.Sprintf("unexpected status %d", status)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
