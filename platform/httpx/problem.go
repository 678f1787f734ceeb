package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/logx"
	"github.com/signalops/signalops/platform/pg"
)

// ProblemContentType is the media type of every error body (RFC 9457).
const ProblemContentType = "application/problem+json"

// Problem is the RFC 9457 body SignalOps answers every error with.
type Problem struct {
	Type      string              `json:"type"`
	Title     string              `json:"title"`
	Status    int                 `json:"status"`
	Detail    string              `json:"detail"`
	Instance  string              `json:"instance,omitempty"`
	Code      string              `json:"code"`
	Errors    []apperr.FieldError `json:"errors,omitempty"`
	RequestID string              `json:"requestId,omitempty"`
}

var kindStatus = map[apperr.Kind]int{
	apperr.KindInternal:     http.StatusInternalServerError,
	apperr.KindBadRequest:   http.StatusBadRequest,
	apperr.KindUnauthorized: http.StatusUnauthorized,
	apperr.KindForbidden:    http.StatusForbidden,
	apperr.KindNotFound:     http.StatusNotFound,
	apperr.KindConflict:     http.StatusConflict,
	apperr.KindTooLarge:     http.StatusRequestEntityTooLarge,
	apperr.KindInvalid:      http.StatusUnprocessableEntity,
	apperr.KindRateLimited:  http.StatusTooManyRequests,
	apperr.KindUnavailable:  http.StatusServiceUnavailable,
}

// codeForStatus names the problems Echo itself raises (routing, body limit).
var codeForStatus = map[int]string{
	http.StatusBadRequest:            "bad_request",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusNotFound:              "not_found",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusRequestEntityTooLarge: "payload_too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusServiceUnavailable:    "service_unavailable",
}

// classify turns any error a handler returned into an *apperr.Error and the
// HTTP status it is answered with.
func classify(err error) (*apperr.Error, int) {
	if e, ok := apperr.As(err); ok {
		if s, ok := kindStatus[e.Kind]; ok {
			return e, s
		}
		return e, http.StatusInternalServerError
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return apperr.TooLarge("payload_too_large",
			"The request body is larger than "+strconv.FormatInt(tooLarge.Limit, 10)+" bytes."), http.StatusRequestEntityTooLarge
	}
	var he *echo.HTTPError
	if errors.As(err, &he) && (he.Code < 500 || he.Code == http.StatusServiceUnavailable) {
		code, ok := codeForStatus[he.Code]
		if !ok {
			code = strings.ReplaceAll(strings.ToLower(http.StatusText(he.Code)), " ", "_")
		}
		detail := http.StatusText(he.Code)
		if msg, ok := he.Message.(string); ok {
			detail = msg
		}
		return &apperr.Error{Kind: apperr.KindBadRequest, Code: code, Detail: detail, Err: err}, he.Code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return apperr.Unavailable("The request did not complete in time; retry shortly.", time.Second, err),
			http.StatusServiceUnavailable
	}
	if pg.IsUnavailable(err) {
		return apperr.Unavailable("The database is unreachable; retry shortly.", time.Second, err),
			http.StatusServiceUnavailable
	}
	return &apperr.Error{Kind: apperr.KindInternal, Code: "internal_error",
		Detail: "An internal error occurred.", Err: err}, http.StatusInternalServerError
}

// errorHandler is the one place request errors are mapped, rendered and logged.
func errorHandler(logger *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		req := c.Request()
		ctx := req.Context()
		e, status := classify(err)
		if status >= 500 && errors.Is(err, context.Canceled) && ctx.Err() != nil {
			// The client went away; nobody reads the answer.
			logger.DebugContext(ctx, "request canceled by client", slog.String("path", req.URL.Path))
			c.Response().WriteHeader(499)
			return
		}
		p := Problem{
			Type:      "/problems/" + e.Code,
			Title:     http.StatusText(status),
			Status:    status,
			Detail:    e.Detail,
			Instance:  req.URL.Path,
			Code:      e.Code,
			Errors:    e.Fields,
			RequestID: logx.RequestID(ctx),
		}
		if e.Kind == apperr.KindInternal {
			p.Detail = "An internal error occurred."
		}
		switch {
		case status >= 500:
			logger.ErrorContext(ctx, "request failed", slog.Int("status", status),
				slog.String("code", e.Code), slog.Any("error", err))
		default:
			logger.DebugContext(ctx, "request rejected", slog.Int("status", status), slog.String("code", e.Code))
		}
		h := c.Response().Header()
		if e.RetryAfter > 0 {
			h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
		}
		h.Set(echo.HeaderContentType, ProblemContentType)
		h.Set("Cache-Control", "no-store")
		c.Response().WriteHeader(status)
		if req.Method == http.MethodHead {
			return
		}
		_ = json.NewEncoder(c.Response()).Encode(p)
	}
}
