package httpx_test

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

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

// TestReadBody checks ReadBody against io.ReadAll: the same bytes and
// errors, whatever Content-Length says.
func TestReadBody(t *testing.T) {
	t.Parallel()
	broken := errors.New("connection reset")
	for _, tc := range []struct {
		name   string
		body   string
		length int64
		err    error
	}{
		{"Exact", `{"type":"a","payload":{}}`, 25, nil},
		{"Empty", "", 0, nil},
		{"Unknown", strings.Repeat("x", 3000), -1, nil},
		{"Large", strings.Repeat("y", 70000), 70000, nil},
		{"Failing", "partial", 100, broken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			read := func(f func(*http.Request) ([]byte, error)) ([]byte, error) {
				var r io.Reader = strings.NewReader(tc.body)
				if tc.err != nil {
					r = io.MultiReader(r, iotest.ErrReader(tc.err))
				}
				req := httptest.NewRequest(http.MethodPost, "/", r)
				req.ContentLength = tc.length
				return f(req)
			}
			want, wantErr := read(func(r *http.Request) ([]byte, error) { return io.ReadAll(r.Body) })
			got, err := read(httpx.ReadBody)
			require.Equal(t, wantErr, err)
			require.Equal(t, string(want), string(got))
		})
	}
}
