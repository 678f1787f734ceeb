package events

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzDecodePayload holds the payload decoder to what it replaces: for any
// JSON text encoding/json decodes (valid UTF-8, as ParseInput requires),
// the same values, numbers kept as their text.
func FuzzDecodePayload(f *testing.F) {
	for _, seed := range []string{
		`{}`, `[]`, `{"a":1}`, ` { "a" : [ 1 , -0.5e-3 , 1E+5 , true , false , null , "x" ] , "b" : {} } `,
		`{"s":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00"}`, `{"s":"\ud800 unpaired"}`, `{"dup":1,"dup":2}`,
		`{"é":"ü","":""}`, `{"deep":[[[[{"x":[{}]}]]]]}`, `{"n":12345678901234567890123456789012345678901234567890}`,
		`"top"`, `42`, `{"a":1}x`, `{"a":}`, `{"a" 1}`, `[1,]`, `{"a":tru}`, `{"a":"unterminated}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !utf8.ValidString(in) {
			return
		}
		wantErr := json.Unmarshal([]byte(in), new(json.RawMessage)) // whether the text is one JSON value, as ParseInput asks
		dec := json.NewDecoder(strings.NewReader(in))
		dec.UseNumber()
		var want any
		if wantErr == nil {
			wantErr = dec.Decode(&want) // the values, numbers as text
		}
		got, shape, _, err := decodePayload([]byte(in))
		if wantErr != nil {
			require.Error(t, err, "encoding/json refuses %q: %v", in, wantErr)
			return
		}
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		require.Positive(t, shape.total)
	})
}

func TestDecodePayloadShape(t *testing.T) {
	_, shape, bad, err := decodePayload([]byte(`{"ab":"xyz","n":[1,2,{"k":1e400}]}`))
	require.NoError(t, err)
	require.Equal(t, int64(7), shape.total)
	require.Equal(t, []int64{1, 2, 3, 1}, shape.values[:4])
	require.Equal(t, []int64{0, 2 + 3 + 1, 0, 1}, shape.stringBytes[:4], "member names count at their values' depth")
	require.NotNil(t, bad)
	require.Equal(t, "/n/2/k", bad.Field)

	for _, n := range []string{"1e308", "-1.7976931348623157e308", "1e-400", strings.Repeat("9", MaxNumberChars)} {
		_, _, bad, err := decodePayload([]byte(`{"n":` + n + `}`))
		require.NoError(t, err)
		require.Nil(t, bad, n)
	}
	for _, n := range []string{"1e309", "-1e400", strings.Repeat("9", MaxNumberChars+1)} {
		_, _, bad, err := decodePayload([]byte(`{"a~/b":[` + n + `]}`))
		require.NoError(t, err)
		require.NotNil(t, bad, n)
		require.Equal(t, "/a~0~1b/0", bad.Field)
	}
	_, _, _, err = decodePayload(bytes.Repeat([]byte("["), 3))
	require.Error(t, err)
}
