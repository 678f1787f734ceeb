package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// client calls the public JSON API in-process, with the signed-in user's
// bearer token: every page reads and writes exactly what the API lets
// that user read and write (tenant scoping, roles, rate limits, validation
// and errors are the API's own), and each call is an ordinary API request
// in the access log and the metrics. Every path it calls is documented in
// docs/openapi.json (a test records them and checks).
type client struct {
	api    http.Handler
	token  string // "" before sign-in
	remote string // the browser's address: the login limiter keys on it
	reqID  string
	record func(method, path string) // tests: which API routes were called
}

// apiError is a non-2xx answer of the API, decoded from its problem+json.
type apiError struct {
	Status     int
	Code       string       `json:"code"`
	Detail     string       `json:"detail"`
	Errors     []fieldError `json:"errors"`
	RetryAfter int
	RequestID  string `json:"requestId"`
}

type fieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("api: %d %s: %s", e.Status, e.Code, e.Detail)
}

// problemOf returns err's API problem when its status is one of statuses
// (the page shows such a problem beside its form or filter), or nil.
func problemOf(err error, statuses ...int) *apiError {
	var ae *apiError
	if errors.As(err, &ae) && slices.Contains(statuses, ae.Status) {
		return ae
	}
	return nil
}

// refused is problemOf for the API's answers to input it refuses: 400
// (malformed) and 422 (invalid).
func refused(err error) *apiError {
	return problemOf(err, http.StatusBadRequest, http.StatusUnprocessableEntity)
}

// badTime is the problem of a time filter that does not parse, as the
// API's own 400 for a filter it refuses.
func badTime() *apiError {
	return &apiError{Status: http.StatusBadRequest, Errors: []fieldError{{Field: "since", Message: "must be a date and time"}}}
}

// recorder is the in-memory response of one in-process call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

// newRequest builds the in-process API request. Its context is the page
// request's: a browser that leaves cancels the API work too.
func (cl *client) newRequest(ctx context.Context, method, path string, body any, header http.Header) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, rd)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = cl.remote
	req.Header.Set(echo.HeaderAccept, echo.MIMEApplicationJSON)
	if body != nil {
		req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	}
	if cl.token != "" {
		req.Header.Set(echo.HeaderAuthorization, "Bearer "+cl.token)
	}
	if cl.reqID != "" {
		// One id for the page and the API calls it made, in the logs.
		req.Header.Set(echo.HeaderXRequestID, cl.reqID)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if cl.record != nil {
		cl.record(method, path)
	}
	return req, nil
}

// do calls the API and decodes a 2xx JSON body into out (when not nil).
func (cl *client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := cl.newRequest(ctx, method, path, body, nil)
	if err != nil {
		return err
	}
	rec := &recorder{header: http.Header{}}
	cl.api.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 300 {
		e := &apiError{Status: rec.status}
		_ = json.Unmarshal(rec.body.Bytes(), e)
		e.Status = rec.status
		if s := rec.header.Get("Retry-After"); s != "" {
			e.RetryAfter, _ = strconv.Atoi(s)
		}
		if e.RequestID == "" {
			e.RequestID = rec.header.Get(echo.HeaderXRequestID)
		}
		return e
	}
	if out == nil || rec.body.Len() == 0 {
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("decode %s %s: %w", method, path, err)
	}
	return nil
}

func (cl *client) get(ctx context.Context, path string, out any) error {
	return cl.do(ctx, http.MethodGet, path, nil, out)
}

// parallel runs the calls at once and returns the first error: a page's
// independent reads cost the slowest, not their sum.
func parallel(calls ...func() error) error {
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() { errs[i] = call() })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// query builds "?k=v&…" from pairs, leaving out empty values.
func query(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// pathID escapes an id taken from the console's URL for the API's path.
// Anything but a plain id becomes one the API answers 404 for.
func pathID(id string) string {
	if id == "" || strings.ContainsAny(id, "/?#%") || len(id) > 64 {
		return "-"
	}
	return url.PathEscape(id)
}

// page is the API's list body.
type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

// listPage gets the page of the list at path that the console's ?cursor
// names, 200 items at most, and the query of the link to the next page
// ("" on the last page).
func listPage[T any](r *request, path string) (items []T, next string, err error) {
	var p page[T]
	err = r.api.get(r.ctx(), query(path, "limit", "200", "cursor", r.QueryParam("cursor")), &p)
	if p.NextCursor != nil {
		next = query("", "cursor", *p.NextCursor)
	}
	return p.Data, next, err
}
