package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/pg"
)

// StreamPath is the path of the live tail under the group Routes mounts
// the reads on (cmd owns the prefix, /api). The stream is long-lived, so
// cmd exempts it from REQUEST_TIMEOUT; it bounds itself (StreamLifetime).
const StreamPath = "/events/stream"

// Stream timing. A stream polls the events table: simple, and an open tail
// costs one indexed query per poll. An event is sent once it is
// streamHoldBack old: ids are made before their transaction commits, so a
// row may become visible after a younger one; waiting streamHoldBack lets
// every transaction that commits within streamHoldBack of making its ids be
// seen in id order, and the cursor never skips a row. After StreamLifetime
// the stream ends and the client reconnects with Last-Event-ID (EventSource
// does so by itself after the retry delay), which authenticates it again: a
// revoked key or an expired token stops a tail within StreamLifetime.
const (
	streamPoll      = 500 * time.Millisecond
	streamHoldBack  = time.Second
	streamHeartbeat = 15 * time.Second
	streamBatch     = 100
	// StreamLifetime stays under the server's WriteTimeout (60 s).
	StreamLifetime = 40 * time.Second
	streamRetry    = time.Second
)

// TailFilter selects the events a stream sends.
type TailFilter struct {
	After  uuid.UUID // exclusive; uuid.Nil: from the start of the hold-back window
	Type   string
	Source string
}

// Tail returns up to limit of the tenant's events after f.After and before
// below, oldest first.
func (s *Service) Tail(ctx context.Context, tenantID uuid.UUID, f TailFilter, below uuid.UUID, limit int) ([]Event, error) {
	return s.repo.Tail(ctx, s.db, tenantID, f, below, limit)
}

func parseTailFilter(c echo.Context) (TailFilter, error) {
	var fields []apperr.FieldError
	f := TailFilter{Type: c.QueryParam("type"), Source: c.QueryParam("source")}
	if f.Type != "" && !typeRE.MatchString(f.Type) {
		fields = append(fields, apperr.FieldError{Field: "type", Message: "must be an event type"})
	}
	if msg := sourceFilterProblem(f.Source); msg != "" {
		fields = append(fields, apperr.FieldError{Field: "source", Message: msg})
	}
	if v := c.Request().Header.Get("Last-Event-ID"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			fields = append(fields, apperr.FieldError{Field: "Last-Event-ID", Message: "must be the id of an event this stream sent"})
		}
		f.After = id
	}
	if len(fields) > 0 {
		return f, apperr.BadRequest("invalid_query", "The query parameters are invalid.", fields...)
	}
	return f, nil
}

// stream serves GET /api/events/stream: Server-Sent Events, one `event`
// message per new event (its id is the event's, so Last-Event-ID resumes
// after it), comments as heartbeats.
func (h handler) stream(c echo.Context) error {
	f, err := parseTailFilter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tenantID := auth.TenantID(ctx)
	now := time.Now()
	if f.After == uuid.Nil {
		f.After = pg.UUIDv7Floor(now.Add(-streamHoldBack))
	}
	// The first query runs before the response is committed, so a failure
	// is still an ordinary problem+json answer.
	below := pg.UUIDv7Floor(now.Add(-streamHoldBack))
	rows, err := h.svc.Tail(ctx, tenantID, f, below, streamBatch)
	if err != nil {
		return err
	}
	res := c.Response()
	hdr := res.Header()
	hdr.Set(echo.HeaderContentType, "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // proxies must not buffer the stream
	res.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(res, "retry: %d\n: stream of tenant events; ends after %s, reconnect with Last-Event-ID\n\n",
		streamRetry.Milliseconds(), StreamLifetime); err != nil {
		return nil // the client left
	}
	res.Flush()

	end := time.NewTimer(StreamLifetime)
	defer end.Stop()
	poll := time.NewTicker(streamPoll)
	defer poll.Stop()
	lastWrite := time.Now()
	for {
		for _, e := range rows {
			b, err := json.Marshal(toEventView(e))
			if err != nil {
				return nil
			}
			if _, err := fmt.Fprintf(res, "id: %s\nevent: event\ndata: %s\n\n", e.ID, b); err != nil {
				return nil
			}
			f.After = e.ID
		}
		if len(rows) > 0 {
			res.Flush()
			lastWrite = time.Now()
		}
		if len(rows) == streamBatch {
			// More are waiting: send them without waiting for the next tick.
		} else {
			// Every row below `below` has been seen: the next query starts
			// there, so a tail filtered to a rare type does not rescan.
			if bytes.Compare(f.After[:], below[:]) < 0 {
				f.After = uuidBefore(below)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-end.C:
				return nil
			case <-poll.C:
			}
		}
		if time.Since(lastWrite) >= streamHeartbeat {
			if _, err := fmt.Fprint(res, ": keep-alive\n\n"); err != nil {
				return nil
			}
			res.Flush()
			lastWrite = time.Now()
		}
		below = pg.UUIDv7Floor(time.Now().Add(-streamHoldBack))
		if rows, err = h.svc.Tail(ctx, tenantID, f, below, streamBatch); err != nil {
			if ctx.Err() == nil {
				// The response is committed: the error handler can no longer
				// answer, so the stream ends here and the client reconnects.
				h.svc.logger.WarnContext(ctx, "event stream query failed", slog.Any("error", err))
			}
			return nil
		}
	}
}

// uuidBefore is the largest id below u (u is a UUIDv7 floor, never Nil).
func uuidBefore(u uuid.UUID) uuid.UUID {
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] > 0 {
			u[i]--
			return u
		}
		u[i] = 0xff
	}
	return u
}
