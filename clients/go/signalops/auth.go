package signalops

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// HeaderReplayed is "true" on the 200 answer to a repeated idempotency key.
const HeaderReplayed = "Idempotent-Replayed"

// WithAPIKey authenticates every request with a producer API key
// (so_live_…), sent as x-api-key.
func WithAPIKey(key string) ClientOption {
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("x-api-key", key)
		return nil
	})
}

// WithBearerToken authenticates every request with a bearer token: a
// management JWT from Login, or the operator's ADMIN_TOKEN.
func WithBearerToken(token string) ClientOption {
	return WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}

// Error makes a Problem usable as an error: "<status> <code>: <detail>".
func (p *Problem) Error() string {
	return strconv.Itoa(p.Status) + " " + p.Code + ": " + p.Detail
}

// response is what every generated XxxResponse has.
type response interface {
	StatusCode() int
	ContentType() string
	GetBody() []byte
}

// ProblemOf returns the problem+json body of an error answer, or nil when
// the answer is a success or carries no problem (a proxy's HTML page, say).
func ProblemOf(res response) *Problem {
	if res.StatusCode() < 400 || !strings.HasPrefix(res.ContentType(), "application/problem+json") {
		return nil
	}
	var p Problem
	if err := json.Unmarshal(res.GetBody(), &p); err != nil {
		return nil
	}
	return &p
}
