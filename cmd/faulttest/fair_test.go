package faulttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestNoisyNeighbour: a tenant's backlog does not hold up another tenant's
// events (SPEC §8). Tenant "noisy" queues a backlog of events before any
// worker runs; then tenant "f" (the cluster's, with its webhook rule) sends
// a few events, and one work process starts. f's events must be processed
// before most of the backlog: without fair ordering they would come after
// all of it (platform/queue's tests show both orders).
func TestNoisyNeighbour(t *testing.T) {
	c := newCluster(t, 1, "QUEUE_EVENT_WORKERS=2")
	var noisy struct{ APIKey string }
	// Free: weight 1, so its first 100 jobs a second are within its share.
	out := c.runCLI("seed", "tenant", "--slug", "noisy", "--name", "Noisy", "--plan", "free", "--json")
	require.NoError(t, json.Unmarshal(out, &noisy), "seed --json printed %q", out)

	batches := max(c.k.backlog/100, 10) // 100 events each
	for b := range batches {
		var items []string
		for i := range 100 {
			items = append(items, fmt.Sprintf(`{"type":"noise.tick","payload":{"b":%d,"i":%d}}`, b, i))
		}
		status, body := c.api("POST", "/api/events/batch", `{"events":[`+strings.Join(items, ",")+`]}`, "x-api-key", noisy.APIKey)
		require.Equal(t, http.StatusOK, status, "batch: %.300s", body)
		require.Contains(t, string(body), `"accepted":100,`, "batch: %.300s", body)
	}
	backlog := batches * 100

	const quiet = 10
	for i := range quiet {
		status, body := c.api("POST", "/api/events", fmt.Sprintf(`{"type":"fault.event","payload":{"n":%d}}`, i), "x-api-key", c.apiKey)
		require.Equal(t, http.StatusAccepted, status, "event: %s", body)
	}

	started := time.Now()
	c.startWorks(1)
	waitUntil(t, 2*time.Minute, "the quiet tenant's webhooks", func() bool { return c.rx.distinctEvents() >= quiet })
	t.Logf("the quiet tenant's %d webhooks arrived %s after work started", quiet, time.Since(started).Round(time.Millisecond))
	waitUntil(t, 5*time.Minute, "the backlog to drain", func() bool {
		return c.count(`SELECT count(*) FROM events WHERE status = 'accepted'`) == 0
	})
	// Processing order, from each event's processed_at: how much of the
	// backlog went before the quiet tenant's last event.
	ahead := c.count(`SELECT count(*) FROM events WHERE type = 'noise.tick'
		AND processed_at < (SELECT max(processed_at) FROM events WHERE type = 'fault.event')`)
	t.Logf("%d of the noisy tenant's %d queued events were processed before the quiet tenant's last", ahead, backlog)
	require.Less(t, ahead, backlog/2, "the quiet tenant waited behind the noisy tenant's backlog")
}
