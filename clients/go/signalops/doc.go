// Package signalops is the Go client of the SignalOps HTTP API.
//
// client.gen.go is generated from docs/openapi.json by oapi-codegen
// (never edit it; run `task clients:generate`); this file and auth.go are
// written by hand. NewClientWithResponses returns a client whose
// XxxWithResponse methods decode each answer into the field of its status:
// JSON202/JSON200 on success, ApplicationproblemJSON4xx (a *Problem) on a
// documented error.
//
//	api, err := signalops.NewClientWithResponses("http://localhost:3000",
//		signalops.WithAPIKey(os.Getenv("SIGNALOPS_API_KEY")))
//	key := "order-A-1"
//	res, err := api.IngestEventWithResponse(ctx, &signalops.IngestEventParams{IdempotencyKey: &key},
//		signalops.EventInput{Type: "order.created", Payload: map[string]any{"orderId": "A-1"}})
//	// res.StatusCode() is 202 (stored) or 200 (a replay of the same key); res.JSON202.Id …
//	if p := signalops.ProblemOf(res); p != nil { … p.Code … }
package signalops
