package notify

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/httpx"
)

type handler struct{ svc *Service }

type channelView struct {
	ID        uuid.UUID       `json:"id"`
	Name      string          `json:"name"`
	Kind      string          `json:"kind"`
	Config    json.RawMessage `json:"config"`
	Health    Health          `json:"health"`
	CreatedAt time.Time       `json:"createdAt"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

func toChannelView(c Channel, f Flow) channelView {
	return channelView{ID: c.ID, Name: c.Name, Kind: c.Kind, Config: c.Config, Health: f.Health(time.Now()),
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}
}

// closedFlow is the flow state of a channel that never failed.
func closedFlow(c Channel) Flow {
	return Flow{ChannelID: c.ID, TenantID: c.TenantID, State: CircuitClosed}
}

// withHealth is the view of a channel with its flow state read.
func (h handler) withHealth(ctx context.Context, c Channel) (channelView, error) {
	fs, err := h.svc.Flows(ctx, c.TenantID, []uuid.UUID{c.ID})
	if err != nil {
		return channelView{}, err
	}
	return toChannelView(c, fs[c.ID]), nil
}

type channelRequest struct {
	Name    *string         `json:"name"`
	Kind    string          `json:"kind"`
	Config  json.RawMessage `json:"config"`
	Secrets json.RawMessage `json:"secrets"`
}

func (h handler) createChannel(c echo.Context) error {
	var req channelRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	ch, generated, err := h.svc.CreateChannel(ctx, auth.TenantID(ctx), ChannelInput(req))
	if err != nil {
		return err
	}
	httpx.SetLocation(c, ch.ID)
	if generated == "" {
		return c.JSON(http.StatusCreated, toChannelView(ch, closedFlow(ch)))
	}
	// The generated signing secret is shown once, here.
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, struct {
		channelView
		Secrets map[string]string `json:"secrets"`
	}{toChannelView(ch, closedFlow(ch)), map[string]string{"signingSecret": generated}})
}

func (h handler) listChannels(c echo.Context) error {
	page, err := httpx.ReadPage(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	tenantID := auth.TenantID(ctx)
	rows, err := h.svc.ListChannels(ctx, tenantID, page.Before, page.Limit)
	if err != nil {
		return err
	}
	ids := make([]uuid.UUID, len(rows))
	for i, ch := range rows {
		ids[i] = ch.ID
	}
	flows, err := h.svc.Flows(ctx, tenantID, ids)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewList(rows, page.Limit, func(ch Channel) uuid.UUID { return ch.ID },
		func(ch Channel) channelView { return toChannelView(ch, flows[ch.ID]) }))
}

func (h handler) getChannel(c echo.Context) error {
	id, err := httpx.PathID(c, errChannelNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	ch, err := h.svc.GetChannel(ctx, auth.TenantID(ctx), id)
	if err != nil {
		return err
	}
	v, err := h.withHealth(ctx, ch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (h handler) updateChannel(c echo.Context) error {
	id, err := httpx.PathID(c, errChannelNotFound)
	if err != nil {
		return err
	}
	var req channelRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	ch, err := h.svc.UpdateChannel(ctx, auth.TenantID(ctx), id, ChannelInput(req))
	if err != nil {
		return err
	}
	v, err := h.withHealth(ctx, ch)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, v)
}

func (h handler) deleteChannel(c echo.Context) error {
	id, err := httpx.PathID(c, errChannelNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := h.svc.DeleteChannel(ctx, auth.TenantID(ctx), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (h handler) testChannel(c echo.Context) error {
	id, err := httpx.PathID(c, errChannelNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	res, err := h.svc.TestChannel(ctx, auth.TenantID(ctx), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

type attemptView struct {
	Attempt           int       `json:"attempt"`
	Succeeded         bool      `json:"succeeded"`
	StatusCode        *int      `json:"statusCode"`
	LatencyMS         int       `json:"latencyMs"`
	Error             *string   `json:"error"`
	ProviderMessageID *string   `json:"providerMessageId"`
	At                time.Time `json:"at"`
}

type deliveryView struct {
	ID                uuid.UUID     `json:"id"`
	EventID           uuid.UUID     `json:"eventId"`
	RuleID            *uuid.UUID    `json:"ruleId"`
	RuleVersion       *int          `json:"ruleVersion"`
	ChannelID         uuid.UUID     `json:"channelId"`
	Message           string        `json:"message"`
	Status            string        `json:"status"`
	Attempts          []attemptView `json:"attempts"`
	LastError         *string       `json:"lastError"`
	ProviderMessageID *string       `json:"providerMessageId"`
	CreatedAt         time.Time     `json:"createdAt"`
	DeliveredAt       *time.Time    `json:"deliveredAt"`
	// A fallback chain (fallback.go): the delivery this one replaced, the
	// one that replaced it, and the channels still to try after this one.
	FallbackOf *uuid.UUID  `json:"fallbackOf"`
	ReplacedBy *uuid.UUID  `json:"replacedBy"`
	Fallback   []uuid.UUID `json:"fallback"`
}

func toDeliveryView(d Delivery, as []Attempt) deliveryView {
	v := deliveryView{ID: d.ID, EventID: d.EventID, RuleID: d.RuleID, RuleVersion: d.RuleVersion, ChannelID: d.ChannelID,
		Message: d.Message, Status: d.Status, Attempts: make([]attemptView, 0, len(as)), LastError: d.LastError,
		ProviderMessageID: d.ProviderMessageID, CreatedAt: d.CreatedAt.UTC(), DeliveredAt: httpx.UTC(d.DeliveredAt),
		FallbackOf: d.FallbackOf, ReplacedBy: d.ReplacedBy, Fallback: append([]uuid.UUID{}, d.Fallback...)}
	for _, a := range as {
		v.Attempts = append(v.Attempts, attemptView{Attempt: a.Attempt, Succeeded: a.Succeeded, StatusCode: a.StatusCode,
			LatencyMS: a.LatencyMS, Error: a.Error, ProviderMessageID: a.ProviderMessageID, At: a.CreatedAt.UTC()})
	}
	return v
}

func (h handler) listDeliveries(c echo.Context) error {
	q := httpx.ReadQuery(c)
	page := q.Page()
	f := DeliveryFilter{Before: page.Before, Limit: page.Limit, Status: q.String("status"),
		EventID: q.UUID("eventId"), ChannelID: q.UUID("channelId")}
	switch f.Status {
	case "", StatusPending, StatusSucceeded, StatusFailed:
	default:
		q.Fail("status", "must be pending, succeeded or failed")
	}
	if err := q.Err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	rows, attempts, err := h.svc.ListDeliveries(ctx, auth.TenantID(ctx), f)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewList(rows, page.Limit, func(d Delivery) uuid.UUID { return d.ID },
		func(d Delivery) deliveryView { return toDeliveryView(d, attempts[d.ID]) }))
}

func (h handler) retryDelivery(c echo.Context) error {
	id, err := httpx.PathID(c, errDeliveryNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	d, err := h.svc.RetryDelivery(ctx, auth.TenantID(ctx), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, toDeliveryView(d, nil))
}
