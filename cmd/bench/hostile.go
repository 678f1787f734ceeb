package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// The hostile flood of bench noisy (--flood-hostile) replays issue 12's
// template attacks as tenant A: its rule's templates pass every static
// check but exhaust their execution budget on the payloads A sends with
// them, so every A event costs the worker three budgets; a fourth action
// is harmless and is delivered. Tenant B is measured as usual.

// hostileTemplates are A's rule's actions: three that each spend a whole
// template budget on a hostile payload (comparisons of 60 KB strings,
// upper-casing one and encoding a 10,000-item list, 10,000 times), then one
// that is fine. (An output-heavy template would not do: a message stops at
// its size cap long before the budget.)
var hostileTemplates = []string{
	`{{range .payload.list}}{{if eq $.payload.a $.payload.b}}{{end}}{{end}}done`,
	`{{range .payload.list}}{{if lt $.payload.a $.payload.b}}{{end}}{{end}}done`,
	`{{range .payload.list}}{{if eq (upper $.payload.a) (json $.payload.list)}}{{end}}{{end}}done`,
	`fine {{.payload.n}}`,
}

// hostileEvent is one of A's events: ~140 KB, a printf format of 300
// ten-megabyte verbs (which no rule may use: such rules are refused), two
// 60 KB strings that differ in their last byte and a list of 10,000 items.
func hostileEvent(typ string, seq int64) []byte {
	a := strings.Repeat("x", 60_000)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type":%q,"payload":{"n":%d,"f":%q,"a":%q,"b":%q,"list":[%s1]}}`,
		typ, seq, strings.Repeat(`%9999999[1]d`, 300), a, a[1:]+"y", strings.Repeat("1,", 9_999))
	return b.Bytes()
}

// setupHostile makes A's webhook channel and its hostile rule on events of
// type typ.
// With templates false the rule has the harmless action only: the control
// run, where A's events cost what their size costs and no more.
func (t *benchTenant) setupHostile(ctx context.Context, client *benchClient, hook signedHook, typ string, templates bool) error {
	tmpls := hostileTemplates
	if !templates {
		tmpls = hostileTemplates[len(hostileTemplates)-1:]
	}
	if err := t.setupHook(ctx, client, "bench hostile A", hook, typ, tmpls[0]); err != nil {
		return err
	}
	actions := make([]any, len(tmpls))
	for i, tmpl := range tmpls {
		actions[i] = map[string]any{"channelId": t.channelID, "template": tmpl}
	}
	return client.api(ctx, http.MethodPut, "/api/rules/"+t.ruleID, t.token, map[string]any{
		"name": "bench hostile A", "enabled": true,
		"definition": map[string]any{"match": map[string]any{"type": typ}, "actions": actions},
	}, nil)
}

// staticAttacks sends the attacks of issue 12 that must be refused when a
// rule is saved or tried, and returns each one's HTTP status.
func staticAttacks(ctx context.Context, client *benchClient, token, channelID string) (map[string]int, error) {
	action := func(tmpl string) []any { return []any{map[string]any{"channelId": channelID, "template": tmpl}} }
	attacks := []struct {
		name, method, path string
		body               any
	}{
		{"dry_run_340_wide_verbs", http.MethodPost, "/api/rules/test", map[string]any{
			"definition": map[string]any{"match": map[string]any{}, "actions": action(`{{printf "` + strings.Repeat(`%9999999[1]d`, 340) + `" 1}}`)},
			"event":      map[string]any{"type": "x", "payload": map[string]any{}},
		}},
		{"rule_format_from_payload", http.MethodPost, "/api/rules", map[string]any{
			"name": "bench hostile format", "definition": map[string]any{"match": map[string]any{"type": "x"}, "actions": action(`{{printf .payload.f 1}}`)},
		}},
		{"rule_pointer_verb", http.MethodPost, "/api/rules", map[string]any{
			"name": "bench hostile pointer", "definition": map[string]any{"match": map[string]any{"type": "x"}, "actions": action(`{{printf "%p" .payload}}`)},
		}},
	}
	out := make(map[string]int, len(attacks))
	for _, at := range attacks {
		code, err := client.status(ctx, at.method, at.path, token, at.body)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at.name, err)
		}
		out[at.name] = code
	}
	return out, nil
}

// status calls a management endpoint and returns the HTTP status only.
func (c *benchClient) status(ctx context.Context, method, path, token string, in any) (int, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// runPaced sends A's hostile events one by one at rate per second until
// ctx is done (rate 0: back to back, one at a time).
func (f *flood) runPaced(ctx context.Context, client *benchClient, key, typ string, rate float64) {
	reqCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	send := func(seq int64) {
		o := client.postEvent(reqCtx, key, hostileEvent(typ, seq))
		if o.ok() {
			f.accepted.Add(1)
			return
		}
		f.mu.Lock()
		f.errors[errorKey(o)]++
		f.mu.Unlock()
	}
	if rate <= 0 {
		for seq := int64(0); ctx.Err() == nil; seq++ {
			send(seq)
		}
		return
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer tick.Stop()
	for seq := int64(0); ; seq++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			wg.Go(func() { send(seq) })
		}
	}
}

// healthReport is what probing one /healthz every --health-every showed.
type healthReport struct {
	URL      string  `json:"url"`
	Probes   int     `json:"probes"`
	Failures int     `json:"failures"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// probeHealth GETs url every period until ctx is done, one probe at a time
// (a slow answer delays the next probe, it does not pile up).
func probeHealth(ctx context.Context, url string, period time.Duration) healthReport {
	client := &http.Client{Timeout: 5 * time.Second}
	r := healthReport{URL: url}
	var lat []time.Duration
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		start := time.Now()
		resp, err := client.Get(url) //nolint:noctx // bounded by the client's timeout; ctx ends the loop
		d := time.Since(start)
		r.Probes++
		if err != nil {
			r.Failures++
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				r.Failures++
			}
		}
		lat = append(lat, d)
		select {
		case <-ctx.Done():
			slices.Sort(lat)
			r.P50MS, r.P99MS, r.MaxMS = ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(lat, 100))
			return r
		case <-tick.C:
		}
	}
}

// healthProbes probes every url in the background; wait stops them and
// returns their reports.
func healthProbes(ctx context.Context, urls []string, period time.Duration) (wait func() []healthReport) {
	ctx, cancel := context.WithCancel(ctx)
	out := make([]healthReport, len(urls))
	var wg sync.WaitGroup
	for i, u := range urls {
		wg.Go(func() { out[i] = probeHealth(ctx, u, period) })
	}
	return func() []healthReport {
		cancel()
		wg.Wait()
		return out
	}
}
