// Package httpxtest sends requests through a router in tests, the way an
// API client sends them: the one request helper every package's HTTP tests
// use, instead of a copy each. Only tests import it (depguard).
package httpxtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/httpx"
)

// NewRequest returns a request for target with a JSON content type and
// headers, given as name/value pairs. The pairs are added, not set: a name
// given twice is sent twice, which is how tests send a header twice. An
// empty body sends none.
func NewRequest(method, target, body string, headers ...string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, target, rd)
	req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	return req
}

// Serve serves req with h and returns what h wrote.
func Serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Do serves one request built by NewRequest with h.
func Do(h http.Handler, method, target, body string, headers ...string) *httptest.ResponseRecorder {
	return Serve(h, NewRequest(method, target, body, headers...))
}

// Bearer is the Authorization header of a bearer token as a name/value
// pair: Do(h, "GET", "/api/me", "", Bearer(token)...).
func Bearer(token string) []string { return []string{echo.HeaderAuthorization, "Bearer " + token} }

// Decode decodes rec's JSON body; the test fails when it is not a T.
func Decode[T any](t testing.TB, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), rec.Body.String())
	return v
}

// Pages reads a list from target, following nextCursor for at most max
// pages, and returns the items of the pages read in order. get serves one
// GET of a page (with the caller's router and credentials); every page
// must answer 200.
func Pages[T any](t testing.TB, max int, target string, get func(target string) *httptest.ResponseRecorder) []T {
	t.Helper()
	sep := "?"
	if strings.Contains(target, "?") {
		sep = "&"
	}
	var items []T
	page := target
	for range max {
		rec := get(page)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		list := Decode[httpx.List[T]](t, rec)
		items = append(items, list.Data...)
		if list.NextCursor == nil {
			break
		}
		page = target + sep + "cursor=" + url.QueryEscape(*list.NextCursor)
	}
	return items
}

// Problem decodes rec's problem+json body; the test fails when the
// response is not a problem.
func Problem(t testing.TB, rec *httptest.ResponseRecorder) httpx.Problem {
	t.Helper()
	require.Equal(t, httpx.ProblemContentType, rec.Header().Get(echo.HeaderContentType), rec.Body.String())
	return Decode[httpx.Problem](t, rec)
}
