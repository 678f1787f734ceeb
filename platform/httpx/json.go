package httpx

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/signalops/signalops/platform/apperr"
)

// ReadBody reads the request body as io.ReadAll does (the same bytes and
// errors), into one buffer of the size Content-Length announces: io.ReadAll
// starts at 512 bytes and grows, so a small body cost a 512-byte buffer
// and a large one several copies. The router's BodyLimit bounds what it
// reads, whatever Content-Length says.
func ReadBody(req *http.Request) ([]byte, error) {
	n := req.ContentLength
	if n < 0 || n > maxPresized {
		return io.ReadAll(req.Body)
	}
	b := make([]byte, 0, n+1) // +1: room to see EOF without growing
	for {
		m, err := req.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil {
			if err == io.EOF { // as io.ReadAll: only EOF itself (not a wrapped one) ends the body cleanly
				err = nil
			}
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // more than announced: grow as io.ReadAll does
		}
	}
}

// maxPresized bounds the buffer a Content-Length header makes ReadBody
// allocate before a byte has arrived.
const maxPresized = 4 << 20

// DecodeJSON reads a JSON object body into v strictly: unknown fields, wrong
// types, trailing data and invalid JSON are 400 problems naming the field.
// The body size is bounded by the router's BodyLimit.
func DecodeJSON(c echo.Context, v any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return JSONProblem(err)
	}
	if dec.More() {
		return apperr.BadRequest("invalid_json", "The request body must be one JSON object.",
			apperr.FieldError{Field: "body", Message: "unexpected data after the JSON object"})
	}
	return nil
}

// DecodeRollback reads the body of a versioned resource's rollback
// ({"version": N}, the same for rules and event types) and returns N: a
// version number ≥ 1, or a 422 problem naming the field.
func DecodeRollback(c echo.Context) (version int, err error) {
	var req struct {
		Version int `json:"version"`
	}
	if err := DecodeJSON(c, &req); err != nil {
		return 0, err
	}
	if req.Version < 1 {
		return 0, apperr.Invalid("validation_failed", "Name the version to roll back to.",
			apperr.FieldError{Field: "version", Message: "must be a version number ≥ 1"})
	}
	return req.Version, nil
}

// JSONProblem is the 400 problem for a request body encoding/json refused:
// invalid JSON (with the byte offset), a field of the wrong type, an
// unknown field, or no JSON at all.
func JSONProblem(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apperr.BadRequest("invalid_json", "The request body is not valid JSON.",
			apperr.FieldError{Field: "body", Message: fmt.Sprintf("%s (at byte %d)", syn.Error(), syn.Offset)})
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return apperr.BadRequest("invalid_json", "The request body must be a JSON object.",
				apperr.FieldError{Field: "body", Message: "must be a JSON object"})
		}
		return apperr.BadRequest("invalid_json", "A field has the wrong type.",
			apperr.FieldError{Field: field, Message: "must be " + jsonKind(typ.Type.Kind().String())})
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.BadRequest("invalid_json", "The request body is not valid JSON.",
			apperr.FieldError{Field: "body", Message: "unexpected end of JSON input"})
	default:
		// json: unknown field "x"
		var name string
		if _, scanErr := fmt.Sscanf(err.Error(), "json: unknown field %q", &name); scanErr == nil {
			return apperr.BadRequest("invalid_json", "The request body has an unknown field.",
				apperr.FieldError{Field: name, Message: "is not a known field"})
		}
		return apperr.BadRequest("invalid_json", "The request body is not valid JSON.",
			apperr.FieldError{Field: "body", Message: "cannot be decoded"})
	}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	default:
		return "a number"
	}
}

// JSON answers code with v as c.JSON(code, v) would, with the body that
// encoded returns, which must be exactly what c.JSON writes for v:
// encoding/json's compact encoding (HTML characters escaped) and a
// newline. It is for hot routes whose answer has a fixed shape, which
// encoding/json reflects on at every call. A request for ?pretty, or a
// router in debug mode, gets c.JSON's indented answer.
func JSON(c echo.Context, code int, v any, encoded func() []byte) error {
	if c.Echo().Debug || c.Request().URL.RawQuery != "" && c.QueryParams().Has("pretty") {
		return c.JSON(code, v)
	}
	return c.JSONBlob(code, encoded())
}

// AppendJSONString appends s as encoding/json encodes a string.
func AppendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			enc, _ := json.Marshal(s) // escapes, invalid UTF-8, U+2028: encoding/json's own rules
			return append(b, enc...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// UTC is an optional time as the API writes times: in UTC, nil when
// absent. It copies, so the caller's value is left as it was.
func UTC(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
