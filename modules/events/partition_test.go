package events_test

import (
	"context"
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

	t.Run("MaintainDropsExpiredPartitionsPerClass", func(t *testing.T) {
		t.Parallel()
		b := setupPartitions(t)
		now := time.Now()
		// Far enough from every cutoff that partition alignment does not matter.
		gone := map[int]time.Time{30: now.Add(-45 * day), 90: now.Add(-110 * day), 365: now.Add(-400 * day)}
		kept := map[int]time.Time{30: now.Add(-20 * day), 90: now.Add(-70 * day), 365: now.Add(-330 * day)}
		var goneIDs, keptIDs []uuid.UUID
		for _, class := range classes {
			goneIDs = append(goneIDs, insertAt(t, b, gone[class], class))
			keptIDs = append(keptIDs, insertAt(t, b, kept[class], class))
		}
		// A pro event as old as the expired free one stays: retention is per class.
		keptIDs = append(keptIDs, insertAt(t, b, gone[30], 90))

		type call struct {
			class  int
			before uuid.UUID
		}
		var mu sync.Mutex
		var calls []call
		b.svc.AddExpiry(func(_ context.Context, class int, before uuid.UUID) (int64, error) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{class, before})
			return 0, nil
		})

		rep, err := b.svc.Maintain(t.Context(), now)
		require.NoError(t, err)
		require.False(t, rep.Skipped)
		require.NotEmpty(t, rep.Dropped)
		require.EqualValues(t, 3, rep.Deleted, "the expired events' idempotency keys")

		for _, id := range goneIDs {
			var n int
			require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM events WHERE id = $1`, id))
			require.Zero(t, n, "expired event %s is gone", id)
			require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM event_idempotency WHERE event_id = $1`, id))
			require.Zero(t, n, "and its idempotency key")
		}
		for _, id := range keptIDs {
			got := do(t, b.router, http.MethodGet, "/api/events/"+id.String(), "", "x-api-key", b.tenant.APIKey)
			require.Equal(t, http.StatusOK, got.Code, "event %s in an old partition reads back", id)
			var n int
			require.NoError(t, b.db.Get(&n, `SELECT count(*) FROM event_idempotency WHERE event_id = $1`, id))
			require.Equal(t, 1, n)
		}
		have := leaves(t, b.db)
		for _, class := range classes {
			span := events.PartitionSpan(class)
			require.False(t, have[events.LeafName(class, events.PartitionStart(gone[class], span))])
			require.True(t, have[events.LeafName(class, events.PartitionStart(kept[class], span))])
		}
		require.ElementsMatch(t, []call{
			{30, events.ExpiryCutoff(30, now)}, {90, events.ExpiryCutoff(90, now)}, {365, events.ExpiryCutoff(365, now)},
		}, calls, "the hooks get each class's cutoff")
		for _, c := range calls {
			require.Equal(t, 1, pg.UUIDv7Time(c.before).Compare(now.Add(-time.Duration(c.class)*day-events.PartitionSpan(c.class))),
				"a cutoff is at most one span older than the retention")
			require.False(t, pg.UUIDv7Time(c.before).After(now.Add(-time.Duration(c.class)*day)))
		}

		// Again: nothing left to do.
		rep, err = b.svc.Maintain(t.Context(), now)
		require.NoError(t, err)
		require.Empty(t, rep.Dropped)
		require.Zero(t, rep.Deleted)
	})

	t.Run("OneMaintainAtATime", func(t *testing.T) {
		t.Parallel()
		b := setupPartitions(t)
		insertAt(t, b, time.Now().Add(-45*day), billing.RetentionFree)

		var wg sync.WaitGroup
		reps := make([]events.Maintenance, 4)
		errs := make([]error, 4)
		for i := range reps {
			wg.Go(func() { reps[i], errs[i] = b.svc.Maintain(t.Context(), time.Now()) })
		}
		wg.Wait()
		var dropped []string
		for i := range reps {
			require.NoError(t, errs[i])
			dropped = append(dropped, reps[i].Dropped...)
		}
		require.NotEmpty(t, dropped)
		require.Equal(t, dedupe(dropped), dropped, "each partition is dropped once")
	})

	t.Run("FinishesADetachAStoppedRunLeft", func(t *testing.T) {
		t.Parallel()
		b := setupPartitions(t)
		at := time.Now().Add(-45 * day)
		insertAt(t, b, at, billing.RetentionFree)
		leaf := events.LeafName(billing.RetentionFree, events.PartitionStart(at, events.PartitionSpan(billing.RetentionFree)))
		// A run that detached but did not drop, and one that created but did not attach.
		_, err := b.db.Exec(`ALTER TABLE events_r30 DETACH PARTITION ` + leaf)
		require.NoError(t, err)
		ahead := events.LeafName(billing.RetentionFree, events.PartitionStart(time.Now().Add(9*7*day), 7*day))
		_, err = b.svc.EnsurePartitions(t.Context(), time.Now().Add(9*7*day))
		require.NoError(t, err)
		_, err = b.db.Exec(`ALTER TABLE events_r30 DETACH PARTITION ` + ahead)
		require.NoError(t, err)

		rep, err := b.svc.Maintain(t.Context(), time.Now())
		require.NoError(t, err)
		require.Contains(t, rep.Dropped, leaf)
		var exists bool
		require.NoError(t, b.db.Get(&exists, `SELECT to_regclass($1) IS NOT NULL`, leaf))
		require.False(t, exists)

		created, err := b.svc.EnsurePartitions(t.Context(), time.Now().Add(9*7*day))
		require.NoError(t, err)
		require.Equal(t, []string{ahead}, created, "the detached table is attached again")
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
			page := pages[struct{ ID uuid.UUID }](t, b.router, 20, fmt.Sprintf("/api/events?limit=%d", limit), "x-api-key", b.tenant.APIKey)
			var got []uuid.UUID
			for _, e := range page {
				got = append(got, e.ID)
			}
			require.Equal(t, want, got, "limit %d", limit)
		}

		since := now.Add(-95 * day).UTC().Format(time.RFC3339)
		rec := do(t, b.router, http.MethodGet, "/api/events?limit=100&since="+since, "", "x-api-key", b.tenant.APIKey)
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

// TestListUntil: until bounds the ids List reads (so a window in the past
// starts at its end), with room for an id made later than its
// received_at; the rows and their pages are the ones received_at selects.
func TestListUntil(t *testing.T) {
	t.Parallel()
	b := setupPartitions(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	oldest := insertAt(t, b, now.Add(-20*day), billing.RetentionEnterprise)
	cut := now.Add(-10 * day)
	before := insertAt(t, b, cut.Add(-time.Millisecond), billing.RetentionEnterprise)
	// Received just before the cut, its id made half a second later (a
	// stalled thread): still listed.
	late := idAt(cut.Add(500 * time.Millisecond))
	_, err := b.db.Exec(`INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, retention_days)
		VALUES ($1, $2, 'late', '{}', $3, $3, 365)`, late, b.tenant.ID, cut.Add(-time.Millisecond))
	require.NoError(t, err)
	insertAt(t, b, cut, billing.RetentionEnterprise) // at the cut: excluded
	insertAt(t, b, now.Add(-time.Hour), billing.RetentionEnterprise)

	list := func(query string) ([]uuid.UUID, string) {
		rec := do(t, b.router, http.MethodGet, "/api/events?"+query, "", "x-api-key", b.tenant.APIKey)
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var page struct {
			Data       []struct{ ID uuid.UUID }
			NextCursor *string
		}
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &page))
		var ids []uuid.UUID
		for _, e := range page.Data {
			ids = append(ids, e.ID)
		}
		next := ""
		if page.NextCursor != nil {
			next = *page.NextCursor
		}
		return ids, next
	}
	until := "until=" + cut.Format(time.RFC3339Nano)
	ids, next := list(until)
	require.Equal(t, []uuid.UUID{late, before, oldest}, ids)
	require.Empty(t, next)

	// Page by page: the cursor and until together.
	ids, next = list(until + "&limit=2")
	require.Equal(t, []uuid.UUID{late, before}, ids)
	require.NotEmpty(t, next)
	ids, _ = list(until + "&limit=2&cursor=" + next)
	require.Equal(t, []uuid.UUID{oldest}, ids)

	// A window: since and until.
	ids, _ = list(until + "&since=" + cut.Add(-day).Format(time.RFC3339Nano))
	require.Equal(t, []uuid.UUID{late, before}, ids)
}
