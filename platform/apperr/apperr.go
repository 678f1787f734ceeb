// Package apperr is the one error type of SignalOps. Services and repositories
// return *Error for anything a client may be told about; platform/httpx maps
// Kind to an HTTP status and renders RFC 9457 problem+json in one place.
// Anything that is not an *Error is an internal error and is never shown.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error; it decides the HTTP status.
type Kind int

const (
	KindInternal     Kind = iota // 500, detail hidden
	KindBadRequest               // 400: unparseable input
	KindUnauthorized             // 401
	KindForbidden                // 403
	KindNotFound                 // 404
	KindConflict                 // 409
	KindTooLarge                 // 413
	KindInvalid                  // 422: well-formed input that breaks a rule
	KindRateLimited              // 429
	KindUnavailable              // 503: a dependency (the database) is unreachable
)

// FieldError names one problem with one input field, by its JSON path.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the application error. Code is a stable snake_case identifier that
// clients may switch on; Detail is a human sentence safe to show; Err is the
// cause, kept for logs and errors.Is/As but never rendered.
type Error struct {
	Kind       Kind
	Code       string
	Detail     string
	Fields     []FieldError
	RetryAfter time.Duration // rendered as Retry-After when set
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Detail, e.Err)
	}
	return e.Code + ": " + e.Detail
}

func (e *Error) Unwrap() error { return e.Err }

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsKind reports whether err carries an *Error of kind k.
func IsKind(err error, k Kind) bool {
	e, ok := As(err)
	return ok && e.Kind == k
}

func newErr(k Kind, code, detail string) *Error {
	return &Error{Kind: k, Code: code, Detail: detail}
}

// BadRequest is input that could not be parsed (bad JSON, bad encoding).
func BadRequest(code, detail string, fields ...FieldError) *Error {
	e := newErr(KindBadRequest, code, detail)
	e.Fields = fields
	return e
}

// Invalid is parseable input that breaks a validation rule.
func Invalid(code, detail string, fields ...FieldError) *Error {
	e := newErr(KindInvalid, code, detail)
	e.Fields = fields
	return e
}

func Unauthorized(code, detail string) *Error { return newErr(KindUnauthorized, code, detail) }
func Forbidden(code, detail string) *Error    { return newErr(KindForbidden, code, detail) }
func NotFound(code, detail string) *Error     { return newErr(KindNotFound, code, detail) }
func Conflict(code, detail string) *Error     { return newErr(KindConflict, code, detail) }
func TooLarge(code, detail string) *Error     { return newErr(KindTooLarge, code, detail) }

// RateLimited asks the client to come back after retryAfter.
func RateLimited(code, detail string, retryAfter time.Duration) *Error {
	e := newErr(KindRateLimited, code, detail)
	e.RetryAfter = retryAfter
	return e
}

// Unavailable wraps a dependency failure the client should retry.
func Unavailable(detail string, retryAfter time.Duration, cause error) *Error {
	e := newErr(KindUnavailable, "service_unavailable", detail)
	e.RetryAfter = retryAfter
	e.Err = cause
	return e
}
