package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/apperr"
)

// The fuzz targets below check ParseInput, ValidateIdempotencyKey and
// ParseBatch against properties stated independently of their code (SPEC
// §3): whatever the input, no panic; an accepted event is one PostgreSQL's
// jsonb will store; a refusal is an *apperr.Error a client can act on.
// Seeds live in testdata/fuzz/<FuzzName>/ (nasty cases) and in f.Add below.

var fuzzTypeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$`)

func FuzzParseInput(f *testing.F) {
	for _, seed := range []struct {
		body, key string
	}{
		{`{"type":"order.created","source":"shop","occurredAt":"2026-01-02T03:04:05+01:00","payload":{"orderId":"A-1","amount":1250}}`, ""},
		{`{"type":"a","payload":{}}`, "k-1"},
		{`{"type":"a","payload":` + strings.Repeat(`{"a":`, events.MaxPayloadDepth-1) + `{}` + strings.Repeat(`}`, events.MaxPayloadDepth-1) + `}`, ""},
		{`{"type":"a","payload":` + strings.Repeat(`[`, 1000) + strings.Repeat(`]`, 1000) + `}`, ""},
		{`{"type":"a","payload":{"s":"a\u0000b"}}`, ""},
		{`{"type":"a","payload":{"s":"\\u0000"}}`, ""},
		{`{"type":"a","payload":{"s":"\ud800"}}`, ""},
		{`{"type":"a","payload":{"s":"\ud83d\ude00 \udc00"}}`, ""},
		{`{"type":"a","payload":{"n":1e400,"m":-0.5e-300,"z":0e-20000}}`, ""},
		{`{"type":"a","payload":{"n":1e131072}}`, ""},
		{`{"type":"a","payload":{},"payload":{"dup":true}}`, ""},
		{`{"type":"a","payload":{"k":"v"},"source":"` + strings.Repeat("é", 129) + `"}`, ""},
		{`{"type":"a","payload":{},"occurredAt":"0000-01-01T00:00:00Z"}`, ""},
		{`{"type":"a","payload":{},"occurredAt":"2026-13-45T99:99:99Z"}`, ""},
		{"{\"type\":\"a\",\"payload\":{\"s\":\"\xff\"}}", ""},
		{`{"type":"a b","payload":[]}`, "\x00"},
		{`{"type":null,"payload":null,"source":null,"occurredAt":null}`, ""},
		{` [1,2] `, ""},
		{``, ""},
		{`{"type":"a","payload":{"a":"` + strings.Repeat(`\\`, 50) + `"}}`, strings.Repeat("k", 256)},
	} {
		f.Add([]byte(seed.body), seed.key)
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		if len(body) > events.MaxBodyBytes {
			t.Skip("the router refuses bodies over MaxBodyBytes before ParseInput sees them")
		}
		in, err := events.ParseInput(body, key)
		if err != nil {
			requireClientError(t, err)
			return
		}
		if !fuzzTypeRE.MatchString(in.Type) {
			t.Fatalf("accepted type %q", in.Type)
		}
		if in.IdempotencyKey != key {
			t.Fatalf("idempotency key %q became %q", key, in.IdempotencyKey)
		}
		if in.Source != nil && (*in.Source == "" || utf8.RuneCountInString(*in.Source) > events.MaxSourceRunes ||
			strings.ContainsRune(*in.Source, 0) || !utf8.ValidString(*in.Source)) {
			t.Fatalf("accepted source %q", *in.Source)
		}
		if in.OccurredAt != nil && (in.OccurredAt.Location() != time.UTC || in.OccurredAt.Year() < 1970 || in.OccurredAt.Year() > 9999) {
			t.Fatalf("accepted occurredAt %v", in.OccurredAt)
		}
		requireStorablePayload(t, in.Payload)
	})
}

// requireClientError: a refusal is an *apperr.Error for a 400 or 422 with a
// code, a detail and at least one named field.
func requireClientError(t *testing.T, err error) {
	t.Helper()
	e, ok := apperr.As(err)
	switch {
	case !ok:
		t.Fatalf("error %T is not an *apperr.Error: %v", err, err)
	case e.Code == "" || e.Detail == "":
		t.Fatalf("error without code or detail: %#v", e)
	case e.Kind != apperr.KindBadRequest && e.Kind != apperr.KindInvalid:
		t.Fatalf("kind %d for bad input: %v", e.Kind, e)
	case len(e.Fields) == 0:
		t.Fatalf("problem names no field: %v", e)
	}
	for _, fe := range e.Fields {
		if fe.Field == "" || fe.Message == "" {
			t.Fatalf("empty field error %+v in %v", fe, e)
		}
	}
}

// requireStorablePayload checks what PostgreSQL's jsonb needs and SPEC §3
// promises of an accepted payload: a JSON object of valid UTF-8, nested at
// most MaxPayloadDepth deep, no \u0000, no unpaired UTF-16 surrogate escape
// (jsonb refuses both), and numbers jsonb's numeric can hold.
func requireStorablePayload(t *testing.T, p json.RawMessage) {
	t.Helper()
	if !json.Valid(p) || !utf8.Valid(p) {
		t.Fatalf("accepted payload is not valid JSON/UTF-8: %q", p)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(p, &obj); err != nil || obj == nil {
		t.Fatalf("accepted payload is not an object: %q", p)
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	depth, maxDepth := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("payload token: %v", err)
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
				maxDepth = max(maxDepth, depth)
			} else {
				depth--
			}
		case string:
			if strings.ContainsRune(v, 0) {
				t.Fatalf(`accepted payload holds \u0000: %q`, p)
			}
		case json.Number:
			if !numericStorable(string(v)) {
				t.Fatalf("accepted payload number %.40s… does not fit PostgreSQL numeric", v)
			}
		}
	}
	if maxDepth > events.MaxPayloadDepth {
		t.Fatalf("accepted payload nested %d deep", maxDepth)
	}
	if s := unpairedSurrogate(p); s != "" {
		t.Fatalf("accepted payload holds the unpaired surrogate escape %s", s)
	}
}

// escapeRE finds JSON escapes left to right; `\\` is consumed as one escape,
// so a `\u` after an escaped backslash is not mistaken for an escape.
var escapeRE = regexp.MustCompile(`\\(u[0-9a-fA-F]{4}|.)`)

// unpairedSurrogate returns the first \uD800–\uDFFF escape of valid JSON
// text that is not a high surrogate immediately followed by a low one.
func unpairedSurrogate(p []byte) string {
	locs := escapeRE.FindAllIndex(p, -1)
	for i := 0; i < len(locs); i++ {
		esc := p[locs[i][0]:locs[i][1]]
		if len(esc) != 6 {
			continue
		}
		r, _ := strconv.ParseUint(string(esc[2:]), 16, 16)
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if i+1 < len(locs) && locs[i+1][0] == locs[i][1] {
				next := p[locs[i+1][0]:locs[i+1][1]]
				if len(next) == 6 {
					if lo, _ := strconv.ParseUint(string(next[2:]), 16, 16); lo >= 0xDC00 && lo <= 0xDFFF {
						i++
						continue
					}
				}
			}
			return string(esc)
		case r >= 0xDC00 && r <= 0xDFFF:
			return string(esc)
		}
	}
	return ""
}

// numericStorable reports whether PostgreSQL's numeric can hold the JSON
// number s: at most 131072 digits before the decimal point and 16383 after
// it, once written without an exponent. big.Float gives the magnitude.
func numericStorable(s string) bool {
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.ParseInt(s[i+1:], 10, 64)
		if err != nil {
			return false // beyond int64: beyond numeric too
		}
		exp = e
	}
	frac := int64(0)
	if i := strings.IndexByte(mant, '.'); i >= 0 {
		frac = int64(len(mant) - i - 1)
	}
	if max(frac-exp, 0) > 16383 {
		return false
	}
	f, _, err := big.ParseFloat(mant, 10, 64, big.ToNearestEven)
	if err != nil {
		return false
	}
	if f.Sign() == 0 {
		return true
	}
	// digits before the point ≈ log10|mant| + exp + 1
	e2 := f.MantExp(nil) // |f| < 2^e2
	return int64(float64(e2)*0.30103)+exp+1 <= 131072
}

func FuzzValidateIdempotencyKey(f *testing.F) {
	for _, k := range []string{"k-1", "", " ", "~", "\x7f", "\x1f", "clé", strings.Repeat("k", 255), strings.Repeat("k", 256), "a\x00b", "\xff"} {
		f.Add(k, "", 1)
	}
	f.Add("a", "b", 2)
	f.Add("", "", 0)
	f.Add("same", "same", 7)
	f.Fuzz(func(t *testing.T, first, second string, n int) {
		n = min(max(n, 0), 8)
		values := make([]string, n)
		for i := range values {
			values[i] = first
			if i%2 == 1 {
				values[i] = second
			}
		}
		got, err := events.ValidateIdempotencyKey(values)
		valid := func(k string) bool {
			if len(k) < 1 || len(k) > events.MaxIdempotencyKey {
				return false
			}
			for _, c := range []byte(k) {
				if c < ' ' || c > '~' {
					return false
				}
			}
			return true
		}
		switch {
		case n == 0:
			if err != nil || got != "" {
				t.Fatalf("no header: %q, %v", got, err)
			}
		case n > 1:
			if err == nil {
				t.Fatalf("%d headers accepted as %q", n, got)
			}
		case valid(first):
			if err != nil || got != first {
				t.Fatalf("valid key %q: %q, %v", first, got, err)
			}
		default:
			if err == nil {
				t.Fatalf("invalid key %q accepted", first)
			}
		}
		if err != nil {
			requireClientError(t, err)
			if e, _ := apperr.As(err); e.Code != "invalid_idempotency_key" || e.Kind != apperr.KindBadRequest {
				t.Fatalf("code %q kind %d", e.Code, e.Kind)
			}
			if got != "" {
				t.Fatalf("refused key returned %q", got)
			}
		}
	})
}

func FuzzParseBatch(f *testing.F) {
	for _, seed := range []string{
		`{"events":[{"type":"a","payload":{}},{"type":"a","payload":{"n":1},"idempotencyKey":"k1"},{"type":"a","payload":{"n":1},"idempotencyKey":"k1"}]}`,
		`{"events":[{"type":"a","payload":{},"idempotencyKey":""},{"type":"a","payload":{},"idempotencyKey":"` + strings.Repeat("k", 256) + `"}]}`,
		`{"events":[{"type":"a","payload":{},"idempotencyKey":7},{"type":"a","payload":{},"idempotencyKey":null}]}`,
		`{"events":[1,"x",null,[],{}]}`,
		`{"events":[{"type":"a","payload":{"s":"\ud800"}},{"type":"a","payload":{"n":1e999999}}]}`,
		`{"events":[` + strings.Repeat(`[`, 40) + strings.Repeat(`]`, 40) + `]}`,
		`{"events":[]}`,
		`{"events":null}`,
		`{"events":[{"type":"a","payload":{}}]} trailing`,
		`{"events":[{"type":"a","payload":{}}],"events":[{"type":"b","payload":{}}]}`,
		`[]`, ``, `{"events":`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) > events.MaxBatchBytes {
			t.Skip("the router refuses bodies over MaxBatchBytes")
		}
		results, err := events.ParseBatch(body)
		if err != nil {
			requireClientError(t, err)
			if results != nil {
				t.Fatalf("results with an error: %v", err)
			}
			return
		}
		if len(results) < 1 || len(results) > events.MaxBatchItems {
			t.Fatalf("%d results", len(results))
		}
		var req struct {
			Events []json.RawMessage `json:"events"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("ParseBatch accepted a body that is not one JSON value: %v", err)
		}
		if len(req.Events) != len(results) {
			t.Fatalf("%d items, %d results", len(req.Events), len(results))
		}
		for i, r := range results {
			if r.Index != i {
				t.Fatalf("result %d has index %d", i, r.Index)
			}
			// Each item is judged as ParseInput judges an event body, with
			// its idempotencyKey judged as the header would be.
			var it struct {
				IdempotencyKey json.RawMessage `json:"idempotencyKey"`
			}
			_ = json.Unmarshal(req.Events[i], &it)
			var keys []string
			keyOK := true
			if len(it.IdempotencyKey) > 0 && string(it.IdempotencyKey) != "null" {
				var k string
				if json.Unmarshal(it.IdempotencyKey, &k) != nil {
					keyOK = false
				}
				keys = []string{k}
			}
			key, kerr := events.ValidateIdempotencyKey(keys)
			_, perr := events.ParseInput(req.Events[i], key)
			wantRejected := !keyOK || kerr != nil || perr != nil
			switch {
			case wantRejected && r.Status != events.ItemRejected:
				t.Fatalf("item %d (%.200s) not rejected: %+v", i, req.Events[i], r)
			case !wantRejected && (r.Status == events.ItemRejected || r.Problem != nil):
				t.Fatalf("valid item %d (%.200s) rejected: %+v", i, req.Events[i], r.Problem)
			case r.Status == events.ItemRejected:
				p := r.Problem
				if p == nil || p.Code == "" || p.Type != "/problems/"+p.Code || (p.Status != 400 && p.Status != 422) || len(p.Errors) == 0 {
					t.Fatalf("item %d: rejected without a usable problem: %+v", i, p)
				}
			}
		}
	})
}
