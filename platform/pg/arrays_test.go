package pg_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/testdb"
)

// TestArrays round-trips the array parameters through PostgreSQL itself.
func TestArrays(t *testing.T) {
	t.Parallel()
	db := testdb.New(t)
	str := func(s string) *string { return &s }

	strs := pg.Strings{str(""), nil, str("NULL"), str(`a "quoted" \ back\\slash`), str("comma, {brace} space "),
		str("ünïcødé ✓ 😀"), str("\t\n\r"), str(`\`), str(`"`)}
	var got []*string
	rows, err := db.Query(`SELECT unnest($1::text[])`, strs)
	require.NoError(t, err)
	for rows.Next() {
		var s *string
		require.NoError(t, rows.Scan(&s))
		got = append(got, s)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []*string(strs), got)

	ids := pg.UUIDs{uuid.Must(uuid.NewV7()), uuid.New(), uuid.Nil}
	var gotIDs pq.StringArray
	require.NoError(t, db.QueryRow(`SELECT $1::uuid[]::text[]`, ids).Scan(&gotIDs))
	require.Equal(t, []string{ids[0].String(), ids[1].String(), ids[2].String()}, []string(gotIDs))

	times := pg.Times{time.Date(2026, 11, 27, 10, 0, 0, 123456000, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))}
	var n int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM unnest($1::timestamptz[], $2::timestamptz[]) AS u(a, b) WHERE a = b`,
		times, pq.GenericArray{A: []time.Time(times)}).Scan(&n))
	require.Equal(t, 2, n, "the same instants as pq's own encoding")
	var nulls int
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM unnest($1::timestamptz[]) AS u(a) WHERE a IS NULL`,
		pg.Times{time.Time{}, time.Now(), time.Time{}}).Scan(&nulls))
	require.Equal(t, 2, nulls, "a zero time is NULL")

	texts := []string{"", "NULL", `a "quoted" \ back\\slash`, `{"json":"doc","n":[1,2]}`, "ünïcødé ✓"}
	var gotTexts pq.StringArray
	require.NoError(t, db.QueryRow(`SELECT $1::text[]`, pg.Texts[string](texts)).Scan(&gotTexts))
	require.Equal(t, texts, []string(gotTexts))
	docs := pg.Texts[[]byte]{[]byte(`{"a":"b \" c","d":"\\"}`), []byte(`{}`)}
	var gotDocs pq.StringArray
	require.NoError(t, db.QueryRow(`SELECT $1::jsonb[]::text[]`, docs).Scan(&gotDocs))
	require.Equal(t, []string{`{"a": "b \" c", "d": "\\"}`, `{}`}, []string(gotDocs))

	ints := pg.Ints{0, -1, 32767, 1 << 40}
	var gotInts pq.Int64Array
	require.NoError(t, db.QueryRow(`SELECT $1::bigint[]`, ints).Scan(&gotInts))
	require.Equal(t, pq.Int64Array{0, -1, 32767, 1 << 40}, gotInts)

	var empty, null *string
	require.NoError(t, db.QueryRow(`SELECT $1::text[]::text, $2::text[]::text`, pg.Strings{}, pg.Strings(nil)).Scan(&empty, &null))
	require.Equal(t, "{}", *empty)
	require.Nil(t, null)
}

func BenchmarkArrays500(b *testing.B) {
	s := "order.created"
	strs := make(pg.Strings, 500)
	ids := make(pg.UUIDs, 500)
	times := make(pg.Times, 500)
	for i := range strs {
		strs[i], ids[i], times[i] = &s, uuid.Must(uuid.NewV7()), time.Now()
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = strs.Value()
		_, _ = ids.Value()
		_, _ = times.Value()
	}
}

func BenchmarkPQArrays500(b *testing.B) {
	s := "order.created"
	strs := make([]*string, 500)
	ids := make([]string, 500)
	times := make([]time.Time, 500)
	for i := range strs {
		strs[i], ids[i], times[i] = &s, uuid.Must(uuid.NewV7()).String(), time.Now()
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = pq.GenericArray{A: strs}.Value()
		_, _ = pq.Array(ids).Value()
		_, _ = pq.GenericArray{A: times}.Value()
	}
}
