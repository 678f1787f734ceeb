package pg

import (
	"database/sql/driver"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Array parameters for multi-row statements (INSERT … SELECT FROM
// unnest($1::uuid[], …)), written straight into PostgreSQL's array text
// format. pq.Array and pq.GenericArray reflect on every element; with
// hundreds of rows per statement that showed up in the ingest profile.
//
// Each Value returns the text as []byte, which lib/pq sends as it is (a
// string it copies first): at batch ingestion the parameters' copies were
// a fifth of serve's allocations. That relies on lib/pq's default text
// parameters: binary_parameters=yes in DATABASE_URL would send them as
// binary, as it already would the jsonb []byte parameters elsewhere (a
// rule's definition), so SignalOps does not support that setting.

// UUIDs is a uuid[] parameter.
type UUIDs []uuid.UUID

// Value implements driver.Valuer.
func (a UUIDs) Value() (driver.Value, error) {
	return arrayText(a, 1+len(a)*37, AppendUUID), nil
}

// Strings is a text[] parameter; a nil element is NULL.
type Strings []*string

// Value implements driver.Valuer.
func (a Strings) Value() (driver.Value, error) {
	n := 2
	for _, s := range a {
		if s != nil {
			n += len(*s) + 3
		} else {
			n += 5
		}
	}
	// n+n/4: room for some escapes (a JSON document has many quotes).
	return arrayText(a, n+n/4, func(b []byte, s *string) []byte {
		if s == nil {
			return append(b, "NULL"...)
		}
		return appendQuoted(b, *s)
	}), nil
}

// Times is a timestamptz[] parameter (RFC 3339, nanoseconds kept as far as
// PostgreSQL's microseconds allow); a zero time is NULL.
type Times []time.Time

// Value implements driver.Valuer.
func (a Times) Value() (driver.Value, error) {
	return arrayText(a, 2+len(a)*38, func(b []byte, t time.Time) []byte {
		if t.IsZero() {
			return append(b, "NULL"...)
		}
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	}), nil
}

// Texts is a text[] (or, cast in SQL, jsonb[]) parameter without NULLs,
// from strings or byte slices (JSON documents as encoded).
type Texts[T ~string | ~[]byte] []T

// Value implements driver.Valuer.
func (a Texts[T]) Value() (driver.Value, error) {
	n := 2
	for _, s := range a {
		n += len(s) + 3
	}
	return arrayText(a, n+n/4, appendQuoted[T]), nil // n/4: room for some escapes
}

// Ints is an integer array parameter (smallint[], integer[] or bigint[], as
// the statement casts it).
type Ints []int

// Value implements driver.Valuer.
func (a Ints) Value() (driver.Value, error) {
	return arrayText(a, 2+len(a)*4, func(b []byte, n int) []byte { return strconv.AppendInt(b, int64(n), 10) }), nil
}

// arrayText writes a in the array text format, {e1,e2,…}, each element by
// appendElem, into a buffer of capacity size; a nil a is NULL (nil).
func arrayText[T any](a []T, size int, appendElem func(b []byte, e T) []byte) driver.Value {
	if a == nil {
		return nil
	}
	b := make([]byte, 1, size)
	b[0] = '{'
	for i, e := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendElem(b, e)
	}
	return append(b, '}')
}

// appendQuoted appends s as a double-quoted array element: backslash and
// double quote escaped, everything else verbatim (the connection is UTF-8;
// a NUL byte is refused by PostgreSQL either way).
func appendQuoted[T ~string | ~[]byte](b []byte, s T) []byte {
	b = append(b, '"')
	from := 0
	for i := 0; i < len(s); i++ { // '"' and '\\' never occur inside a UTF-8 sequence
		if s[i] == '"' || s[i] == '\\' {
			b = append(append(b, s[from:i]...), '\\')
			from = i
		}
	}
	return append(append(b, s[from:]...), '"')
}

// AppendUUID appends id's canonical 36-character form, as uuid.UUID's
// MarshalText writes it, without allocating: for the uuid[] parameters
// here and for answers encoded by hand (events' ingestion).
func AppendUUID(b []byte, id uuid.UUID) []byte {
	const hexdigits = "0123456789abcdef"
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexdigits[c>>4], hexdigits[c&0x0f])
	}
	return b
}
