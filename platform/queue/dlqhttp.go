package queue

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/httpx"
)

// DLQRoutes mounts GET /dlq, POST /dlq/{id}/retry and DELETE /dlq/{id} on g,
// scoped to the tenant tenantOf reads from the authenticated request.
func DLQRoutes(g *httpx.Group, d *DLQ, tenantOf func(context.Context) uuid.UUID) {
	jobID := func(c echo.Context) (int64, error) {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			return 0, errJobNotFound
		}
		return id, nil
	}
	g.GET("/dlq", func(c echo.Context) error {
		// River's own cursor pages the DLQ; only limit is parsed here.
		q := httpx.ReadQuery(c)
		limit := q.Int("limit", httpx.DefaultPageSize, 1, httpx.MaxPageSize)
		// The kind goes to PostgreSQL as text, which cannot hold NUL or
		// invalid UTF-8: refuse those here rather than fail the query.
		kind := q.String("kind")
		if len(kind) > 255 || !utf8.ValidString(kind) || strings.ContainsFunc(kind, unicode.IsControl) {
			q.Fail("kind", "must be a job kind such as notify.deliver")
		}
		if err := q.Err(); err != nil {
			return err
		}
		ctx := c.Request().Context()
		tenant := tenantOf(ctx)
		jobs, next, err := d.List(ctx, ListFilter{Tenant: &tenant, Kind: kind, Cursor: q.String("cursor"), Limit: limit})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, httpx.List[DeadJob]{Data: jobs, NextCursor: next})
	})
	g.POST("/dlq/:id/retry", func(c echo.Context) error {
		id, err := jobID(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		tenant := tenantOf(ctx)
		j, err := d.Retry(ctx, &tenant, id)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusAccepted, j)
	})
	g.DELETE("/dlq/:id", func(c echo.Context) error {
		id, err := jobID(c)
		if err != nil {
			return err
		}
		ctx := c.Request().Context()
		tenant := tenantOf(ctx)
		if err := d.Discard(ctx, &tenant, id); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	})
}
