package events_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/httpx"
)

// hostileWant is what a hostile request must get: an exact status and
// problem code, or (status 0) any 2xx or 4xx problem+json — never a 5xx.
type hostileWant struct {
	status int
	code   string
	field  string
}

// requireHostileAnswer checks rec against want and returns whether the
// request was accepted (2xx).
func requireHostileAnswer(t *testing.T, rec response, want hostileWant) bool {
	t.Helper()
	body := rec.Body.String()
	if len(body) > 512 {
		body = body[:512] + "…"
	}
	require.Less(t, rec.Code, 500, body)
	if want.status != 0 {
		require.Equal(t, want.status, rec.Code, body)
	}
	if rec.Code >= 200 && rec.Code < 300 {
		return true
	}
	p := rec.problem(t)
	require.NotEmpty(t, p.Code, body)
	require.NotEmpty(t, p.Detail, body)
	require.Equal(t, rec.Code, p.Status)
	if want.code != "" {
		require.Equal(t, want.code, p.Code, body)
	}
	if want.field != "" {
		require.NotEmpty(t, p.Errors, body)
		require.Equal(t, want.field, p.Errors[0].Field, body)
	}
	return false
}

func repeatJoin(s string, n int, sep string) string {
	return strings.TrimSuffix(strings.Repeat(s+sep, n), sep)
}

func manyKeys(n int, value string) string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i := range n {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `"k%05d":%s`, i, value)
	}
	sb.WriteByte('}')
	return sb.String()
}

// TestHostileBodies sends JSON bombs and values PostgreSQL cannot store to
// POST /api/events through the production router: each gets a 2xx or a
// problem+json (never a 5xx), and only 2xx answers store anything.
func TestHostileBodies(t *testing.T) {
	t.Parallel()
	b := setup(t)

	const kib = 1 << 10
	ev := func(payload string) string { return `{"type":"hostile","payload":` + payload + `}` }
	tooDeep := hostileWant{400, "json_too_deep", "body"}
	badPayload := hostileWant{422, "validation_failed", "payload"}
	accepted := hostileWant{status: http.StatusAccepted}

	for _, tt := range []struct {
		name string
		body string
		want hostileWant
	}{
		// Nesting bombs, all within the 256 KiB body limit.
		{"Arrays100kDeep", ev(`{"a":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`), tooDeep},
		{"Objects50kDeep", ev(strings.Repeat(`{"":`, 50_000) + `1` + strings.Repeat("}", 50_000)), tooDeep},
		{"Unclosed200kDeep", ev(strings.Repeat("[", 200_000)), tooDeep},
		{"DeepOutsidePayload", `{"type":"a","payload":{},"x":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`, tooDeep},
		{"DeepButOneOver", ev(strings.Repeat(`{"a":`, events.MaxPayloadDepth) + `{}` + strings.Repeat("}", events.MaxPayloadDepth)), tooDeep},
		{"BracketsInsideAString", ev(`{"s":"` + strings.Repeat("[{", 100_000) + `"}`), accepted},

		// Big but legal shapes.
		{"String250KiB", ev(`{"s":"` + strings.Repeat("x", 250*kib) + `"}`), accepted},
		{"EscapedString240KiB", ev(`{"s":"` + strings.Repeat(`\u00e9`, 40*kib) + `"}`), accepted},
		{"Keys20k", ev(manyKeys(20_000, "0")), hostileWant{}},
		{"DuplicateKey20k", ev(`{` + repeatJoin(`"a":1`, 20_000, ",") + `}`), hostileWant{}},
		{"Array50k", ev(`{"a":[` + repeatJoin("0", 50_000, ",") + `]}`), accepted},
		{"Array50kOfObjects", ev(`{"a":[` + repeatJoin("{}", 50_000, ",") + `]}`), accepted},
		{"Array50kOfNulls", ev(`{"a":[` + repeatJoin("null", 50_000, ",") + `]}`), accepted},

		// Text jsonb refuses (it would fail the insert: a 500, and with
		// group commit the other events of the same transaction too).
		{"NULInKey", ev(`{"\u0000":1}`), badPayload},
		{"LoneHighSurrogate", ev(`{"s":"\ud800"}`), badPayload},
		{"LoneLowSurrogate", ev(`{"s":"x\uDC00y"}`), badPayload},
		{"SwappedSurrogates", ev(`{"s":"\udc00\ud800"}`), badPayload},
		{"HighSurrogateThenBMP", ev(`{"s":"\ud83d\u0041"}`), badPayload},
		{"LoneSurrogateInKey", ev(`{"\udfff":1}`), badPayload},
		{"PairedSurrogates", ev(`{"s":"\ud83d\ude00 \uD83D\uDE00"}`), accepted},
		{"EscapedBackslashBeforeU", ev(`{"s":"\\ud800 \\u0000"}`), accepted},

		// Numbers jsonb's numeric cannot hold, and ones it expands enormously
		// when the event is read back (1e9999 is written out as 10000 digits).
		{"NumberTooBig", ev(`{"n":1e131072}`), badPayload},
		{"NumberTooPrecise", ev(`{"n":1e-16384}`), badPayload},
		{"ZeroTooPrecise", ev(`{"n":0e-20000}`), badPayload},
		{"ExponentBeyondInt64", ev(`{"n":1e99999999999999999999}`), badPayload},
		{"NumberExpansionBomb", ev(`{"a":[` + repeatJoin("1e9999", 30_000, ",") + `]}`), badPayload},
		{"BigNumbersStillFine", ev(`{"n":1e400,"m":-1.5e-400,"z":0e5,"i":123456789012345678901234567890}`), accepted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.LessOrEqual(t, len(tt.body), events.MaxBodyBytes, "the bomb fits the body limit")
			before, _ := counts(t, b.db)
			rec := post(t, b, tt.body)
			stored := requireHostileAnswer(t, rec, tt.want)
			after, _ := counts(t, b.db)
			if stored {
				require.Equal(t, before+1, after)
			} else {
				require.Equal(t, before, after, "a refused event changes nothing")
			}
		})
	}

	t.Run("StoredLargeStringIsIntact", func(t *testing.T) {
		rec := post(t, b, ev(`{"s":"`+strings.Repeat("y", 250*kib)+`"}`))
		require.Equal(t, http.StatusAccepted, rec.Code)
		var n int
		require.NoError(t, b.db.Get(&n, `SELECT length(payload->>'s') FROM events WHERE id = $1`, idOf(t, rec)))
		require.Equal(t, 250*kib, n)
	})
}

