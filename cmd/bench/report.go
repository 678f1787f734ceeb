package bench

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// benchReport is the result; its JSON form is the --json line.
type benchReport struct {
	Mode          string           `json:"mode"`
	Concurrency   int              `json:"concurrency"`
	Rate          float64          `json:"rate"`
	Keys          int              `json:"keys"`
	BatchSize     int              `json:"batch_size,omitempty"`
	DurationS     float64          `json:"duration_s"`
	Requests      int64            `json:"requests"`
	Events        int64            `json:"events"`
	OK            int64            `json:"ok"`
	Errors        map[string]int64 `json:"errors"`
	Dropped       int64            `json:"dropped"`
	ThroughputRPS float64          `json:"throughput_rps"`
	EventsPerS    float64          `json:"events_per_s"`
	P50MS         float64          `json:"p50_ms"`
	P95MS         float64          `json:"p95_ms"`
	P99MS         float64          `json:"p99_ms"`
	MaxMS         float64          `json:"max_ms"`
	Interrupted   bool             `json:"interrupted,omitempty"`
	*e2eReport
	*cpuCost // with --cgroup: CPU charged to each group while measuring
	*noisyReport
}

// e2eReport is what bench e2e adds; p50_ms… of the report are then the
// end-to-end latencies, and these ingest_* those of the ingest requests.
type e2eReport struct {
	Delivered         int64   `json:"delivered"`
	Missing           int64   `json:"missing"`
	Duplicates        int64   `json:"duplicates"`
	DuplicateEvents   int64   `json:"duplicate_events"`
	Unexpected        int64   `json:"unexpected"`
	InvalidSignatures int64   `json:"invalid_signatures"`
	IngestP50MS       float64 `json:"ingest_p50_ms"`
	IngestP95MS       float64 `json:"ingest_p95_ms"`
	IngestP99MS       float64 `json:"ingest_p99_ms"`
	IngestMaxMS       float64 `json:"ingest_max_ms"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func newBenchReport(mode string, o *benchOptions, keys int, r loadResult) benchReport {
	rep := benchReport{
		Mode: mode, Concurrency: o.concurrency, Rate: o.rate, Keys: keys,
		DurationS: math.Round(r.window.Seconds()*1000) / 1000,
		Requests:  r.requests, Events: r.events, OK: r.ok, Errors: r.errors, Dropped: r.dropped,
		P50MS: ms(percentile(r.latencies, 50)), P95MS: ms(percentile(r.latencies, 95)),
		P99MS: ms(percentile(r.latencies, 99)), MaxMS: ms(percentile(r.latencies, 100)),
		Interrupted: r.interrupted,
	}
	if rep.Errors == nil {
		rep.Errors = map[string]int64{}
	}
	if s := r.window.Seconds(); s > 0 {
		rep.ThroughputRPS = round2(float64(r.requests) / s)
		rep.EventsPerS = round2(float64(r.events) / s)
	}
	return rep
}

func (r benchReport) errorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

// formatErrors renders the errors map sorted by key: "429: 12, timeout: 3".
func formatErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// formatBenchSummary is the human summary.
func formatBenchSummary(r benchReport) string {
	var b strings.Builder
	loop := "closed loop"
	if r.Rate > 0 {
		loop = fmt.Sprintf("open loop at %g req/s", r.Rate)
	}
	keys := "1 key"
	if r.Keys != 1 {
		keys = fmt.Sprintf("%d keys", r.Keys)
	}
	fmt.Fprintf(&b, "bench %s: %s, concurrency %d, %s", r.Mode, loop, r.Concurrency, keys)
	if r.BatchSize > 0 {
		fmt.Fprintf(&b, ", %d events per batch", r.BatchSize)
	}
	fmt.Fprintf(&b, ", measured %.2fs", r.DurationS)
	if r.Interrupted {
		b.WriteString(" (interrupted)")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  requests    %d (ok %d, errors %d, dropped %d)\n", r.Requests, r.OK, r.errorCount(), r.Dropped)
	fmt.Fprintf(&b, "  throughput  %.1f req/s, %.1f events/s (%d events accepted)\n", r.ThroughputRPS, r.EventsPerS, r.Events)
	lat := func(name string, p50, p95, p99, mx float64) {
		fmt.Fprintf(&b, "  %-11s p50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", name, p50, p95, p99, mx)
	}
	if r.e2eReport == nil {
		lat("latency", r.P50MS, r.P95MS, r.P99MS, r.MaxMS)
	} else {
		e := r.e2eReport
		lat("ingest", e.IngestP50MS, e.IngestP95MS, e.IngestP99MS, e.IngestMaxMS)
		lat("end-to-end", r.P50MS, r.P95MS, r.P99MS, r.MaxMS)
		fmt.Fprintf(&b, "  deliveries  %d of %d accepted events (missing %d, duplicates %d, duplicate events %d, unexpected %d, invalid signatures %d)\n",
			e.Delivered, r.Events, e.Missing, e.Duplicates, e.DuplicateEvents, e.Unexpected, e.InvalidSignatures)
	}
	if nr := r.noisyReport; nr != nil {
		fmt.Fprintf(&b, "  flood       tenant A: %d events accepted, %.0f events/s, fire=%v, errors %s",
			nr.FloodEvents, nr.FloodEventsPerS, nr.FloodFire, formatErrors(nr.FloodErrors))
		if nr.FloodFire {
			fmt.Fprintf(&b, ", %d webhooks received", nr.FloodDelivered)
		}
		b.WriteString("\n")
		if nr.FloodHostile {
			fmt.Fprintf(&b, "  hostile     A's events each ran three budget-exhausting actions; static attacks answered %v\n", nr.StaticAttacks)
		}
		for _, h := range nr.Health {
			fmt.Fprintf(&b, "  health      %s: %d probes, %d failed, p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", h.URL, h.Probes, h.Failures, h.P50MS, h.P99MS, h.MaxMS)
		}
		if nr.BacklogUnobserved {
			b.WriteString("  backlog     not observed while measuring (see --metrics-url)\n")
		} else {
			fmt.Fprintf(&b, "  backlog     queued event.process jobs while B sent: start %d, min %d, max %d, mean %.0f, end %d; %d at B's last webhook (%.1fs after its first send); built past %d in %.1fs\n",
				nr.BacklogAtStart, nr.BacklogMin, nr.BacklogMax, nr.BacklogMean, nr.BacklogAtEnd, nr.BacklogAtLastDelivery, nr.MeasuredUntilS, nr.BacklogTarget, nr.FillS)
		}
	}
	unit := "event"
	if r.e2eReport != nil {
		unit = "delivered event"
	}
	b.WriteString(r.cpuCost.format(unit))
	fmt.Fprintf(&b, "  errors      %s\n", formatErrors(r.Errors))
	return b.String()
}

// printBench writes the summary or the JSON line, and fails the command
// when nothing succeeded, so scripts notice a broken setup.
func (a *streams) printBench(r benchReport, asJSON bool) error {
	if asJSON {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s\n", b)
	} else {
		fmt.Fprint(a.stdout, formatBenchSummary(r))
	}
	if r.Requests > 0 && r.OK == 0 {
		return fmt.Errorf("no request succeeded (errors: %s)", formatErrors(r.Errors))
	}
	return nil
}
