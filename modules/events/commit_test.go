package events_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGroupCommitMixedLoad: many concurrent requests, grouped into shared
// transactions, still get exactly their own answers.
func TestGroupCommitMixedLoad(t *testing.T) {
	t.Parallel()
	b := setup(t)

	type call struct{ body, key string }
	var calls []call
	for i := range 64 {
		calls = append(calls, call{fmt.Sprintf(`{"type":"a","payload":{"i":%d}}`, i), ""})
	}
	for range 12 {
		calls = append(calls, call{`{"type":"a","payload":{"same":true}}`, "shared"})
	}
	for i := range 4 {
		calls = append(calls, call{fmt.Sprintf(`{"type":"a","payload":{"other":%d}}`, i), "shared"})
	}
	codes := make([]int, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodPost, "/api/events", strings.NewReader(c.body))
			req.Header.Set("x-api-key", b.tenant.APIKey)
			if c.key != "" {
				req.Header.Set("idempotency-key", c.key)
			}
			rec := httptest.NewRecorder()
			b.router.ServeHTTP(rec, req)
			codes[i] = rec.Code
		}()
	}
	wg.Wait()

	for i := range 64 {
		require.Equal(t, http.StatusAccepted, codes[i])
	}
	// The shared key: one of the 16 requests stored its body first; requests
	// with that body replay (200) and the others are refused (422).
	got := map[int]int{}
	for _, c := range codes[64:] {
		got[c]++
	}
	require.Equal(t, 1, got[http.StatusAccepted], "%v", got)
	require.Equal(t, 15, got[http.StatusOK]+got[http.StatusUnprocessableEntity], "%v", got)
	n, jobs := counts(t, b.db)
	require.Equal(t, 65, n)
	require.Equal(t, 65, jobs)
}
