package queue

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/httpx"
)

// DLQRoutes mounts GET /dlq, POST /dlq/retry (bulk), POST /dlq/{id}/retry
// and DELETE /dlq/{id} on g, scoped to the tenant tenantOf reads from the
// authenticated request.
func DLQRoutes(g *httpx.Group, d *DLQ, tenantOf func(context.Context) uuid.UUID) {
	jobID := func(c echo.Context) (int64, error) {
		id, err := strconv.ParseInt(c.Param("id"), 10, 64)
		if err != nil || id <= 0 {
			return 0, errJobNotFound
		}
		return id, nil
	}
	g.GET("/dlq", func(c echo.Context) error {
		// River's own cursor pages the DLQ; limit and the filter, the
		// same as POST /dlq/retry takes, are parsed here.
		q := httpx.ReadQuery(c)
		limit := q.Int("limit", httpx.DefaultPageSize, 1, httpx.MaxPageSize)
		var req retryRequest
		for _, p := range []struct {
			name string
			dst  **string
		}{{"channelId", &req.ChannelID}, {"kind", &req.Kind}, {"since", &req.Since}, {"until", &req.Until}} {
			if v := q.String(p.name); v != "" {
				*p.dst = &v
			}
		}
		ctx := c.Request().Context()
		tenant := tenantOf(ctx)
		f, fields := req.parse(&tenant)
		for _, fe := range fields {
			q.Fail(fe.Field, fe.Message)
		}
		if err := q.Err(); err != nil {
			return err
		}
		jobs, next, err := d.List(ctx, ListFilter{Tenant: &tenant, Kind: f.Kind, Args: f.Args, Since: f.Since, Until: f.Until,
			Cursor: q.String("cursor"), Limit: limit})
		if err != nil {
			return err
		}
		return c.JSON(http.StatusOK, httpx.List[DeadJob]{Data: jobs, NextCursor: next})
	})
	g.POST("/dlq/retry", func(c echo.Context) error {
		var req retryRequest
		if err := httpx.DecodeJSON(c, &req); err != nil {
			return err
		}
		ctx := c.Request().Context()
		tenant := tenantOf(ctx)
		f, err := req.filter(&tenant)
		if err != nil {
			return err
		}
		n, err := d.RetryAll(ctx, f)
		if err != nil {
			return err
		}
		return c.JSON(http.StatusAccepted, map[string]int{"retried": n})
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

// retryRequest is the body of POST /dlq/retry: which dead jobs to retry.
// Every field is optional; {} retries all of the tenant's.
type retryRequest struct {
	ChannelID *string `json:"channelId"`
	Kind      *string `json:"kind"`
	Since     *string `json:"since"`
	Until     *string `json:"until"`
}

func (r retryRequest) filter(tenant *uuid.UUID) (RetryFilter, error) {
	f, fields := r.parse(tenant)
	if len(fields) > 0 {
		return RetryFilter{}, apperr.Invalid("validation_failed", "The retry filter is invalid.", fields...)
	}
	return f, nil
}

// parse reads the filter, and what is wrong with it, by field. GET /dlq
// takes the same filter as query parameters.
func (r retryRequest) parse(tenant *uuid.UUID) (RetryFilter, []apperr.FieldError) {
	f := RetryFilter{Tenant: tenant}
	var fields []apperr.FieldError
	if r.ChannelID != nil {
		id, err := uuid.Parse(*r.ChannelID)
		if err != nil {
			fields = append(fields, apperr.FieldError{Field: "channelId", Message: "must be a UUID"})
		} else {
			f.Args = map[string]string{"channel_id": id.String()}
		}
	}
	if r.Kind != nil {
		if k := *r.Kind; k == "" || !validKind(k) {
			fields = append(fields, apperr.FieldError{Field: "kind", Message: "must be a job kind such as notify.deliver"})
		} else {
			f.Kind = k
		}
	}
	for _, t := range []struct {
		name string
		v    *string
		dst  **time.Time
	}{{"since", r.Since, &f.Since}, {"until", r.Until, &f.Until}} {
		if t.v == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, *t.v)
		if err != nil {
			fields = append(fields, apperr.FieldError{Field: t.name, Message: "must be an RFC 3339 time"})
			continue
		}
		*t.dst = &at
	}
	if f.Since != nil && f.Until != nil && !f.Until.After(*f.Since) {
		fields = append(fields, apperr.FieldError{Field: "until", Message: "must be after since"})
	}
	return f, fields
}

// validKind accepts what can be a job kind: PostgreSQL text without
// control characters (NUL included), at most 255 bytes.
func validKind(k string) bool {
	return len(k) <= 255 && utf8.ValidString(k) && !strings.ContainsFunc(k, unicode.IsControl)
}
