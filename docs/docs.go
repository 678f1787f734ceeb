// Package docs embeds the OpenAPI document and serves it with Swagger UI,
// whose assets are compiled into the binary (no CDN: it works offline).
package docs

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/swaggest/swgui/v5emb"
)

// OpenAPI is the OpenAPI 3 document of the HTTP API. A test in cmd proves it
// lists exactly the routes the router serves.
//
//go:embed openapi.json
var OpenAPI []byte

// UIPath is where Swagger UI is served.
const UIPath = "/api/docs"

// Routes mounts GET /api/openapi.json and Swagger UI at /api/docs.
func Routes(e *echo.Echo) {
	e.GET("/api/openapi.json", func(c echo.Context) error {
		return c.Blob(http.StatusOK, "application/json", OpenAPI)
	})
	ui := echo.WrapHandler(v5emb.New("SignalOps API", "/api/openapi.json", UIPath))
	e.GET(UIPath, ui)
	e.GET(UIPath+"/*", ui)
}
