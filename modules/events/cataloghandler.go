package events

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/modules/auth"
	"github.com/signalops/signalops/platform/httpx"
)

// TypeRoutes mounts the event type catalog on g (bearer token already
// checked): any role reads, members and up write, as for rules.
func (m *Module) TypeRoutes(g *httpx.Group) {
	h := typeHandler{svc: m.Service}
	g = g.With(auth.Require(auth.RoleViewer, auth.RoleMember), httpx.BodyLimit(maxTypeBody))
	g.GET("/event-types", h.list)
	g.GET("/event-types/:type", h.get)
	g.PUT("/event-types/:type", h.put)
	g.DELETE("/event-types/:type", h.retire)
	g.GET("/event-types/:type/versions", h.versions)
	g.POST("/event-types/:type/rollback", h.rollback)
}

type typeHandler struct{ svc *Service }

type eventTypeView struct {
	Type        string          `json:"type"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"` // null: payloads are not validated
	Version     int             `json:"version"`
	CreatedAt   time.Time       `json:"createdAt"`
	CreatedBy   *uuid.UUID      `json:"createdBy"`
	UpdatedAt   time.Time       `json:"updatedAt"`
	UpdatedBy   *uuid.UUID      `json:"updatedBy"`
}

func toTypeView(t EventType) eventTypeView {
	return eventTypeView{Type: t.Type, Description: t.Description, Schema: t.Schema, Version: t.Version,
		CreatedAt: t.CreatedAt.UTC(), CreatedBy: t.CreatedBy, UpdatedAt: t.UpdatedAt.UTC(), UpdatedBy: t.UpdatedBy}
}

// pathType is the :type path parameter, unescaped.
func pathType(c echo.Context) string {
	typ := c.Param("type")
	if s, err := url.PathUnescape(typ); err == nil {
		return s
	}
	return typ
}

func (h typeHandler) list(c echo.Context) error {
	q := httpx.ReadQuery(c)
	limit := q.Int("limit", httpx.DefaultPageSize, 1, httpx.MaxPageSize)
	var after string
	if v := q.String("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || !typeRE.Match(b) {
			q.Fail("cursor", "is not a cursor this API returned")
		}
		after = string(b)
	}
	if err := q.Err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	rows, err := h.svc.ListTypes(ctx, auth.TenantID(ctx), after, limit)
	if err != nil {
		return err
	}
	out := httpx.List[eventTypeView]{Data: make([]eventTypeView, 0, min(len(rows), limit))}
	for i, t := range rows {
		if i == limit {
			next := base64.RawURLEncoding.EncodeToString([]byte(rows[i-1].Type))
			out.NextCursor = &next
			break
		}
		out.Data = append(out.Data, toTypeView(t))
	}
	return c.JSON(http.StatusOK, out)
}

func (h typeHandler) get(c echo.Context) error {
	ctx := c.Request().Context()
	t, err := h.svc.GetType(ctx, auth.TenantID(ctx), pathType(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTypeView(t))
}

type typeRequest struct {
	Description *string         `json:"description"`
	Schema      json.RawMessage `json:"schema"`
}

func (h typeHandler) put(c echo.Context) error {
	var req typeRequest
	if err := httpx.DecodeJSON(c, &req); err != nil {
		return err
	}
	in := TypeInput{Schema: req.Schema}
	if req.Description != nil {
		in.Description = *req.Description
	}
	ctx := c.Request().Context()
	t, created, err := h.svc.PutType(ctx, auth.MustPrincipal(ctx), pathType(c), in)
	if err != nil {
		return err
	}
	if created {
		c.Response().Header().Set(echo.HeaderLocation, c.Request().URL.Path)
		return c.JSON(http.StatusCreated, toTypeView(t))
	}
	return c.JSON(http.StatusOK, toTypeView(t))
}

func (h typeHandler) retire(c echo.Context) error {
	ctx := c.Request().Context()
	if err := h.svc.RetireType(ctx, auth.MustPrincipal(ctx), pathType(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type typeVersionView struct {
	Version     int             `json:"version"`
	Description string          `json:"description"`
	Schema      json.RawMessage `json:"schema"`
	CreatedAt   time.Time       `json:"createdAt"`
	CreatedBy   *uuid.UUID      `json:"createdBy"`
}

func (h typeHandler) versions(c echo.Context) error {
	ctx := c.Request().Context()
	vs, err := h.svc.TypeVersions(ctx, auth.TenantID(ctx), pathType(c))
	if err != nil {
		return err
	}
	out := httpx.List[typeVersionView]{Data: make([]typeVersionView, 0, len(vs))}
	for _, v := range vs {
		out.Data = append(out.Data, typeVersionView{Version: v.Version, Description: v.Description, Schema: v.Schema,
			CreatedAt: v.CreatedAt.UTC(), CreatedBy: v.CreatedBy})
	}
	return c.JSON(http.StatusOK, out)
}

func (h typeHandler) rollback(c echo.Context) error {
	version, err := httpx.DecodeRollback(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	t, err := h.svc.RollbackType(ctx, auth.MustPrincipal(ctx), pathType(c), version)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toTypeView(t))
}
