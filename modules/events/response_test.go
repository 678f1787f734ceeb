package events

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/httpx"
)

// TestResponseJSON checks the hand-written encodings of the ingestion
// answers against encoding/json's.
func TestResponseJSON(t *testing.T) {
	t.Parallel()
	same := func(v any, got []byte) {
		t.Helper()
		want, err := json.Marshal(v)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	for range 20 {
		r := acceptedResponse{ID: uuid.Must(uuid.NewV7()), Status: StatusAccepted}
		same(r, r.appendJSON(nil))
	}
	id, other := uuid.Must(uuid.NewV7()), uuid.New()
	problem := &httpx.Problem{Type: "/problems/validation_failed", Title: "Invalid event", Status: 422,
		Detail: "The event <is> \"invalid\" & ü", Code: "validation_failed",
		Errors: []apperr.FieldError{{Field: "type", Message: "must match ^[A-Za-z0-9]$"}, {Field: "payload", Message: "is required"}}}
	results := []BatchResult{
		{Index: 0, Status: ItemAccepted, ID: &id},
		{Index: 1, Status: ItemReplayed, ID: &other},
		{Index: 2, Status: ItemRejected, Problem: problem},
		{Index: 3, Status: ItemRejected, Problem: &httpx.Problem{Type: "/problems/x", Status: 400}},
		{Index: 1234567, Status: ""},
	}
	for _, r := range results {
		same(r, r.appendJSON(nil))
	}
	for _, b := range []batchResponse{
		{Results: results, Accepted: 1, Replayed: 1, Rejected: 3},
		{Results: []BatchResult{}},
		{},
	} {
		same(b, b.appendJSON(nil))
	}
}

// BenchmarkBatchResponse encodes the answer to a batch of 100 accepted
// events: encoding/json against appendJSON.
func BenchmarkBatchResponse(b *testing.B) {
	r := batchResponse{Results: make([]BatchResult, 100), Accepted: 100}
	for i := range r.Results {
		id := uuid.Must(uuid.NewV7())
		r.Results[i] = BatchResult{Index: i, Status: ItemAccepted, ID: &id}
	}
	b.Run("EncodingJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = r.appendJSON(make([]byte, 0, 80+96*len(r.Results)))
		}
	})
}
