package events_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/signalops/signalops/modules/events"
	"github.com/signalops/signalops/platform/httpx/httpxtest"
	"github.com/signalops/signalops/platform/pg"
)

// TestGroupCommitMixedLoad: many concurrent requests, grouped into shared
// transactions, still get exactly their own answers.
func TestGroupCommitMixedLoad(t *testing.T) {
	t.Parallel()
	b := setup(t)

	type call struct{ body, key string }
	var calls []call
	for i := range 64 {
		calls = append(calls, call{fmt.Sprintf(`{"type":"a","payload":{"i":%d}}`, i), ""})
	}
	for range 12 {
		calls = append(calls, call{`{"type":"a","payload":{"same":true}}`, "shared"})
	}
	for i := range 4 {
		calls = append(calls, call{fmt.Sprintf(`{"type":"a","payload":{"other":%d}}`, i), "shared"})
	}
	codes := make([]int, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			headers := []string{"x-api-key", b.tenant.APIKey}
			if c.key != "" {
				headers = append(headers, "idempotency-key", c.key)
			}
			codes[i] = httpxtest.Do(b.router, http.MethodPost, "/api/events", c.body, headers...).Code
		}()
	}
	wg.Wait()

	for i := range 64 {
		require.Equal(t, http.StatusAccepted, codes[i])
	}
	// The shared key: one of the 16 requests stored its body first; requests
	// with that body replay (200) and the others are refused (422).
	got := map[int]int{}
	for _, c := range codes[64:] {
		got[c]++
	}
	require.Equal(t, 1, got[http.StatusAccepted], "%v", got)
	require.Equal(t, 15, got[http.StatusOK]+got[http.StatusUnprocessableEntity], "%v", got)
	n, jobs := counts(t, b.db)
	require.Equal(t, 65, n)
	require.Equal(t, 65, jobs)
}

// TestGroupCommitIsolatesAPoisonEvent: an event the database refuses fails
// alone. The requests grouped with it are stored and hear 202, the poison
// request alone hears 500, and its event was tried twice: in the group,
// then alone.
func TestGroupCommitIsolatesAPoisonEvent(t *testing.T) {
	t.Parallel()
	b, svc := setupCommitters(t, pg.GroupOptions{Committers: 1, MaxBatch: 64})
	ctx := t.Context()
	// The database refuses type test.poison, counting its attempts in a
	// sequence (a rollback does not undo nextval); type test.block waits
	// for the advisory lock the test holds.
	_, err := b.db.ExecContext(ctx, `
		CREATE SEQUENCE poison_attempts;
		CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.type = 'test.block' THEN PERFORM pg_advisory_xact_lock_shared(4242); END IF;
			IF NEW.type = 'test.poison' THEN PERFORM nextval('poison_attempts'); RAISE EXCEPTION 'poison event'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER poison BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION poison()`)
	require.NoError(t, err)
	lock, err := b.db.Conn(ctx)
	require.NoError(t, err)
	defer lock.Close()
	_, err = lock.ExecContext(ctx, `SELECT pg_advisory_lock(4242)`)
	require.NoError(t, err)

	send := func(typ string) int {
		return httpxtest.Do(b.router, http.MethodPost, "/api/events", `{"type":"`+typ+`","payload":{}}`, "x-api-key", b.tenant.APIKey).Code
	}
	// The only committer takes the blocking event and waits for the lock;
	// meanwhile the other requests queue and then go as one group.
	require.Eventually(t, func() bool { return events.IngestRunning(svc) }, 10*time.Second, time.Millisecond)
	var wg sync.WaitGroup
	var blocked int
	wg.Go(func() { blocked = send("test.block") })
	require.Eventually(t, func() bool {
		var waiting int
		err := b.db.Get(&waiting, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
			AND objid = 4242 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`)
		return err == nil && waiting == 1
	}, 10*time.Second, time.Millisecond)
	const mates = 20
	codes := make([]int, mates+1)
	for i := range codes {
		typ := "test.good"
		if i == mates/2 {
			typ = "test.poison"
		}
		wg.Go(func() { codes[i] = send(typ) })
	}
	require.Eventually(t, func() bool { return events.IngestQueued(svc) == mates+1 }, 10*time.Second, time.Millisecond)
	_, err = lock.ExecContext(ctx, `SELECT pg_advisory_unlock(4242)`)
	require.NoError(t, err)
	wg.Wait()

	require.Equal(t, http.StatusAccepted, blocked)
	for i, code := range codes {
		if i == mates/2 {
			require.Equal(t, http.StatusInternalServerError, code, "the poison request")
			continue
		}
		require.Equal(t, http.StatusAccepted, code, "request %d", i)
	}
	var attempts, good int
	require.NoError(t, b.db.Get(&attempts, `SELECT last_value FROM poison_attempts`))
	require.Equal(t, 2, attempts, "the poison event was tried in its group, then alone")
	require.NoError(t, b.db.Get(&good, `SELECT count(*) FROM events WHERE type = 'test.good'`))
	require.Equal(t, mates, good)
	n, jobs := counts(t, b.db)
	require.Equal(t, mates+1, n)
	require.Equal(t, mates+1, jobs)
}
