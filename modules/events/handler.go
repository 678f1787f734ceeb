package events

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/platform/httpx"
	"github.com/signalops/signalops/platform/pg"
)

type handler struct {
	svc     *Service
	related []RelatedFunc
	count   CountFunc // nil: not counted
}

// counted reports n events with result (ItemAccepted, ItemReplayed,
// ItemRejected) to the ingestion counter, when one is wired.
func (h handler) counted(result string, n int) {
	if h.count != nil && n > 0 {
		h.count(result, n)
	}
}

// HeaderReplayed marks an answer replayed for a repeated idempotency key.
const HeaderReplayed = "Idempotent-Replayed"

type acceptedResponse struct {
	ID     uuid.UUID `json:"id"`
	Status string    `json:"status"`
}

func (h handler) create(c echo.Context) error {
	result := ItemRejected // until the service accepts or replays it
	defer func() { h.counted(result, 1) }()
	req := c.Request()
	key, err := ValidateIdempotencyKey(req.Header.Values("Idempotency-Key"))
	if err != nil {
		return err
	}
	body, err := httpx.ReadBody(req)
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
	usageHeaders(c, res.Quota)
	httpx.SetLocation(c, res.Event.ID)
	out := acceptedResponse{ID: res.Event.ID, Status: StatusAccepted}
	code := http.StatusAccepted
	result = ItemAccepted
	if res.Replayed {
		result, code = ItemReplayed, http.StatusOK
		c.Response().Header().Set(HeaderReplayed, "true")
	}
	return httpx.JSON(c, code, out, func() []byte { return append(out.appendJSON(make([]byte, 0, 64)), '\n') })
}

// appendJSON appends r as encoding/json encodes it.
func (r acceptedResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"id":"`...)
	b = pg.AppendUUID(b, r.ID)
	b = append(b, `","status":`...)
	b = httpx.AppendJSONString(b, r.Status)
	return append(b, '}')
}

type eventView struct {
	ID          uuid.UUID       `json:"id"`
	Type        string          `json:"type"`
	Source      *string         `json:"source"`
	Payload     json.RawMessage `json:"payload"`
	OccurredAt  time.Time       `json:"occurredAt"`
	ReceivedAt  time.Time       `json:"receivedAt"`
	Status      string          `json:"status"`
	ProcessedAt *time.Time      `json:"processedAt"`
}

// eventDetail is one event with what processing it caused.
type eventDetail struct {
	eventView
	Matches    []MatchRef    `json:"matches"`
	Deliveries []DeliveryRef `json:"deliveries"`
}

func toEventView(e Event) eventView {
	return eventView{
		ID: e.ID, Type: e.Type, Source: e.Source, Payload: e.Payload,
		OccurredAt: e.OccurredAt.UTC(), ReceivedAt: e.ReceivedAt.UTC(), Status: e.Status, ProcessedAt: httpx.UTC(e.ProcessedAt),
	}
}

func (h handler) get(c echo.Context) error {
	id, err := httpx.PathID(c, errEventNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tenantID := auth.TenantID(ctx)
	e, err := h.svc.Get(ctx, tenantID, id)
	if err != nil {
		return err
	}
	rel := Related{Matches: []MatchRef{}, Deliveries: []DeliveryRef{}}
	for _, fn := range h.related {
		if err := fn(ctx, tenantID, id, &rel); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, eventDetail{toEventView(e), rel.Matches, rel.Deliveries})
}

func (h handler) list(c echo.Context) error {
	f, err := parseListFilter(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rows, err := h.svc.List(ctx, auth.TenantID(ctx), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewList(rows, f.Limit, func(e Event) uuid.UUID { return e.ID }, toEventView))
}

func parseListFilter(c echo.Context) (ListFilter, error) {
	q := httpx.ReadQuery(c)
	page := q.Page()
	f := ListFilter{Limit: page.Limit, Before: page.Before, Type: q.String("type"), Source: q.String("source")}
	if f.Type != "" && !typeRE.MatchString(f.Type) {
		q.Fail("type", "must be an event type")
	}
	if msg := sourceFilterProblem(f.Source); msg != "" {
		q.Fail("source", msg)
	}
	f.Since, f.Until = q.Time("since"), q.Time("until")
	return f, q.Err()
}

type batchResponse struct {
	Results  []BatchResult `json:"results"`
	Accepted int           `json:"accepted"`
	Replayed int           `json:"replayed"`
	Rejected int           `json:"rejected"`
}

func (h handler) createBatch(c echo.Context) error {
	body, err := httpx.ReadBody(c.Request())
	if err != nil {
		return err
	}
	items, err := ParseBatch(body)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	n := len(items)
	items, q, err := h.svc.IngestBatch(ctx, auth.TenantID(ctx), items)
	if err != nil {
		h.counted(ItemRejected, n) // refused as a whole (an unparseable batch counts no events)
		return err
	}
	usageHeaders(c, q)
	out := batchResponse{Results: items}
	for _, it := range items {
		switch it.Status {
		case ItemAccepted:
			out.Accepted++
		case ItemReplayed:
			out.Replayed++
		default:
			out.Rejected++
		}
	}
	h.counted(ItemAccepted, out.Accepted)
	h.counted(ItemReplayed, out.Replayed)
	h.counted(ItemRejected, out.Rejected)
	return httpx.JSON(c, http.StatusOK, out, func() []byte {
		return append(out.appendJSON(make([]byte, 0, 80+96*len(out.Results))), '\n')
	})
}

// appendJSON appends r as encoding/json encodes it: encoding/json's
// reflection over 100 results was 3 % of serve's CPU at batch ingestion.
func (r batchResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"results":`...)
	if r.Results == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, it := range r.Results {
			if i > 0 {
				b = append(b, ',')
			}
			b = it.appendJSON(b)
		}
		b = append(b, ']')
	}
	b = append(b, `,"accepted":`...)
	b = strconv.AppendInt(b, int64(r.Accepted), 10)
	b = append(b, `,"replayed":`...)
	b = strconv.AppendInt(b, int64(r.Replayed), 10)
	b = append(b, `,"rejected":`...)
	b = strconv.AppendInt(b, int64(r.Rejected), 10)
	return append(b, '}')
}

// usageHeaders reports the monthly quota on every 2xx ingest response.
func usageHeaders(c echo.Context, q billing.Quota) {
	if q.Period.IsZero() {
		return // quotas are not wired (tests of this module alone)
	}
	h := c.Response().Header()
	h.Set("X-Usage-Reset", q.Reset.Format(time.RFC3339))
	if r := q.Remaining(); r != nil {
		h.Set("X-Usage-Limit", strconv.FormatInt(*q.Hard, 10))
		h.Set("X-Usage-Remaining", strconv.FormatInt(*r, 10))
	} else {
		h.Set("X-Usage-Limit", "unlimited")
		h.Set("X-Usage-Remaining", "unlimited")
	}
	if q.WarnSoft {
		h.Set("X-Usage-Warning", fmt.Sprintf("soft limit of %d events for %s passed (%d used)",
			*q.Soft, q.Period.Format("2006-01"), q.Used+q.Added))
	}
}

// sourceFilterProblem says what is wrong with a ?source= filter ("" when
// nothing): it goes to PostgreSQL as text, which holds no NUL and no
// invalid UTF-8.
func sourceFilterProblem(s string) string {
	switch {
	case !utf8.ValidString(s) || strings.ContainsRune(s, 0):
		return "must be valid UTF-8 without NUL"
	case utf8.RuneCountInString(s) > MaxSourceRunes:
		return fmt.Sprintf("must be at most %d characters", MaxSourceRunes)
	}
	return ""
}
