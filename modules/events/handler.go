package events

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/apperr"
)

type handler struct{ svc *Service }

// HeaderReplayed marks an answer replayed for a repeated idempotency key.
const HeaderReplayed = "Idempotent-Replayed"

type acceptedResponse struct {
	ID     uuid.UUID `json:"id"`
	Status string    `json:"status"`
}

func (h handler) create(c echo.Context) error {
	req := c.Request()
	key, err := ValidateIdempotencyKey(req.Header.Values("Idempotency-Key"))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return err // *http.MaxBytesError → 413
	}
	in, err := ParseInput(body, key)
	if err != nil {
		return err
	}
	ctx := req.Context()
	res, err := h.svc.Ingest(ctx, auth.TenantID(ctx), in)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderLocation, "/api/events/"+res.Event.ID.String())
	out := acceptedResponse{ID: res.Event.ID, Status: StatusAccepted}
	if res.Replayed {
		c.Response().Header().Set(HeaderReplayed, "true")
		return c.JSON(http.StatusOK, out)
	}
	return c.JSON(http.StatusAccepted, out)
}

type eventResponse struct {
	ID          uuid.UUID       `json:"id"`
	Type        string          `json:"type"`
	Source      *string         `json:"source"`
	Payload     json.RawMessage `json:"payload"`
	OccurredAt  time.Time       `json:"occurredAt"`
	ReceivedAt  time.Time       `json:"receivedAt"`
	Status      string          `json:"status"`
	ProcessedAt *time.Time      `json:"processedAt"`
}

func toResponse(e Event) eventResponse {
	r := eventResponse{
		ID: e.ID, Type: e.Type, Source: e.Source, Payload: e.Payload,
		OccurredAt: e.OccurredAt.UTC(), ReceivedAt: e.ReceivedAt.UTC(), Status: e.Status,
	}
	if e.ProcessedAt != nil {
		t := e.ProcessedAt.UTC()
		r.ProcessedAt = &t
	}
	return r
}

func (h handler) get(c echo.Context) error {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return errNotFound
	}
	ctx := c.Request().Context()
	e, err := h.svc.Get(ctx, auth.TenantID(ctx), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toResponse(e))
}

type listResponse struct {
	Data       []eventResponse `json:"data"`
	NextCursor *string         `json:"nextCursor"`
}

const (
	defaultPageSize = 50
	maxPageSize     = 200
)

func (h handler) list(c echo.Context) error {
	f, err := parseListFilter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	page, err := h.svc.List(ctx, auth.TenantID(ctx), f)
	if err != nil {
		return err
	}
	out := listResponse{Data: make([]eventResponse, 0, len(page.Events))}
	for _, e := range page.Events {
		out.Data = append(out.Data, toResponse(e))
	}
	if page.NextCursor != nil {
		s := base64.RawURLEncoding.EncodeToString(page.NextCursor[:])
		out.NextCursor = &s
	}
	return c.JSON(http.StatusOK, out)
}

func parseListFilter(c echo.Context) (ListFilter, error) {
	f := ListFilter{Limit: defaultPageSize, Type: c.QueryParam("type")}
	var fields []apperr.FieldError
	bad := func(field, msg string) { fields = append(fields, apperr.FieldError{Field: field, Message: msg}) }
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			bad("limit", "must be an integer from 1 to "+strconv.Itoa(maxPageSize))
		} else {
			f.Limit = n
		}
	}
	if v := c.QueryParam("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) != 16 {
			bad("cursor", "is not a cursor this API returned")
		} else {
			f.Before = uuid.UUID(b)
		}
	}
	if f.Type != "" && !typeRE.MatchString(f.Type) {
		bad("type", "must be an event type")
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := c.QueryParam(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				bad(p.name, "must be an RFC 3339 timestamp")
			} else {
				*p.dst = t
			}
		}
	}
	if len(fields) > 0 {
		return f, apperr.BadRequest("invalid_query", "The query parameters are invalid.", fields...)
	}
	return f, nil
}
