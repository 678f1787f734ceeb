package events_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/billing"
	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/pg"
)

const day = 24 * time.Hour

var classes = []int{billing.RetentionFree, billing.RetentionPro, billing.RetentionEnterprise}

type partitionBundle struct {
	*testBundle
	svc *events.Service
}

func setupPartitions(t *testing.T) *partitionBundle {
	t.Helper()
	b := setup(t)
	_, svc := newRouterWithService(t, b.db)
	return &partitionBundle{testBundle: b, svc: svc}
}

// idAt is a UUIDv7 made at t.
func idAt(t time.Time) uuid.UUID {
	id := pg.UUIDv7Floor(t)
	r := uuid.New()
	copy(id[6:], r[6:])
	id[6] = 0x70 | id[6]&0x0f
	id[8] = 0x80 | id[8]&0x3f
	return id
}

// insertAt stores an event received at `at` with the given retention, and
// its idempotency key, creating the partitions it needs.
func insertAt(t *testing.T, b *partitionBundle, at time.Time, class int) uuid.UUID {
	t.Helper()
	_, err := b.svc.EnsurePartitions(t.Context(), at)
	require.NoError(t, err)
	id := idAt(at)
	_, err = b.db.Exec(`INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, idempotency_key, request_hash, retention_days)
		VALUES ($1, $2, 'old', '{}', $3, $3, $4, '\x00', $5)`, id, b.tenant.ID, at, "k-"+id.String(), class)
	require.NoError(t, err)
	_, err = b.db.Exec(`INSERT INTO event_idempotency (tenant_id, idempotency_key, event_id, request_hash, retention_days)
		VALUES ($1, $2, $3, '\x00', $4)`, b.tenant.ID, "k-"+id.String(), id, class)
	require.NoError(t, err)
	return id
}

// leaves returns the attached partitions of each class.
func leaves(t *testing.T, db *sqlx.DB) map[string]bool {
	t.Helper()
	var names []string
	require.NoError(t, db.Select(&names, `
		SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = 'events'::regclass)`))
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

func TestPartitions(t *testing.T) {
	t.Parallel()

	t.Run("MigrationCreatesFourWeeksAheadAndNoDefault", func(t *testing.T) {
		t.Parallel()
		b := setupPartitions(t)
		now := time.Now()

		have := leaves(t, b.db)
		for _, class := range classes {
			span := events.PartitionSpan(class)
			for lo := events.PartitionStart(now, span); lo.Before(now.Add(27 * day)); lo = lo.Add(span) {
				require.True(t, have[events.LeafName(class, lo)], "%s exists", events.LeafName(class, lo))
			}
		}
		var defaults int
		require.NoError(t, b.db.Get(&defaults, `
			SELECT count(*) FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
			WHERE c.relname LIKE 'events%' AND pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'`))
		require.Zero(t, defaults, "no DEFAULT partition: every row has a range")

		created, err := b.svc.EnsurePartitions(t.Context(), now)
		require.NoError(t, err)
		require.Empty(t, created, "nothing is missing after the migration")
	})

	t.Run("EnsureCreatesAheadOnceUnderConcurrency", func(t *testing.T) {
		t.Parallel()
		b := setupPartitions(t)
		later := time.Now().Add(20 * 7 * day)

		var wg sync.WaitGroup
		created := make([][]string, 4)
		errs := make([]error, 4)
		for i := range created {
			wg.Go(func() { created[i], errs[i] = b.svc.EnsurePartitions(t.Context(), later) })
		}
		wg.Wait()
		var all []string
		for i := range created {
			require.NoError(t, errs[i])
			all = append(all, created[i]...)
		}
		require.NotEmpty(t, all)
		require.Equal(t, dedupe(all), all, "each table is created once")
		have := leaves(t, b.db)
		span := events.PartitionSpan(billing.RetentionFree)
		require.True(t, have[events.LeafName(billing.RetentionFree, events.PartitionStart(later.Add(28*day), span))])

		// An event received then is stored (the tenant here has no plan: the longest retention).
		_, err := b.db.Exec(`INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, retention_days)
			VALUES ($1, $2, 'a', '{}', now(), now(), 365)`, idAt(later), b.tenant.ID)
		require.NoError(t, err)
	})

	t.Run("InsertWithoutPartitionCreatesIt", func(t *testing.T) {
		t.Parallel()
		b := setupPartitions(t)
		// As if no maintenance had run for weeks: this week's partition is missing.
		leaf := events.LeafName(billing.RetentionEnterprise, events.PartitionStart(time.Now(), events.PartitionSpan(billing.RetentionEnterprise)))
		_, err := b.db.Exec(`DROP TABLE ` + leaf)
		require.NoError(t, err)

		rec := post(t, b.testBundle, `{"type":"a","payload":{}}`, "idempotency-key", "k")
		require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
		require.True(t, leaves(t, b.db)[leaf])
		again := post(t, b.testBundle, `{"type":"a","payload":{}}`, "idempotency-key", "k")
		require.Equal(t, http.StatusOK, again.Code, again.Body.String())
		require.Equal(t, idOf(t, rec), idOf(t, again))
	})

	t.Run("ListWalksWindowsInOrder", func(t *testing.T) {
		t.Parallel()
		b := setupPartitions(t)
		now := time.Now()
		var want []uuid.UUID
		for _, ago := range []int{300, 200, 120, 90, 40, 30, 20, 10, 9, 8, 3, 1} {
			want = append(want, insertAt(t, b, now.Add(-time.Duration(ago)*day), billing.RetentionEnterprise))
		}
		slices.Reverse(want)

		for _, limit := range []int{1, 2, 5, 100} {
			var got []uuid.UUID
			cursor := ""
			for range 20 {
				rec := do(t, b.router, http.MethodGet, fmt.Sprintf("/api/events?limit=%d%s", limit, cursor), nil, "x-api-key", b.tenant.APIKey)
				require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
				var page struct {
					Data       []struct{ ID uuid.UUID }
					NextCursor *string
				}
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
				for _, e := range page.Data {
					got = append(got, e.ID)
				}
				if page.NextCursor == nil {
					break
				}
				cursor = "&cursor=" + *page.NextCursor
			}
			require.Equal(t, want, got, "limit %d", limit)
		}

		since := now.Add(-95 * day).UTC().Format(time.RFC3339)
		rec := do(t, b.router, http.MethodGet, "/api/events?limit=100&since="+since, nil, "x-api-key", b.tenant.APIKey)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var page struct{ Data []struct{ ID uuid.UUID } }
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		require.Len(t, page.Data, 9)
	})
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
