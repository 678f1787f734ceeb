package rules

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/httpx"
)

type handler struct{ svc *Service }

type ruleView struct {
	ID         uuid.UUID       `json:"id"`
	Name       string          `json:"name"`
	Enabled    bool            `json:"enabled"`
	Version    int             `json:"version"`
	Definition json.RawMessage `json:"definition"`
	CreatedAt  time.Time       `json:"createdAt"`
	CreatedBy  *uuid.UUID      `json:"createdBy"`
	UpdatedAt  time.Time       `json:"updatedAt"`
	UpdatedBy  *uuid.UUID      `json:"updatedBy"`
}

func toRuleView(r Rule) ruleView {
	return ruleView{ID: r.ID, Name: r.Name, Enabled: r.Enabled, Version: r.Version, Definition: r.Definition,
		CreatedAt: r.CreatedAt.UTC(), CreatedBy: r.CreatedBy, UpdatedAt: r.UpdatedAt.UTC(), UpdatedBy: r.UpdatedBy}
}

type ruleRequest struct {
	Name       *string         `json:"name"`
	Enabled    *bool           `json:"enabled"`
	Definition json.RawMessage `json:"definition"`
}

func (h handler) create(c echo.Context) error {
	var req ruleRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := h.svc.Create(ctx, auth.MustPrincipal(ctx), Input(req))
	if err != nil {
		return err
	}
	httpx.SetLocation(c, r.ID)
	return c.JSON(http.StatusCreated, toRuleView(r))
}

func (h handler) list(c echo.Context) error {
	page, err := httpx.ReadPage(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	rows, err := h.svc.List(ctx, auth.TenantID(ctx), page.Before, page.Limit)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, httpx.NewList(rows, page.Limit, func(r Rule) uuid.UUID { return r.ID }, toRuleView))
}

func (h handler) get(c echo.Context) error {
	id, err := httpx.PathID(c, errRuleNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := h.svc.Get(ctx, auth.TenantID(ctx), id)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRuleView(r))
}

func (h handler) update(c echo.Context) error {
	id, err := httpx.PathID(c, errRuleNotFound)
	if err != nil {
		return err
	}
	var req ruleRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := h.svc.Update(ctx, auth.MustPrincipal(ctx), id, Input(req))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRuleView(r))
}

func (h handler) delete(c echo.Context) error {
	id, err := httpx.PathID(c, errRuleNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := h.svc.Delete(ctx, auth.MustPrincipal(ctx), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type versionView struct {
	Version    int             `json:"version"`
	Definition json.RawMessage `json:"definition"`
	CreatedAt  time.Time       `json:"createdAt"`
	CreatedBy  *uuid.UUID      `json:"createdBy"`
}

func (h handler) versions(c echo.Context) error {
	id, err := httpx.PathID(c, errRuleNotFound)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	vs, err := h.svc.Versions(ctx, auth.TenantID(ctx), id)
	if err != nil {
		return err
	}
	out := httpx.List[versionView]{Data: make([]versionView, 0, len(vs))}
	for _, v := range vs {
		out.Data = append(out.Data, versionView{Version: v.Version, Definition: v.Definition, CreatedAt: v.CreatedAt.UTC(), CreatedBy: v.CreatedBy})
	}
	return c.JSON(http.StatusOK, out)
}

func (h handler) rollback(c echo.Context) error {
	id, err := httpx.PathID(c, errRuleNotFound)
	if err != nil {
		return err
	}
	version, err := httpx.DecodeRollback(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	r, err := h.svc.Rollback(ctx, auth.MustPrincipal(ctx), id, version)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toRuleView(r))
}

type testRequest struct {
	Definition json.RawMessage `json:"definition"`
	RuleID     *uuid.UUID      `json:"ruleId"`
	Event      json.RawMessage `json:"event"`
}

func (h handler) test(c echo.Context) error {
	var req testRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	if len(req.Event) == 0 {
		return apperr.Invalid("validation_failed", "Give the event to test against.",
			apperr.FieldError{Field: "event", Message: "is required"})
	}
	in, err := events.ParseInput(req.Event, "")
	if e, ok := apperr.As(err); ok {
		for i := range e.Fields {
			e.Fields[i].Field = "event." + e.Fields[i].Field
		}
		return e
	} else if err != nil {
		return err
	}
	ctx := c.Request().Context()
	res, err := h.svc.Test(ctx, auth.TenantID(ctx), req.Definition, req.RuleID, in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}

type backtestRequest struct {
	Definition json.RawMessage `json:"definition"`
	RuleID     *uuid.UUID      `json:"ruleId"`
	Since      *time.Time      `json:"since"`
	Until      *time.Time      `json:"until"`
	Limit      *int            `json:"limit"`
}

func (h handler) backtest(c echo.Context) error {
	var req backtestRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	in := BacktestInput{Definition: req.Definition, RuleID: req.RuleID, Limit: 10_000, Until: time.Now()}
	in.Since = in.Until.Add(-7 * 24 * time.Hour)
	if req.Since != nil {
		in.Since = *req.Since
	}
	if req.Until != nil {
		in.Until = *req.Until
	}
	if req.Limit != nil {
		in.Limit = *req.Limit
	}
	ctx := c.Request().Context()
	res, err := h.svc.Backtest(ctx, auth.TenantID(ctx), in)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, res)
}
