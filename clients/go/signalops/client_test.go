package signalops_test

import (
	"crypto/rand"
	"net/http"
	"os"
	"testing"

	openapi_types "github.com/oapi-codegen/runtime/types"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/clients/go/signalops"
)

// These tests talk to a running `serve`; clients/e2e.sh starts one on a
// fresh database and sets SIGNALOPS_URL, SIGNALOPS_API_KEY (scopes
// events:write, events:read), SIGNALOPS_EMAIL and SIGNALOPS_PASSWORD (the
// key's tenant's owner).
func env(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run clients/e2e.sh, which starts a server and sets it", name)
	}
	return v
}

func TestClient(t *testing.T) {
	t.Parallel()

	baseURL := env(t, "SIGNALOPS_URL")
	producer, err := signalops.NewClientWithResponses(baseURL, signalops.WithAPIKey(env(t, "SIGNALOPS_API_KEY")))
	require.NoError(t, err)
	newEvent := func() signalops.EventInput {
		return signalops.EventInput{Type: "order.created", Payload: map[string]any{"orderId": rand.Text(), "amount": 42.0}}
	}

	t.Run("IngestReplayReadBack", func(t *testing.T) {
		t.Parallel()

		key, event := "go-test-"+rand.Text(), newEvent()
		params := &signalops.IngestEventParams{IdempotencyKey: &key}

		first, err := producer.IngestEventWithResponse(t.Context(), params, event)
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, first.StatusCode(), string(first.Body))
		require.NotNil(t, first.JSON202)
		require.Equal(t, signalops.AcceptedStatusAccepted, first.JSON202.Status)

		again, err := producer.IngestEventWithResponse(t.Context(), params, event)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, again.StatusCode(), string(again.Body))
		require.Equal(t, "true", again.HTTPResponse.Header.Get(signalops.HeaderReplayed))
		require.Equal(t, first.JSON202.Id, again.JSON200.Id)

		stored, err := producer.GetEventWithResponse(t.Context(), first.JSON202.Id)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, stored.StatusCode(), string(stored.Body))
		require.Equal(t, first.JSON202.Id, stored.JSON200.Id)
		require.Equal(t, event.Type, stored.JSON200.Type)
		require.Equal(t, event.Payload, stored.JSON200.Payload)
	})

	t.Run("KeyReusedWithOtherBody", func(t *testing.T) {
		t.Parallel()

		key := "go-test-" + rand.Text()
		params := &signalops.IngestEventParams{IdempotencyKey: &key}
		first, err := producer.IngestEventWithResponse(t.Context(), params, newEvent())
		require.NoError(t, err)
		require.Equal(t, http.StatusAccepted, first.StatusCode(), string(first.Body))

		reused, err := producer.IngestEventWithResponse(t.Context(), params, newEvent())
		require.NoError(t, err)
		require.Equal(t, http.StatusUnprocessableEntity, reused.StatusCode())
		require.NotNil(t, reused.ApplicationproblemJSON422)
		require.Equal(t, "idempotency_key_reused", reused.ApplicationproblemJSON422.Code)
		require.Equal(t, reused.ApplicationproblemJSON422, signalops.ProblemOf(reused))
	})

	t.Run("UnknownKey", func(t *testing.T) {
		t.Parallel()

		stranger, err := signalops.NewClientWithResponses(baseURL, signalops.WithAPIKey("so_live_"+rand.Text()+rand.Text()))
		require.NoError(t, err)
		res, err := stranger.IngestEventWithResponse(t.Context(), nil, newEvent())
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode())
		require.NotNil(t, res.ApplicationproblemJSON401)
		require.Equal(t, http.StatusUnauthorized, res.ApplicationproblemJSON401.Status)
	})

	t.Run("BearerToken", func(t *testing.T) {
		t.Parallel()

		anonymous, err := signalops.NewClientWithResponses(baseURL)
		require.NoError(t, err)
		login, err := anonymous.LoginWithResponse(t.Context(), signalops.LoginRequest{
			Email: openapi_types.Email(env(t, "SIGNALOPS_EMAIL")), Password: env(t, "SIGNALOPS_PASSWORD")})
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, login.StatusCode(), string(login.Body))

		manager, err := signalops.NewClientWithResponses(baseURL, signalops.WithBearerToken(login.JSON200.AccessToken))
		require.NoError(t, err)
		me, err := manager.MeWithResponse(t.Context())
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, me.StatusCode(), string(me.Body))
		require.Equal(t, env(t, "SIGNALOPS_EMAIL"), me.JSON200.User.Email)
	})
}
