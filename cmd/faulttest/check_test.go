package faulttest

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/stretchr/testify/require"
)

// expect is what a scenario allows.
type expect struct {
	// maxDuplicates bounds deliveries the receiver saw twice (same
	// webhook-id): only a send whose outcome was not recorded — a worker
	// killed, or its connection terminated, between the provider's answer and
	// the commit — is sent again.
	maxDuplicates int
	// noOutage: no process was down, so every request got an HTTP answer,
	// and that answer was a success or a 503 with Retry-After.
	noOutage bool
}

// outcome is one scenario's numbers, logged as its summary line.
type outcome struct {
	sent, acked, stored, processed, delivered, duplicates int
}

// verify waits (up to knobs.settle) for the work to drain, then checks the
// invariants and logs the summary line:
//   - every acknowledged id is stored, under the idempotency key it was sent with;
//   - every stored event reached status processed;
//   - every stored fault.event has exactly one delivery, and it succeeded;
//   - the receiver saw at least one valid, signed delivery for each;
//   - duplicates at the receiver stay within ex.maxDuplicates;
//   - the API never answered 500, and every 503 carried Retry-After.
func (c *cluster) verify(lg *loadGen, ex expect) outcome {
	t := c.t
	t.Helper()
	start := time.Now()
	var stored, processed, faults, succeeded int
	drained := false
	for time.Since(start) < c.k.settle {
		err := c.query(func(ctx context.Context, db *sql.DB) error {
			if err := db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE status = 'processed'),
				count(*) FILTER (WHERE type = 'fault.event') FROM events`).Scan(&stored, &processed, &faults); err != nil {
				return err
			}
			return db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE status = 'succeeded' AND rule_id = $1`, c.rule).Scan(&succeeded)
		})
		require.NoError(t, err)
		if processed == stored && succeeded >= faults && c.rx.distinctEvents() >= faults {
			drained = true
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	drainedIn := time.Since(start)
	if !drained {
		t.Errorf("work did not drain within %s: stored %d, processed %d, succeeded deliveries %d of %d, receiver saw %d events\n%s",
			c.k.settle, stored, processed, succeeded, faults, c.rx.distinctEvents(), c.queueReport())
	}

	type row struct{ key, typ, status, source string }
	events := map[string]row{} // id → row
	byKey := map[string]string{}
	perEvent := map[string][2]int{} // event id → deliveries, succeeded
	require.NoError(t, c.query(func(ctx context.Context, db *sql.DB) error {
		clear(events)
		clear(byKey)
		clear(perEvent)
		err := eachRow(ctx, db, `SELECT id::text, coalesce(idempotency_key, ''), type, status, coalesce(source, '') FROM events`,
			func(scan func(...any) error) error {
				var id string
				var r row
				if err := scan(&id, &r.key, &r.typ, &r.status, &r.source); err != nil {
					return err
				}
				events[id] = r
				byKey[r.key] = id
				return nil
			})
		if err != nil {
			return err
		}
		return eachRow(ctx, db, `SELECT event_id::text, count(*), count(*) FILTER (WHERE status = 'succeeded')
			FROM deliveries WHERE rule_id = $1 GROUP BY event_id`, func(scan func(...any) error) error {
			var id string
			var n [2]int
			if err := scan(&id, &n[0], &n[1]); err != nil {
				return err
			}
			perEvent[id] = n
			return nil
		}, c.rule)
	}))
	rx := c.rx.stats()

	lg.mu.Lock()
	acked := make(map[string]string, len(lg.acked))
	for k, v := range lg.acked {
		acked[k] = v
	}
	sent, n500, noRA, unexpected, gaveUp, retries := lg.sent, lg.n500, lg.noRetryAfter, lg.unexpected, lg.gaveUp, lg.retries
	problems := append([]string(nil), lg.problems...)
	lg.mu.Unlock()

	// SignalOps' own events (source "signalops": a channel's circuit opening
	// and closing) are stored and processed like the others, but not sent.
	system := 0
	for _, r := range events {
		if r.source == "signalops" {
			system++
		}
	}
	o := outcome{sent: sent, acked: len(acked), stored: len(events) - system, duplicates: rx.duplicates}
	var lost, wrongID, notProcessed, badDeliveries, notReceived, strangers []string
	ackedIDs := map[string]string{}
	for key, id := range acked {
		if other, dup := ackedIDs[id]; dup {
			wrongID = append(wrongID, fmt.Sprintf("keys %s and %s both acknowledged as %s", other, key, id))
		}
		ackedIDs[id] = key
		if _, ok := events[id]; !ok {
			lost = append(lost, key+"→"+id)
		} else if byKey[key] != id {
			wrongID = append(wrongID, fmt.Sprintf("%s acknowledged as %s, stored as %s", key, id, byKey[key]))
		}
	}
	for id, r := range events {
		if r.status == "processed" {
			o.processed++
		} else {
			notProcessed = append(notProcessed, id+" "+r.status)
		}
		if r.typ != "fault.event" {
			continue
		}
		if n := perEvent[id]; n != [2]int{1, 1} {
			badDeliveries = append(badDeliveries, fmt.Sprintf("%s: %d deliveries, %d succeeded", id, n[0], n[1]))
		}
		if rx.byEvent[id] > 0 {
			o.delivered++
		} else {
			notReceived = append(notReceived, id)
		}
	}
	for id := range rx.byEvent {
		if _, ok := events[id]; !ok {
			strangers = append(strangers, id)
		}
	}

	t.Logf("SUMMARY %s: sent=%d acknowledged=%d stored=%d processed=%d delivered=%d duplicates=%d"+
		" | answers: %s, retries=%d, gave_up=%d | receiver posts=%d | drained in %s",
		t.Name(), o.sent, o.acked, o.stored, o.processed, o.delivered, o.duplicates,
		lg.answerSummary(), retries, gaveUp, rx.posts, drainedIn.Round(10*time.Millisecond))

	check := func(bad []string, what string) {
		t.Helper()
		if len(bad) > 0 {
			sort.Strings(bad)
			t.Errorf("%d %s, e.g. %s", len(bad), what, strings.Join(bad[:min(len(bad), 5)], "; "))
		}
	}
	check(lost, "acknowledged events are not stored")
	check(wrongID, "acknowledged ids do not match the stored event of their idempotency key")
	check(notProcessed, "stored events are not processed")
	check(badDeliveries, "stored fault.events do not have exactly one succeeded delivery")
	check(notReceived, "stored fault.events never reached the receiver")
	check(strangers, "events the receiver got are not stored")
	if o.stored > o.sent {
		t.Errorf("stored %d events but sent only %d distinct idempotency keys", o.stored, o.sent)
	}
	if rx.invalid > 0 {
		t.Errorf("receiver refused %d deliveries: %s", rx.invalid, strings.Join(rx.why, "; "))
	}
	if rx.duplicates > ex.maxDuplicates {
		t.Errorf("receiver saw %d duplicate deliveries (%d webhook-ids more than once); at most %d are allowed here",
			rx.duplicates, rx.dupHooks, ex.maxDuplicates)
	}
	if n500 > 0 {
		t.Errorf("the API answered 500 %d times (never allowed): %s", n500, strings.Join(problems, "; "))
	}
	if noRA > 0 {
		t.Errorf("%d answers were 503 without Retry-After", noRA)
	}
	if unexpected > 0 || gaveUp > 0 {
		t.Errorf("%d unexpected answers, %d requests never answered: %s", unexpected, gaveUp, strings.Join(problems, "; "))
	}
	if ex.noOutage {
		lg.mu.Lock()
		for answer, n := range lg.answers {
			if answer != "200" && answer != "202" && answer != "503" {
				t.Errorf("no process was down, yet %d requests ended %q", n, answer)
			}
		}
		lg.mu.Unlock()
	}
	if t.Failed() {
		t.Logf("queue at the end:\n%s", c.queueReport())
	}
	return o
}

