package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// maxRenderAlloc bounds what one render may allocate, whatever the template
// and payload: the budget (maxRenderCost) plus text/template's own
// bookkeeping. Replayed attacks allocated 790 MB before the budget was
// charged ahead of the work.
const maxRenderAlloc = 48 << 20

// allocated runs f and returns the bytes it allocated. Not parallel: the
// counter is the process's.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestHostileTemplates replays the attacks of issue 12 and runs every
// function the template language offers with adversarial arguments: each
// is refused when the rule is saved, or fails its action with an
// explanation, within a bounded allocation — never a crash, never a
// partial message. (Not parallel: it measures allocations.)
func TestHostileTemplates(t *testing.T) {
	big := strings.Repeat("x", 60_000)
	big2 := big[:59_999] + "y"
	list := "[" + strings.Repeat("1,", 9_999) + "1]"
	keys := make([]string, 0, 20_000)
	for i := range 20_000 {
		keys = append(keys, fmt.Sprintf(`"k%05d": 1`, i))
	}
	bigMap := "{" + strings.Join(keys, ",") + "}"
	payload := `{"big": "` + big + `", "big2": "` + big2 + `", "list": ` + list + `, "map": ` + bigMap +
		`, "f": "` + strings.Repeat("%9999999[1]d", 300) + `", "huge": 1e999999, "ctl": "` + strings.Repeat(`\u0001`, 50_000) + `"}`
	ev, err := NewSubject("attack", "", testTime, json.RawMessage(payload))
	require.NoError(t, err)

	// renderBounded compiles tmpl as a rule's one action and renders ev
	// with it, allocating less than maxRenderAlloc.
	renderBounded := func(t *testing.T, tmpl string) Rendered {
		t.Helper()
		c, err := Compile(Definition{Actions: []Action{{ChannelID: uuid.MustParse(testChannel), Template: tmpl}}})
		require.NoError(t, err)
		var out []Rendered
		n := allocated(func() { out = c.Render(context.Background(), &ev) })
		require.Less(t, n, uint64(maxRenderAlloc), "allocated %d bytes", n)
		require.Len(t, out, 1)
		return out[0]
	}

	refused := []struct{ name, tmpl, want string }{
		{"WideVerbs", `{{printf "` + strings.Repeat("%9999999[1]d", 340) + `" 1}}`, "printf width 9999999 is over 100"},
		{"WidthAfterIndex", `{{printf "%[1]9999d" 1}}`, "printf width 9999 is over 100"},
		{"WidePrecision", `{{printf "%.1000f" 1}}`, "printf precision 1000 is over 100"},
		{"StarWidth", `{{printf "%*d" 100000 1}}`, "printf width * is not supported"},
		{"StarPrecision", `{{printf "%.*f" 100000 1}}`, "printf precision * is not supported"},
		{"FormatFromPayload", `{{printf .payload.f 1}}`, "printf needs a format string in the template"},
		{"FormatFromPipe", `{{.payload.f | printf}}`, "printf needs a format string in the template"},
		{"FormatFromVariable", `{{$f := "%d"}}{{printf $f 1}}`, "printf needs a format string in the template"},
		{"NestedFormat", `{{if eq (printf (print "%" "999999d") 1) ""}}{{end}}`, "printf needs a format string in the template"},
		{"Pointer", `{{printf "%p" .payload}}`, "printf verb %p is not supported"},
		{"ManyVerbs", `{{printf "` + strings.Repeat("%d", 65) + `" 1}}`, "more than 64 verbs"},
		{"BadIndex", `{{printf "%[99]d" 1}}`, "printf argument index"},
	}
	for _, tt := range refused {
		t.Run("Refused/"+tt.name, func(t *testing.T) {
			_, msg := compileAction(Action{ChannelID: uuid.MustParse(testChannel), Template: tt.tmpl})
			require.Contains(t, msg, tt.want)
		})
	}

	for _, tt := range []struct{ name, tmpl string }{
		{"PrintHugeArgs", `{{print` + strings.Repeat(" .payload.big", 80) + `}}`},
		{"PrintlnHugeArgs", `{{println` + strings.Repeat(" .payload.big", 80) + `}}`},
		{"PrintfHugeArgs", `{{printf "` + strings.Repeat("%[1]s", 64) + `" .payload.big}}`},
		{"PrintfQuoteControl", `{{range .payload.list}}{{printf "%q%x" $.payload.ctl $.payload.ctl}}{{end}}`},
		{"HTMLLoop", `{{range .payload.list}}{{if html $.payload.big}}{{end}}{{end}}`},
		{"JSLoop", `{{range .payload.list}}{{if js $.payload.ctl}}{{end}}{{end}}`},
		{"URLQueryLoop", `{{range .payload.list}}{{if urlquery $.payload.big}}{{end}}{{end}}`},
		{"EqLoop", `{{range .payload.list}}{{if eq $.payload.big $.payload.big2}}{{end}}{{end}}`},
		{"NeLoop", `{{range .payload.list}}{{if ne $.payload.big $.payload.big}}{{end}}{{end}}`},
		{"LtLoop", `{{range .payload.list}}{{if lt $.payload.big $.payload.big2}}{{end}}{{end}}`},
		{"GeLoop", `{{range .payload.list}}{{if ge $.payload.big $.payload.big2}}{{end}}{{end}}`},
		{"NestedRangeOverMap", `{{range .payload.list}}{{range $.payload.map}}{{break}}{{end}}{{end}}`},
		{"JSONLoop", `{{range .payload.list}}{{if json $.payload}}{{end}}{{end}}`},
		{"UpperLoop", `{{range .payload.list}}{{if upper $.payload.big}}{{end}}{{end}}`},
		{"LowerLoop", `{{range .payload.list}}{{if lower $.payload.big}}{{end}}{{end}}`},
		{"TruncateLoop", `{{range .payload.list}}{{if truncate 10 $.payload.big}}{{end}}{{end}}`},
		{"IndexLoop", `{{range .payload.list}}{{range $.payload.list}}{{if index $.payload "big"}}{{end}}{{end}}{{end}}`},
		{"WidePrintfLoop", `{{range .payload.list}}{{if printf "` + strings.Repeat("%100.100f", 64) + `" 1.5}}{{end}}{{end}}`},
		{"DefaultLoop", `{{range .payload.list}}{{range $.payload.list}}{{if default 1 $.payload.nope}}{{end}}{{end}}{{end}}`},
		{"DateLoop", `{{range .payload.list}}{{if date "` + strings.Repeat("Monday ", 9) + `" $.occurredAt}}{{end}}{{end}}`},
	} {
		t.Run("Budget/"+tt.name, func(t *testing.T) {
			out := renderBounded(t, tt.tmpl)
			require.Equal(t, "the template exceeded its execution budget", out.Error, out.Message)
			require.Empty(t, out.Message)
		})
	}

	for _, tt := range []struct{ name, tmpl, want string }{
		{"FixedHuge", `{{fixed 2 .payload.huge}}`, "<error: fixed: the number is out of range>"},
		{"ThousandsHuge", `{{thousands .payload.huge}}`, "<error: thousands: the number is out of range>"},
		{"PrintfHuge", `{{printf "%.2f|%d" .payload.huge .payload.huge}}`, "%!f(number=1e999999)|%!d(number=1e999999)"},
		{"DateLongLayout", `{{date "` + strings.Repeat("x", 65) + `" .occurredAt}}`, "<error: date: the layout must be at most 64 bytes>"},
		{"DateBadZone", `{{date "2006" .occurredAt "../../etc/passwd"}}`, `<error: date: unknown time zone "../../etc/passwd">`},
		{"TruncateHuge", `{{truncate 100000000 .payload.big}}`, "<error: truncate: the length must be an integer from 1 to 4096>"},
		{"FixedManyDecimals", `{{fixed 1000 1}}`, "<error: fixed: decimals must be an integer from 0 to 20>"},
	} {
		t.Run("Bounded/"+tt.name, func(t *testing.T) {
			out := renderBounded(t, tt.tmpl)
			require.Empty(t, out.Error)
			require.Equal(t, tt.want, out.Message)
		})
	}

	t.Run("Deadline", func(t *testing.T) {
		c, err := Compile(Definition{Actions: []Action{{ChannelID: uuid.MustParse(testChannel),
			Template: `{{range .payload.list}}{{.}}{{end}}`}}})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		out := c.Render(ctx, &ev)
		require.Equal(t, "the template ran past its deadline", out[0].Error)
	})

	t.Run("StoredFormatFromPayload", func(t *testing.T) {
		// A version saved before formats had to be literal still loads;
		// its action fails, explained, and the rule's other actions work.
		def := Definition{Actions: []Action{
			{ChannelID: uuid.MustParse(testChannel), Template: `{{printf .payload.f 1}}`},
			{ChannelID: uuid.MustParse(testChannel), Template: `ok`},
		}}
		_, err := Compile(def)
		require.Error(t, err)
		c, err := CompileStored(def)
		require.NoError(t, err)
		out := c.Render(context.Background(), &ev)
		require.Contains(t, out[0].Error, "template refused: invalid template: printf needs a format string")
		require.Equal(t, Rendered{ChannelID: uuid.MustParse(testChannel), Message: "ok"}, out[1])
	})
}

