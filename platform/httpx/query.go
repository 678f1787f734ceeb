package httpx

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
)

// Query reads a request's query parameters and collects what is wrong with
// them, so that one 400 invalid_query names every bad parameter. An absent
// or empty parameter is not an error: each reader returns its default.
//
//	q := httpx.ReadQuery(c)
//	page := q.Page()
//	since := q.Time("since")
//	if err := q.Err(); err != nil {
//		return err
//	}
type Query struct {
	c      echo.Context
	fields []apperr.FieldError
}

// ReadQuery starts reading c's query parameters.
func ReadQuery(c echo.Context) *Query { return &Query{c: c} }

// String returns the parameter as sent ("" when absent).
func (q *Query) String(name string) string { return q.c.QueryParam(name) }

// Int returns the parameter as an integer from lo to hi, def when absent.
func (q *Query) Int(name string, def, lo, hi int) int {
	v := q.c.QueryParam(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.Fail(name, fmt.Sprintf("must be an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

// Time returns the parameter as an RFC 3339 timestamp, the zero time when
// absent.
func (q *Query) Time(name string) time.Time {
	v := q.c.QueryParam(name)
	if v == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		q.Fail(name, "must be an RFC 3339 timestamp")
	}
	return t
}

// UUID returns the parameter as a UUID, uuid.Nil when absent.
func (q *Query) UUID(name string) uuid.UUID {
	v := q.c.QueryParam(name)
	if v == "" {
		return uuid.Nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		q.Fail(name, "must be a UUID")
	}
	return id
}

// Page returns ?limit=&cursor= of a list endpoint.
func (q *Query) Page() PageParams {
	p := PageParams{Limit: q.Int("limit", DefaultPageSize, 1, MaxPageSize)}
	if v := q.c.QueryParam("cursor"); v != "" {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil || len(b) != 16 {
			q.Fail("cursor", "is not a cursor this API returned")
		} else {
			p.Before = uuid.UUID(b)
		}
	}
	return p
}

// Fail records that the parameter name is wrong, for checks of a module's
// own (an enum, a pattern).
func (q *Query) Fail(name, message string) {
	q.fields = append(q.fields, apperr.FieldError{Field: name, Message: message})
}

// Err is the 400 invalid_query problem naming every bad parameter, or nil.
func (q *Query) Err() error {
	if len(q.fields) == 0 {
		return nil
	}
	return apperr.BadRequest("invalid_query", "The query parameters are invalid.", q.fields...)
}

// ReadPage reads ?limit=&cursor= of a list endpoint that takes nothing else.
func ReadPage(c echo.Context) (PageParams, error) {
	q := ReadQuery(c)
	p := q.Page()
	return p, q.Err()
}