// queueReport lists River jobs and events by state, for a failure message.
func (c *cluster) queueReport() string {
	var b strings.Builder
	err := c.query(func(ctx context.Context, db *sql.DB) error {
		b.Reset()
		for _, q := range []string{
			`SELECT 'job ' || kind || ' ' || state::text, count(*) FROM river_job GROUP BY 1 ORDER BY 1`,
			`SELECT 'event ' || status, count(*) FROM events GROUP BY 1 ORDER BY 1`,
			`SELECT 'delivery ' || status, count(*) FROM deliveries GROUP BY 1 ORDER BY 1`,
			`SELECT 'last job error: ' || kind || ' ' || left((errors[array_length(errors, 1)]) ->> 'error', 300), count(*)
			   FROM river_job WHERE errors IS NOT NULL GROUP BY 1 ORDER BY 2 DESC LIMIT 5`,
		} {
			if err := eachCount(ctx, db, q, func(label string, n int) { fmt.Fprintf(&b, "  %s: %d\n", label, n) }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "  (queue report failed: " + err.Error() + ")"
	}
	return b.String()
}

// eachRow calls fn with each row of q (args bound to its placeholders);
// fn scans the row with scan.
func eachRow(ctx context.Context, db *sql.DB, q string, fn func(scan func(dest ...any) error) error, args ...any) error {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

// eachCount calls fn with each (label, count) row of q.
func eachCount(ctx context.Context, db *sql.DB, q string, fn func(label string, n int)) error {
	return eachRow(ctx, db, q, func(scan func(...any) error) error {
		var label string
		var n int
		if err := scan(&label, &n); err != nil {
			return err
		}
		fn(label, n)
		return nil
	})
}

// runningJobs counts River jobs in state running, by kind: right after a
// worker is killed, the jobs it held.
func (c *cluster) runningJobs() map[string]int {
	out := map[string]int{}
	require.NoError(c.t, c.query(func(ctx context.Context, db *sql.DB) error {
		clear(out)
		return eachCount(ctx, db, `SELECT kind, count(*) FROM river_job WHERE state = 'running' GROUP BY kind`,
			func(kind string, n int) { out[kind] = n })
	}))
	return out
}

// verifyDigests checks, after verify, the digest rule's invariants: every
// stored fault.event was collected into exactly one digest, every digest
// went out as exactly one delivery that succeeded and lists exactly its
// events, every collected match names its digest's delivery, and the
// receiver saw each event in exactly one digest (webhook-id) — a digest sent
// twice has one webhook-id, and counts among verify's duplicates.
func (c *cluster) verifyDigests() {
	t := c.t
	t.Helper()
	start := time.Now()
	var open, pending int
	for time.Since(start) < c.k.settle {
		require.NoError(t, c.query(func(ctx context.Context, db *sql.DB) error {
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM rule_digests WHERE state <> 'flushed'`).Scan(&open); err != nil {
				return err
			}
			return db.QueryRowContext(ctx, `SELECT count(*) FROM deliveries d JOIN rule_digests g ON g.delivery_id = d.id
				WHERE d.status <> 'succeeded'`).Scan(&pending)
		}))
		if open == 0 && pending == 0 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if open > 0 || pending > 0 {
		t.Errorf("digests did not drain within %s: %d not flushed, %d deliveries not succeeded\n%s", c.k.settle, open, pending, c.queueReport())
	}
	bad := map[string]int{}
	require.NoError(t, c.query(func(ctx context.Context, db *sql.DB) error {
		clear(bad)
		for what, q := range map[string]string{
			"stored fault.events not in exactly one digest": `
				SELECT count(*) FROM events e
				WHERE e.type = 'fault.event'
				  AND (SELECT count(*) FROM rule_digest_items i WHERE i.event_id = e.id AND i.rule_id = $1) <> 1`,
			"digests whose count is not their items'": `
				SELECT count(*) FROM rule_digests g
				WHERE g.count <> (SELECT count(*) FROM rule_digest_items i WHERE i.digest_id = g.id)`,
			"digests with items but not exactly one succeeded delivery": `
				SELECT count(*) FROM rule_digests g
				WHERE g.count > 0 AND (SELECT count(*) FROM deliveries d WHERE d.id = g.delivery_id AND d.status = 'succeeded') <> 1`,
			"digest deliveries that do not list exactly their digest's events": `
				SELECT count(*) FROM rule_digests g JOIN deliveries d ON d.id = g.delivery_id
				WHERE jsonb_array_length(d.body -> 'data' -> 'events') <> g.count
				   OR (d.body -> 'data' ->> 'count')::int <> g.count`,
			"digest rule matches whose reason does not name their digest's delivery": `
				SELECT count(*) FROM rule_matches m
				LEFT JOIN rule_digest_items i ON i.event_id = m.event_id AND i.rule_id = m.rule_id
				LEFT JOIN rule_digests g ON g.id = i.digest_id
				WHERE m.rule_id = $1 AND (m.fired OR m.reason IS DISTINCT FROM 'collected into digest ' || g.delivery_id)`,
		} {
			var args []any
			if strings.Contains(q, "$1") {
				args = append(args, c.digestRule)
			}
			var n int
			if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			if n > 0 {
				bad[what] = n
			}
		}
		return nil
	}))
	for what, n := range bad {
		t.Errorf("%d %s", n, what)
	}
	var faults, digests, items int
	require.NoError(t, c.query(func(ctx context.Context, db *sql.DB) error {
		return db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM events WHERE type = 'fault.event'),
			(SELECT count(*) FROM rule_digests), (SELECT count(*) FROM rule_digest_items)`).Scan(&faults, &digests, &items)
	}))
	seen := c.rx.digestHooks()
	var missing, twice int
	require.NoError(t, c.query(func(ctx context.Context, db *sql.DB) error {
		missing, twice = 0, 0
		return eachRow(ctx, db, `SELECT id::text FROM events WHERE type = 'fault.event'`, func(scan func(...any) error) error {
			var id string
			if err := scan(&id); err != nil {
				return err
			}
			switch n := seen[id]; {
			case n == 0:
				missing++
			case n > 1:
				twice++
			}
			return nil
		})
	}))
	t.Logf("DIGESTS %s: %d fault.events in %d items of %d digests; receiver: %d events in no digest, %d in two or more",
		t.Name(), faults, items, digests, missing, twice)
	if missing > 0 || twice > 0 {
		t.Errorf("the receiver got %d stored events in no digest and %d in more than one", missing, twice)
	}
}