// TestHostileBatches does the same for POST /api/events/batch.
func TestHostileBatches(t *testing.T) {
	t.Parallel()
	b := setup(t)
	postBatch := func(t *testing.T, body string) response {
		t.Helper()
		return do(t, b.router, http.MethodPost, "/api/events/batch", body, "x-api-key", b.tenant.APIKey)
	}
	type itemWant struct {
		status string
		code   string
	}
	for _, tt := range []struct {
		name  string
		body  string
		want  hostileWant
		items []itemWant // for a 200
	}{
		{"Nesting100kDeep", `{"events":[` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `]}`, hostileWant{400, "invalid_json", "body"}, nil},
		{"TrailingGarbage", `{"events":[{"type":"a","payload":{}}]} {"events":[]}`, hostileWant{400, "invalid_json", "body"}, nil},
		{"TooManyItems", `{"events":[` + repeatJoin(`{}`, events.MaxBatchItems+1, ",") + `]}`, hostileWant{422, "validation_failed", "events"}, nil},
		{"ItemsTooDeep", `{"events":[` + repeatJoin(`{"type":"a","payload":`+strings.Repeat(`{"a":`, 40)+`1`+strings.Repeat("}", 40)+`}`, events.MaxBatchItems, ",") + `]}`,
			hostileWant{status: 200}, []itemWant{{events.ItemRejected, "json_too_deep"}}},
		{"MixedPoison", `{"events":[{"type":"a","payload":{"s":"\ud800"}},{"type":"a","payload":{"n":1e200000}},{"type":"a","payload":{"ok":true}}]}`,
			hostileWant{status: 200}, []itemWant{{events.ItemRejected, "validation_failed"}, {events.ItemRejected, "validation_failed"}, {events.ItemAccepted, ""}}},
		{"IdempotencyKeyNotAString", `{"events":[{"type":"a","payload":{},"idempotencyKey":123},{"type":"a","payload":{},"idempotencyKey":["k"]}]}`,
			hostileWant{status: 200}, []itemWant{{events.ItemRejected, "invalid_idempotency_key"}, {events.ItemRejected, "invalid_idempotency_key"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := counts(t, b.db)
			rec := postBatch(t, tt.body)
			requireHostileAnswer(t, rec, tt.want)
			after, _ := counts(t, b.db)
			if rec.Code != http.StatusOK {
				require.Equal(t, before, after, "a refused batch changes nothing")
				return
			}
			var out struct {
				Accepted int `json:"accepted"`
				Results  []struct {
					Status string         `json:"status"`
					Error  *httpx.Problem `json:"error"`
				} `json:"results"`
			}
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
			for i, r := range out.Results {
				want := tt.items[min(i, len(tt.items)-1)]
				require.Equal(t, want.status, r.Status, "item %d", i)
				if want.code != "" {
					require.NotNil(t, r.Error, "item %d", i)
					require.Equal(t, want.code, r.Error.Code, "item %d", i)
				}
			}
			require.Equal(t, before+out.Accepted, after, "only accepted items are stored")
		})
	}
}

// TestHostileHeaders repeats and inflates the headers ingestion reads.
func TestHostileHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := `{"type":"a","payload":{}}`
	repeated := func(name string, n int, value func(i int) string) []string {
		h := make([]string, 0, 2*n)
		for i := range n {
			h = append(h, name, value(i))
		}
		return h
	}

	for _, tt := range []struct {
		name    string
		headers []string
		status  int
		code    string
	}{
		{"ThousandIdempotencyKeys", append([]string{"x-api-key", b.tenant.APIKey}, repeated("idempotency-key", 1000, func(i int) string { return fmt.Sprint("k-", i) })...), 400, "invalid_idempotency_key"},
		{"SameIdempotencyKeyTwice", []string{"x-api-key", b.tenant.APIKey, "idempotency-key", "same", "idempotency-key", "same"}, 400, "invalid_idempotency_key"},
		{"IdempotencyKeyWithCRLF", []string{"x-api-key", b.tenant.APIKey, "idempotency-key", "a\r\nx-api-key: b"}, 400, "invalid_idempotency_key"},
		{"IdempotencyKey64KiB", []string{"x-api-key", b.tenant.APIKey, "idempotency-key", strings.Repeat("k", 64<<10)}, 400, "invalid_idempotency_key"},
		{"ThousandValidAPIKeys", repeated("x-api-key", 1000, func(int) string { return b.tenant.APIKey }), 401, ""},
		{"ValidThenJunkAPIKey", []string{"x-api-key", b.tenant.APIKey, "x-api-key", "junk"}, 401, ""},
		{"JunkThenValidAPIKey", []string{"x-api-key", "junk", "x-api-key", b.tenant.APIKey}, 401, ""},
		{"APIKey64KiB", []string{"x-api-key", "so_live_" + strings.Repeat("A", 64<<10)}, 401, ""},
		{"APIKeyAndBearer", []string{"x-api-key", b.tenant.APIKey, "Authorization", "Bearer " + strings.Repeat("x", 4096)}, 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(t, b.router, http.MethodPost, "/api/events", body, tt.headers...)
			if tt.status == 0 {
				requireHostileAnswer(t, rec, hostileWant{})
				return
			}
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			p := rec.problem(t)
			if tt.code != "" {
				require.Equal(t, tt.code, p.Code)
			}
			if tt.status == http.StatusUnauthorized {
				require.NotContains(t, rec.Body.String(), b.tenant.APIKey, "a key is never echoed")
			}
		})
	}
	n, jobs := counts(t, b.db)
	require.Equal(t, n, jobs)
	require.LessOrEqual(t, n, 1, "only the key-and-bearer request may have been stored")

	t.Run("RequestIDIsNotEchoedWhenHostile", func(t *testing.T) {
		for _, id := range []string{strings.Repeat("r", 10<<10), "a\r\nSet-Cookie: x=1", "a b", "é"} {
			rec := do(t, b.router, http.MethodGet, "/api/events", "", "x-api-key", b.tenant.APIKey, httpx.HeaderRequestID, id)
			require.Equal(t, http.StatusOK, rec.Code)
			got := rec.Header().Get(httpx.HeaderRequestID)
			require.NotEqual(t, id, got)
			require.LessOrEqual(t, len(got), 128)
			require.Empty(t, rec.Header().Values(echo.HeaderSetCookie))
		}
	})
}
