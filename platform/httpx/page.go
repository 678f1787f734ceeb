package httpx

import (
	"encoding/base64"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
)

// Page sizes of list endpoints.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// PageParams is a parsed ?limit=&cursor=. Lists are ordered by time-ordered
// UUIDv7 ids, newest first; the cursor is the last id of the previous page.
type PageParams struct {
	Limit  int
	Before uuid.UUID // uuid.Nil on the first page
}

// List is the body of every list endpoint.
type List[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

// NewList trims rows fetched with limit+1 to limit and sets the cursor when
// there is a next page. idOf returns a row's id.
func NewList[R, T any](rows []R, limit int, idOf func(R) uuid.UUID, view func(R) T) List[T] {
	out := List[T]{Data: make([]T, 0, min(len(rows), limit))}
	for i, r := range rows {
		if i == limit {
			s := base64.RawURLEncoding.EncodeToString(func() []byte { id := idOf(rows[i-1]); return id[:] }())
			out.NextCursor = &s
			break
		}
		out.Data = append(out.Data, view(r))
	}
	return out
}

// SetLocation sets the Location of a resource a POST to its collection
// created: the route's own path (with the prefix the router was mounted
// under) followed by id, so no module spells the API's prefix.
func SetLocation(c echo.Context, id uuid.UUID) {
	c.Response().Header().Set(echo.HeaderLocation, c.Path()+"/"+id.String())
}

// PathID reads the :id path parameter as a UUID. A malformed id names no
// resource: it answers notFound, like an id of another tenant.
func PathID(c echo.Context, notFound error) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param("id"))
	if err != nil {
		return uuid.Nil, notFound
	}
	return id, nil
}
