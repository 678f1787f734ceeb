package httpx

import (
	"slices"

	"github.com/labstack/echo/v4"
)

// Group mounts routes under a prefix with shared middleware. Unlike
// echo.Group with middleware, it registers no catch-all route, so a path
// nobody serves answers 404 instead of running (say) authentication first.
type Group struct {
	e      *echo.Echo
	prefix string
	mw     []echo.MiddlewareFunc
}

// NewGroup returns a Group of e under prefix.
func NewGroup(e *echo.Echo, prefix string, mw ...echo.MiddlewareFunc) *Group {
	return &Group{e: e, prefix: prefix, mw: mw}
}

// With returns a sub-group adding middleware.
func (g *Group) With(mw ...echo.MiddlewareFunc) *Group {
	return &Group{e: g.e, prefix: g.prefix, mw: append(slices.Clone(g.mw), mw...)}
}

func (g *Group) add(method, path string, h echo.HandlerFunc, mw []echo.MiddlewareFunc) *echo.Route {
	return g.e.Add(method, g.prefix+path, h, append(slices.Clone(g.mw), mw...)...)
}

func (g *Group) GET(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) *echo.Route {
	return g.add("GET", path, h, mw)
}

func (g *Group) POST(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) *echo.Route {
	return g.add("POST", path, h, mw)
}

func (g *Group) PUT(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) *echo.Route {
	return g.add("PUT", path, h, mw)
}

func (g *Group) PATCH(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) *echo.Route {
	return g.add("PATCH", path, h, mw)
}

func (g *Group) DELETE(path string, h echo.HandlerFunc, mw ...echo.MiddlewareFunc) *echo.Route {
	return g.add("DELETE", path, h, mw)
}
