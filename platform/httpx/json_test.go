package httpx_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/httpx"
)

func TestAppendJSONString(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "accepted", `a"b`, `a\b`, "<script>&", "tab\t", "\x00\x1f", "é ✓ 😀", "\u2028\u2029",
		"\xff invalid", "/slash", "\x7f"} {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(httpx.AppendJSONString(nil, s)), "%q", s)
	}
}

// TestJSON checks that httpx.JSON answers byte for byte as c.JSON does,
// indented when asked.
func TestJSON(t *testing.T) {
	t.Parallel()
	type thing struct {
		Name string `json:"name"`
	}
	v := thing{Name: "<a & b>"}
	encoded := func() []byte {
		b := append([]byte(nil), `{"name":`...)
		return append(httpx.AppendJSONString(b, v.Name), "}\n"...)
	}
	e := httpx.NewRouter(slog.New(slog.DiscardHandler), httpx.Options{})
	e.GET("/fast", func(c echo.Context) error { return httpx.JSON(c, http.StatusAccepted, v, encoded) })
	e.GET("/slow", func(c echo.Context) error { return c.JSON(http.StatusAccepted, v) })
	for _, query := range []string{"", "?x=1", "?pretty", "?x=1&pretty=0"} {
		fast, slow := httptest.NewRecorder(), httptest.NewRecorder()
		req := func(path string) *http.Request {
			r := httptest.NewRequest(http.MethodGet, path+query, nil)
			r.Header.Set(httpx.HeaderRequestID, "req-1")
			return r
		}
		e.ServeHTTP(fast, req("/fast"))
		e.ServeHTTP(slow, req("/slow"))
		require.Equal(t, slow.Code, fast.Code)
		require.Equal(t, slow.Header(), fast.Header(), query)
		require.Equal(t, slow.Body.String(), fast.Body.String(), query)
	}
}
