package httpx_test

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/platform/apperr"
	"github.com/signalops/signalops/platform/httpx"
)

func TestQuery(t *testing.T) {
	t.Parallel()
	e := echo.New()
	ctx := func(rawQuery string) echo.Context {
		return e.NewContext(httptest.NewRequest(http.MethodGet, "/x?"+rawQuery, nil), httptest.NewRecorder())
	}

	t.Run("Defaults", func(t *testing.T) {
		q := httpx.ReadQuery(ctx(""))
		require.Equal(t, httpx.PageParams{Limit: httpx.DefaultPageSize}, q.Page())
		require.Equal(t, 12, q.Int("months", 12, 1, 36))
		require.True(t, q.Time("since").IsZero())
		require.Equal(t, uuid.Nil, q.UUID("eventId"))
		require.Empty(t, q.String("type"))
		require.NoError(t, q.Err())
	})

	t.Run("Values", func(t *testing.T) {
		id := uuid.New()
		cursor := base64.RawURLEncoding.EncodeToString(id[:])
		q := httpx.ReadQuery(ctx("limit=7&cursor=" + cursor + "&months=36&since=2026-05-01T12:00:00.5Z&eventId=" + id.String() + "&type=a.b"))
		require.Equal(t, httpx.PageParams{Limit: 7, Before: id}, q.Page())
		require.Equal(t, 36, q.Int("months", 12, 1, 36))
		require.Equal(t, time.Date(2026, 5, 1, 12, 0, 0, 5e8, time.UTC), q.Time("since"))
		require.Equal(t, id, q.UUID("eventId"))
		require.Equal(t, "a.b", q.String("type"))
		require.NoError(t, q.Err())
	})

	t.Run("EveryBadParameterNamed", func(t *testing.T) {
		q := httpx.ReadQuery(ctx("limit=0&cursor=zz&months=37&since=yesterday&eventId=7"))
		q.Page()
		q.Int("months", 12, 1, 36)
		q.Time("since")
		q.UUID("eventId")
		q.Fail("status", "must be pending, succeeded or failed")
		var ae *apperr.Error
		require.ErrorAs(t, q.Err(), &ae)
		require.Equal(t, apperr.KindBadRequest, ae.Kind)
		require.Equal(t, "invalid_query", ae.Code)
		require.Equal(t, []apperr.FieldError{
			{Field: "limit", Message: "must be an integer from 1 to 200"},
			{Field: "cursor", Message: "is not a cursor this API returned"},
			{Field: "months", Message: "must be an integer from 1 to 36"},
			{Field: "since", Message: "must be an RFC 3339 timestamp"},
			{Field: "eventId", Message: "must be a UUID"},
			{Field: "status", Message: "must be pending, succeeded or failed"},
		}, ae.Fields)
	})
}
