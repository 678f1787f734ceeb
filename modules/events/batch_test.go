package events_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

func TestBatch(t *testing.T) {
	t.Parallel()

	t.Run("PerItemResultsInOrder", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		before := post(t, b, `{"type":"a","payload":{"n":0}}`, "idempotency-key", "old")
		require.Equal(t, http.StatusAccepted, before.Code)

		rec := do(t, b.router, http.MethodPost, "/api/events/batch", `{"events":[
			{"type":"a","payload":{"n":1}},
			{"type":"bad type","payload":{}},
			{"type":"a","payload":{"n":2},"idempotencyKey":"k1"},
			{"type":"a","payload":{"n":2},"idempotencyKey":"k1"},
			{"type":"a","payload":{"n":3},"idempotencyKey":"k1"},
			{"type":"a","payload":{"n":0},"idempotencyKey":"old"},
			{"type":"a","payload":{"n":9},"idempotencyKey":"old"},
			{"type":"a","payload":[]},
			{"type":"a","payload":{"n":4},"source":"s","occurredAt":"2026-01-01T00:00:00Z"}
		]}`, "x-api-key", b.tenant.APIKey)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var got struct {
			Results []struct {
				Index  int
				Status string
				ID     *uuid.UUID
				Error  *struct{ Code string }
			}
			Accepted, Replayed, Rejected int
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
		want := []string{"accepted", "rejected", "accepted", "replayed", "rejected", "replayed", "rejected", "rejected", "accepted"}
		require.Len(t, got.Results, len(want))
		for i, w := range want {
			require.Equal(t, i, got.Results[i].Index)
			require.Equal(t, w, got.Results[i].Status, "item %d: %s", i, rec.Body.String())
		}
		require.Equal(t, "validation_failed", got.Results[1].Error.Code)
		require.Equal(t, "idempotency_key_reused", got.Results[4].Error.Code)
		require.Equal(t, "idempotency_key_reused", got.Results[6].Error.Code)
		require.Equal(t, *got.Results[2].ID, *got.Results[3].ID, "a repeat in the batch replays the first")
		require.Equal(t, idOf(t, before), *got.Results[5].ID, "a key stored earlier replays its event")
		require.Equal(t, [3]int{3, 2, 4}, [3]int{got.Accepted, got.Replayed, got.Rejected})

		n, jobs := counts(t, b.db)
		require.Equal(t, 4, n, "1 before + 3 accepted")
		require.Equal(t, 4, jobs, "one job per stored event")
	})

	t.Run("Problems", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		many := `{"events":[` + strings.TrimSuffix(strings.Repeat(`{"type":"a","payload":{}},`, 501), ",") + `]}`
		for _, tt := range []struct {
			body   string
			status int
			code   string
		}{
			{`{"events":[]}`, 422, "validation_failed"},
			{many, 422, "validation_failed"},
			{`{"events":`, 400, "invalid_json"},
			{`[]`, 400, "invalid_json"},
		} {
			rec := do(t, b.router, http.MethodPost, "/api/events/batch", tt.body, "x-api-key", b.tenant.APIKey)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			require.Equal(t, tt.code, rec.problem(t).Code)
		}
		n, jobs := counts(t, b.db)
		require.Zero(t, n)
		require.Zero(t, jobs)
	})

	t.Run("FullBatch", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		items := make([]string, 500)
		for i := range items {
			items[i] = fmt.Sprintf(`{"type":"bulk","payload":{"i":%d},"idempotencyKey":"bulk-%d"}`, i, i)
		}
		body := `{"events":[` + strings.Join(items, ",") + `]}`
		rec := do(t, b.router, http.MethodPost, "/api/events/batch", body, "x-api-key", b.tenant.APIKey)
		require.Equal(t, http.StatusOK, rec.Code)
		require.Contains(t, rec.Body.String(), `"accepted":500`)
		rec = do(t, b.router, http.MethodPost, "/api/events/batch", body, "x-api-key", b.tenant.APIKey)
		require.Contains(t, rec.Body.String(), `"replayed":500`, "the same batch again replays every item")
		n, jobs := counts(t, b.db)
		require.Equal(t, 500, n)
		require.Equal(t, 500, jobs)
	})
}
