package httpx_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/httpx"
)

// TestPprof runs its subtests one after another: the process has one CPU
// profiler.
func TestPprof(t *testing.T) {
	t.Parallel()
	type testBundle struct {
		prof *httpx.Pprof
		srv  *httptest.Server
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		e := httpx.NewRouter(slog.New(slog.DiscardHandler), httpx.Options{RequestTimeout: 200 * time.Millisecond})
		prof := httpx.NewPprof()
		prof.Mount(e)
		e.GET("/deadline", func(c echo.Context) error {
			_, ok := c.Request().Context().Deadline()
			return c.JSON(http.StatusOK, ok)
		})
		srv := httptest.NewUnstartedServer(nil)
		srv.Config = httpx.Server("", e)
		srv.Config.WriteTimeout = 300 * time.Millisecond
		srv.Start()
		t.Cleanup(srv.Close)
		return &testBundle{prof: prof, srv: srv}
	}
	get := func(t *testing.T, url string) (int, []byte) {
		t.Helper()
		res, err := http.Get(url)
		require.NoError(t, err)
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, body
	}

	t.Run("ProfileOutlivesRequestAndWriteTimeouts", func(t *testing.T) {
		b := setup(t)
		status, body := get(t, b.srv.URL+"/deadline")
		require.Equal(t, http.StatusOK, status)
		require.JSONEq(t, "true", string(body), "other routes keep RequestTimeout")

		start := time.Now()
		status, body = get(t, b.srv.URL+httpx.PprofPath+"/profile?seconds=1")
		require.Equal(t, http.StatusOK, status, string(body))
		require.NotEmpty(t, body)
		require.GreaterOrEqual(t, time.Since(start), time.Second, "the profile ran its full second")
	})

	t.Run("NamedProfiles", func(t *testing.T) {
		b := setup(t)
		for _, path := range []string{"/", "/heap?debug=1", "/goroutine?debug=1", "/allocs?debug=1", "/cmdline", "/symbol"} {
			status, body := get(t, b.srv.URL+httpx.PprofPath+path)
			require.Equal(t, http.StatusOK, status, path)
			require.NotEmpty(t, body, path)
		}
	})

	t.Run("SecondsBounded", func(t *testing.T) {
		b := setup(t)
		for _, seconds := range []string{"121", "NaN", "Inf", "1e9"} {
			for _, route := range []string{"/profile", "/trace", "/heap"} {
				status, body := get(t, b.srv.URL+httpx.PprofPath+route+"?seconds="+seconds)
				require.Equal(t, http.StatusBadRequest, status, route+"?seconds="+seconds)
				var p httpx.Problem
				require.NoError(t, json.Unmarshal(body, &p))
				require.Equal(t, "invalid_seconds", p.Code)
			}
		}
	})

	t.Run("StopEndsRunningProfile", func(t *testing.T) {
		b := setup(t)
		time.AfterFunc(300*time.Millisecond, b.prof.Stop)
		start := time.Now()
		status, body := get(t, b.srv.URL+httpx.PprofPath+"/profile?seconds=60")
		require.Equal(t, http.StatusOK, status, string(body))
		require.NotEmpty(t, body)
		require.Less(t, time.Since(start), 10*time.Second)
	})
}

func TestServerRefusesDefaultServeMux(t *testing.T) {
	t.Parallel()
	require.Panics(t, func() { httpx.Server(":0", nil) })
}
