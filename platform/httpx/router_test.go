package httpx_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/httpx"
)

func TestRouterProblems(t *testing.T) {
	t.Parallel()
	e := httpx.NewRouter(slog.New(slog.DiscardHandler), httpx.Options{BodyLimit: 16})
	e.GET("/panic", func(echo.Context) error { panic("secret internal state") })
	e.GET("/internal", func(echo.Context) error { return io.ErrUnexpectedEOF })
	e.GET("/plain", func(echo.Context) error { return echo.ErrForbidden })
	e.GET("/app", func(echo.Context) error {
		return apperr.Invalid("bad_thing", "Thing is bad.", apperr.FieldError{Field: "thing", Message: "is bad"})
	})
	e.GET("/boom", func(echo.Context) error { return errSQL })
	e.POST("/echo", func(c echo.Context) error {
		b, err := io.ReadAll(c.Request().Body)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, string(b))
	})

	for _, tt := range []struct {
		name, method, path, body string
		wantStatus               int
		wantCode                 string
	}{
		{"Panic", "GET", "/panic", "", 500, "internal_error"},
		{"UnknownError", "GET", "/boom", "", 500, "internal_error"},
		{"ConnectionDropped", "GET", "/internal", "", 503, "service_unavailable"},
		{"EchoHTTPError", "GET", "/plain", "", 403, "forbidden"},
		{"AppError", "GET", "/app", "", 422, "bad_thing"},
		{"UnknownRoute", "GET", "/nope", "", 404, "not_found"},
		{"WrongMethod", "DELETE", "/app", "", 405, "method_not_allowed"},
		{"BodyOverLimit", "POST", "/echo", strings.Repeat("x", 17), 413, "payload_too_large"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, req)

			require.Equal(t, tt.wantStatus, rec.Code, rec.Body.String())
			require.Equal(t, httpx.ProblemContentType, rec.Header().Get(echo.HeaderContentType))
			var p httpx.Problem
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
			require.Equal(t, tt.wantCode, p.Code)
			require.Equal(t, "/problems/"+tt.wantCode, p.Type)
			require.Equal(t, tt.wantStatus, p.Status)
			require.Equal(t, tt.path, p.Instance)
			require.NotEmpty(t, p.RequestID)
			require.Equal(t, rec.Header().Get(httpx.HeaderRequestID), p.RequestID)
			require.NotContains(t, rec.Body.String(), "secret")
			require.NotContains(t, rec.Body.String(), "pq:")
		})
	}

	t.Run("BodyUnderLimitPasses", func(t *testing.T) {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest("POST", "/echo", strings.NewReader("0123456789abcdef")))
		require.Equal(t, http.StatusOK, rec.Code)
	})

	t.Run("KeepsSaneIncomingRequestID", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/app", nil)
		req.Header.Set(httpx.HeaderRequestID, "trace-123")
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		require.Equal(t, "trace-123", rec.Header().Get(httpx.HeaderRequestID))

		req.Header.Set(httpx.HeaderRequestID, "bad id\x01")
		rec = httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		require.NotEqual(t, "bad id\x01", rec.Header().Get(httpx.HeaderRequestID))
	})
}

type sqlError struct{}

func (sqlError) Error() string { return `pq: syntax error at or near "secret"` }

var errSQL error = sqlError{}

func TestRouterMetrics(t *testing.T) {
	t.Parallel()
	type seen struct {
		route, method string
		status        int
	}
	var got []seen
	e := httpx.NewRouter(slog.New(slog.DiscardHandler), httpx.Options{
		Metrics: func(route, method string, status int, _ time.Duration) {
			got = append(got, seen{route, method, status})
		},
	})
	e.GET("/api/things/:id", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/api/gone/:id", func(echo.Context) error { return apperr.NotFound("thing_not_found", "No such thing.") })

	for _, tt := range []struct {
		method, path string
		want         seen
	}{
		{"GET", "/api/things/42", seen{"/api/things/:id", "GET", 204}},
		{"GET", "/api/gone/42", seen{"/api/gone/:id", "GET", 404}},
		{"GET", "/nope", seen{httpx.RouteUnmatched, "GET", 404}},
		{"GET", "/api/nope/deeper", seen{httpx.RouteUnmatched, "GET", 404}},
		{"GET", "/api/things", seen{httpx.RouteUnmatched, "GET", 404}},
		{"DELETE", "/api/things/42", seen{"/api/things/:id", "DELETE", 405}},
	} {
		got = nil
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, nil))
		require.Equal(t, []seen{tt.want}, got, "%s %s", tt.method, tt.path)
	}
}

// TestSetLocation: the Location of a created resource follows the prefix
// the routes were mounted under, which the module never spells.
func TestSetLocation(t *testing.T) {
	t.Parallel()
	e := httpx.NewRouter(slog.New(slog.DiscardHandler), httpx.Options{})
	id := uuid.New()
	create := func(c echo.Context) error {
		httpx.SetLocation(c, id)
		return c.NoContent(http.StatusCreated)
	}
	httpx.NewGroup(e, "/api").POST("/things", create)
	httpx.NewGroup(e, "/v2/api").POST("/things", create)
	for path, want := range map[string]string{"/api/things": "/api/things/" + id.String(), "/v2/api/things": "/v2/api/things/" + id.String()} {
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
		require.Equal(t, http.StatusCreated, rec.Code)
		require.Equal(t, want, rec.Header().Get(echo.HeaderLocation))
	}
}
