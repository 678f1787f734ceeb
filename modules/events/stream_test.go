package events_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/auth/authtest"
)

// sseMessage is one Server-Sent Events message.
type sseMessage struct {
	ID, Event, Data string
}

// openStream GETs path from srv with headers and returns its messages as
// they arrive; the stream closes when the test ends.
func openStream(t *testing.T, srv *httptest.Server, path string, headers ...string) (*http.Response, <-chan sseMessage) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
	require.NoError(t, err)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	out := make(chan sseMessage, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		var m sseMessage
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if m.Event != "" {
					out <- m
				}
				m = sseMessage{}
			case strings.HasPrefix(line, "id: "):
				m.ID = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				m.Event = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				m.Data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return resp, out
}

// next returns the next message, failing the test after 10 s.
func next(t *testing.T, msgs <-chan sseMessage) sseMessage {
	t.Helper()
	select {
	case m, ok := <-msgs:
		require.True(t, ok, "the stream ended")
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10 s")
		return sseMessage{}
	}
}

func TestEventStream(t *testing.T) {
	t.Parallel()

	t.Run("SendsTheTenantsNewEventsOnly", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		other := authtest.CreateTenant(t.Context(), t, b.db, nil)
		srv := httptest.NewServer(b.router)
		t.Cleanup(srv.Close)

		resp, msgs := openStream(t, srv, "/api/events/stream", "x-api-key", b.tenant.APIKey)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

		theirs := do(t, b.router, http.MethodPost, "/api/events", `{"type":"order.created","payload":{"who":"them"}}`,
			"x-api-key", other.APIKey)
		require.Equal(t, http.StatusAccepted, theirs.Code)
		mine := idOf(t, post(t, b, `{"type":"order.created","source":"shop","payload":{"who":"me"}}`))

		// Ids are time-ordered and the stream sends oldest first: had the
		// other tenant's event been sent, it would come first.
		m := next(t, msgs)
		require.Equal(t, "event", m.Event)
		require.Equal(t, mine.String(), m.ID)
		var got struct {
			ID      uuid.UUID
			Type    string
			Source  string
			Payload map[string]string
			Status  string
		}
		require.NoError(t, json.Unmarshal([]byte(m.Data), &got))
		require.Equal(t, mine, got.ID)
		require.Equal(t, "order.created", got.Type)
		require.Equal(t, "shop", got.Source)
		require.Equal(t, "me", got.Payload["who"])
	})

	t.Run("FiltersByTypeAndSource", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := httptest.NewServer(b.router)
		t.Cleanup(srv.Close)

		_, msgs := openStream(t, srv, "/api/events/stream?type=order.paid&source=shop", "x-api-key", b.tenant.APIKey)
		idOf(t, post(t, b, `{"type":"order.created","source":"shop","payload":{}}`))
		idOf(t, post(t, b, `{"type":"order.paid","source":"pos","payload":{}}`))
		want := idOf(t, post(t, b, `{"type":"order.paid","source":"shop","payload":{}}`))
		require.Equal(t, want.String(), next(t, msgs).ID)
	})

	t.Run("ResumesAfterLastEventID", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		srv := httptest.NewServer(b.router)
		t.Cleanup(srv.Close)

		first := idOf(t, post(t, b, `{"type":"a","payload":{"n":1}}`))
		second := idOf(t, post(t, b, `{"type":"a","payload":{"n":2}}`))
		third := idOf(t, post(t, b, `{"type":"a","payload":{"n":3}}`))
		// A reconnecting client names the last event it saw; the stream
		// sends what came after it, in order, with nothing new ingested.
		_, msgs := openStream(t, srv, "/api/events/stream", "x-api-key", b.tenant.APIKey, "Last-Event-ID", first.String())
		require.Equal(t, second.String(), next(t, msgs).ID)
		require.Equal(t, third.String(), next(t, msgs).ID)
	})

	t.Run("Problems", func(t *testing.T) {
		t.Parallel()
		b := setup(t)

		for _, tt := range []struct {
			name, path  string
			headers     []string
			status      int
			code, field string
		}{
			{"BadType", "/api/events/stream?type=not%20a%20type", nil, 400, "invalid_query", "type"},
			{"BadSource", "/api/events/stream?source=%00", nil, 400, "invalid_query", "source"},
			{"BadLastEventID", "/api/events/stream", []string{"Last-Event-ID", "yesterday"}, 400, "invalid_query", "Last-Event-ID"},
			{"NoCredentials", "/api/events/stream", []string{"x-api-key", ""}, 401, "", ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				headers := append([]string{"x-api-key", b.tenant.APIKey}, tt.headers...)
				if tt.status == 401 {
					headers = nil
				}
				rec := do(t, b.router, http.MethodGet, tt.path, "", headers...)
				require.Equal(t, tt.status, rec.Code, rec.Body.String())
				p := rec.problem(t)
				if tt.code != "" {
					require.Equal(t, tt.code, p.Code)
					require.Equal(t, tt.field, p.Errors[0].Field)
				}
			})
		}
	})
}

func TestListFiltersBySource(t *testing.T) {
	t.Parallel()
	b := setup(t)
	idOf(t, post(t, b, `{"type":"a","source":"pos","payload":{}}`))
	want := idOf(t, post(t, b, `{"type":"a","source":"shop","payload":{}}`))
	idOf(t, post(t, b, `{"type":"a","payload":{}}`))

	rec := do(t, b.router, http.MethodGet, "/api/events?source=shop", "", "x-api-key", b.tenant.APIKey)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var page struct {
		Data []struct{ ID uuid.UUID }
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
	require.Len(t, page.Data, 1)
	require.Equal(t, want, page.Data[0].ID)
}
