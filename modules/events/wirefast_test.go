package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// The fast path must decode exactly what encoding/json decodes whenever it
// accepts a body, and leave to encoding/json whatever it is unsure of.

var wireSeeds = []string{
	`{"type":"order.created","source":"shop","occurredAt":"2026-01-02T03:04:05+01:00","payload":{"orderId":"A-1","amount":1250}}`,
	` { "type" : "a" , "payload" : { "x" : [ 1 , -2.5e+3 , true , false , null , "s\"\\\/\b\f\n\r\t\u00e9" ] } } `,
	`{"type":"a","payload":{},"payload":{"dup":true}}`,
	`{"type":"a","TYPE":"b","payload":{}}`,
	`{"typ\u0065":"b","payload":{}}`,
	`{"ſource":"x","type":"a","payload":{}}`,
	`{"type":"a","payload":{},"extra":{"deep":[[[]]]},"idempotencyKey":"k"}`,
	`{"type":null,"payload":null,"source":null,"occurredAt":null}`,
	`{}`, `{ }`, `[]`, `"s"`, `1`, ``, ` `, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{"a":1 "b":2}`,
	`{"type":"a","payload":{"n":01}}`, `{"type":"a","payload":{"n":-}}`, `{"type":"a","payload":{"n":1.}}`,
	`{"type":"a","payload":{"n":.5}}`, `{"type":"a","payload":{"n":1e}}`, `{"type":"a","payload":{"n":1E+}}`,
	`{"type":"a","payload":{"n":-0.0e-0}}`, `{"type":"a","payload":{"s":"\x"}}`, `{"type":"a","payload":{"s":"\u12"}}`,
	`{"type":"a","payload":{"s":"\u12G4"}}`, "{\"type\":\"a\",\"payload\":{\"s\":\"\x01\"}}", "{\"type\":\"a\",\"payload\":{\"s\":\"\xff\"}}",
	"{\"type\":\"\xff\",\"payload\":{}}", "\xef\xbb\xbf{\"type\":\"a\",\"payload\":{}}", `{"type":"a","payload":{}} x`,
	`{"type":"a","payload":{}}{}`, `{"type":tru,"payload":{}}`, `{"type":nul}`, `{"type":"a","payload":[1,2,]}`,
	`{"type":"a","payload":` + strings.Repeat(`[`, 60) + strings.Repeat(`]`, 60) + `}`,
	"{\"type\":\"a\",\t\n\r\"payload\":\r\n{}\t}\n",
	`{"type":"a","idempotencyKey":7,"payload":{}}`,
}

var batchSeeds = []string{
	`{"events":[{"type":"a","payload":{}}, {"type":"b","payload":{"x":1}} ,7,"s",null,[]]}`,
	` { "events" : [ ] } `, `{"events":[]}`, `{"events":null}`, `{"events":{}}`, `{"events":[1,]}`, `{"events":[,1]}`,
	`{"events":[{}],"events":[{},{}]}`, `{"EVENTS":[{}]}`, `{"Events":[{}],"events":[{}]}`, `{"ev\u0065nts":[{}]}`,
	`{"other":[{"x":1}],"events":[{"type":"a","payload":{}}]}`, `{"events":[{}]`, `{"events":[{}]}]`, `[{"events":[]}]`,
	`{"events":[` + strings.Repeat(`[`, 60) + strings.Repeat(`]`, 60) + `]}`, `{}`, ``,
}

func TestFastWire(t *testing.T) {
	t.Parallel()
	for _, s := range wireSeeds {
		checkFastWire(t, []byte(s))
	}
	for _, s := range batchSeeds {
		checkFastBatch(t, []byte(s))
	}
	// What ingestion sees every day takes the fast path.
	for _, s := range wireSeeds[:3] {
		_, ok := fastWire([]byte(s))
		require.True(t, ok, s)
	}
	_, ok := fastBatch([]byte(batchSeeds[0]))
	require.True(t, ok)
	// Names encoding/json could match case-insensitively or after
	// unescaping are its to decide.
	for _, s := range wireSeeds[3:6] {
		_, ok := fastWire([]byte(s))
		require.False(t, ok, s)
	}
}

func FuzzFastWire(f *testing.F) {
	for _, s := range wireSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastWire(t, b) })
}

func FuzzFastBatch(f *testing.F) {
	for _, s := range batchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkFastBatch(t, b) })
}

// checkFastWire: when the fast path accepts b, encoding/json accepts it too
// and decodes the same members; and optString reads each the same.
func checkFastWire(t *testing.T, b []byte) {
	t.Helper()
	got, ok := fastWire(b)
	var want wireEvent
	err := json.Unmarshal(b, &want)
	if !ok {
		return // encoding/json's path: nothing to compare
	}
	require.NoError(t, err, "the fast path accepted what encoding/json refuses: %q", b)
	for _, m := range [][2]json.RawMessage{{got.Type, want.Type}, {got.Payload, want.Payload}, {got.Source, want.Source},
		{got.OccurredAt, want.OccurredAt}, {got.IdempotencyKey, want.IdempotencyKey}} {
		require.Equal(t, m[1] == nil, m[0] == nil, "%q", b)
		require.True(t, bytes.Equal(m[1], m[0]), "%q: %q against encoding/json's %q", b, m[0], m[1])
		if !utf8.Valid(b) {
			continue // decodeWire refuses the body before any member is read
		}
		gotS, gotOK, gotErr := optString(m[0])
		var wantS *string
		wantErr := json.Unmarshal(m[0], &wantS)
		if len(m[0]) == 0 {
			wantS, wantErr = nil, nil
		}
		require.Equal(t, wantErr == nil, gotErr == nil, "%q", m[0])
		if wantErr == nil {
			require.Equal(t, wantS != nil, gotOK, "%q", m[0])
			if wantS != nil {
				require.Equal(t, *wantS, gotS, "%q", m[0])
			}
		}
	}
}

func checkFastBatch(t *testing.T, b []byte) {
	t.Helper()
	got, ok := fastBatch(b)
	var want struct {
		Events []json.RawMessage `json:"events"`
	}
	err := json.Unmarshal(b, &want)
	if !ok {
		return
	}
	require.NoError(t, err, "the fast path accepted what encoding/json refuses: %q", b)
	require.Len(t, got, len(want.Events), "%q", b)
	for i := range got {
		require.True(t, bytes.Equal(want.Events[i], got[i]), "%q: item %d %q against %q", b, i, got[i], want.Events[i])
	}
}

func TestValidType(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "a", "A", "0", "_", ".a", "a.", "a_b.c:d-e", "a b", "é", "a\n", "\na",
		strings.Repeat("a", 128), strings.Repeat("a", 129), "order.created", "a/b", "a\x00"} {
		require.Equal(t, typeRE.MatchString(s), validType(s), "%q", s)
	}
	for c := range 256 {
		for _, s := range []string{string(rune(c)), "a" + string(rune(c)), "a" + string([]byte{byte(c)})} {
			require.Equal(t, typeRE.MatchString(s), validType(s), "%q", s)
		}
	}
}