// TestJSONStringSize: the eight-bytes-at-a-time scan counts exactly what
// encoding/json writes (without HTML escaping), for every byte value in
// every position of a word, and for random text.
func TestJSONStringSize(t *testing.T) {
	want := func(s string) int {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		require.NoError(t, enc.Encode(s))
		return b.Len() - 1 // the newline
	}
	for c := range 256 {
		for pos := range 17 {
			b := []byte(strings.Repeat("abcdefgh", 3))
			b[pos] = byte(c)
			s := string(b)
			require.Equal(t, want(s), jsonStringSize(s), "byte %#x at %d", c, pos)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", " ", "\"", "\\", "\n", "\x01", "\x7f", "é", "€", "\u2028", "\xff", "😀"}
	for range 2_000 {
		var sb strings.Builder
		for range rng.IntN(64) {
			sb.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		s := sb.String()
		require.Equal(t, want(s), jsonStringSize(s), "%q", s)
	}
}

// TestRenderSizesOnce: a long string passed to many calls is charged each
// time but sized once, and a new value at a reused address is sized anew.
func TestRenderSizesOnce(t *testing.T) {
	var st renderState
	st.reset(nil)
	long := strings.Repeat("\n", 2_000) // 2 bytes each in JSON
	for range 3 {
		require.Equal(t, 4_002, st.sizeOf(long))
	}
	require.Len(t, st.sized, 1)
	st.reset(nil)
	require.Empty(t, st.sized, "a render starts with nothing sized")
	list := make([]any, 200)
	for i := range list {
		list[i] = "ab"
	}
	require.Equal(t, 16+200*(elemCost+4), st.sizeOf(list))
	list[0] = long // same address and length, other content: only a new render sees it
	st.reset(nil)
	require.Equal(t, 16+199*(elemCost+4)+elemCost+4_002, st.sizeOf(list))
}
