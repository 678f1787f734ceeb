// Command floor is the least a pipeline in SignalOps' shape does for one
// event that fires one webhook: the same schema, PostgreSQL pool (lib/pq with
// the statement cache), River as platform/queue sets it up (its insert driver,
// the pgx listener), adaptive GOMAXPROCS and process split, and nothing else. db/bench/suite.sh runs it beside the real
// pipeline at the same rate, each process in its own control group, so the
// ratio between the two is what SignalOps' own work costs.
//
//	floor serve  POST /events: the event row and its River job, one transaction
//	floor work   the job: the match, the delivery, the usage counter and the
//	             processed mark in one transaction; the webhook; the attempt
//	             and the delivery's update in another; River completes it
//	floor load   sends events at --rate, receives the webhooks, reads the
//	             control groups: one JSON line
//
// Left out on purpose (each only adds): authentication, validation, rate
// limits, idempotency, group commit, rule and channel reads, templates,
// signatures, fair queueing, a second job per delivery, lineage reads, metrics
// and tracing.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jmoiron/sqlx"
	"github.com/riverqueue/river"

	"github.com/signalops/signalops/cmd/bench"
	"github.com/signalops/signalops/platform/pg"
	"github.com/signalops/signalops/platform/procs"
	"github.com/signalops/signalops/platform/queue"
)

// options are every mode's flags (each mode reads its own).
type options struct {
	listen, ready, hook, url, hookListen string
	tenant, rule, channel                string
	rate                                 float64
	duration                             time.Duration
	groups                               []string
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: floor serve|work|load [flags]")
		os.Exit(2)
	}
	var o options
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:3100", "serve: address")
	fs.StringVar(&o.ready, "ready", "127.0.0.1:3101", "work: address answering GET /readyz once started")
	fs.StringVar(&o.hook, "hook", "", "work: webhook URL")
	fs.StringVar(&o.tenant, "tenant", "", "serve, work: tenant id")
	fs.StringVar(&o.rule, "rule", "", "work: rule id")
	fs.StringVar(&o.channel, "channel", "", "work: channel id")
	fs.StringVar(&o.url, "url", "http://127.0.0.1:3100", "load: floor serve")
	fs.StringVar(&o.hookListen, "hook-listen", "127.0.0.1:3102", "load: where the webhooks arrive")
	fs.Float64Var(&o.rate, "rate", 50, "load: events per second")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "load: how long to send")
	fs.Func("cgroup", "load: NAME=DIR, repeatable: a control group to charge", func(s string) error { o.groups = append(o.groups, s); return nil })
	_ = fs.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = withDB(ctx, func(db *sqlx.DB) error { return runServe(ctx, db, o) })
	case "work":
		err = withDB(ctx, func(db *sqlx.DB) error { return runWork(ctx, db, o) })
	case "load":
		err = runLoad(ctx, o)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// floorArgs is the one job kind: the event to process.
type floorArgs struct {
	EventID uuid.UUID `json:"event_id"`
}

func (floorArgs) Kind() string { return "bench.floor" }

const queueName = "floor"

// queueConfig is SignalOps' River setup (platform/queue: its insert driver,
// fetch cooldown and poll interval as configured by default), without the
// fair-queue middleware.
func queueConfig() queue.Config {
	return queue.Config{FetchCooldown: 10 * time.Millisecond, FetchPollInterval: time.Second, JobTimeout: 30 * time.Second, RescueAfter: 45 * time.Second}
}

func warnLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// withDB runs fn with SignalOps' pool: lib/pq with the statement cache.
func withDB(ctx context.Context, fn func(db *sqlx.DB) error) error {
	db, err := pg.Open(ctx, os.Getenv("DATABASE_URL"), pg.PoolConfig{MaxOpenConns: 20, MaxIdleConns: 20, StatementCache: 256})
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

func runServe(ctx context.Context, db *sqlx.DB, o options) error {
	client, err := queue.NewInsertOnly(db.DB, queueConfig(), warnLogger())
	if err != nil {
		return err
	}
	go procs.Adapt(ctx, procs.Options{}, slog.Default())
	tenantID := uuid.MustParse(o.tenant)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /events", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || len(in.Payload) == 0 {
			http.Error(w, "bad event", http.StatusBadRequest)
			return
		}
		id, err := uuid.NewV7()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		err = pg.InTx(r.Context(), db, func(tx *sqlx.Tx) error {
			if _, err := tx.ExecContext(r.Context(), `INSERT INTO events (id, tenant_id, type, payload, occurred_at, received_at, retention_days)
				VALUES ($1, $2, $3, $4, now(), now(), 365)`, id, tenantID, in.Type, []byte(in.Payload)); err != nil {
				return err
			}
			_, err := client.InsertTx(r.Context(), tx.Tx, floorArgs{EventID: id}, &river.InsertOpts{Queue: queueName, MaxAttempts: 10})
			return err
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		_, _ = fmt.Fprintf(w, `{"id":%q}`, id)
	})
	srv := &http.Server{Addr: o.listen, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.WithoutCancel(ctx)) }()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type floorWorker struct {
	river.WorkerDefaults[floorArgs]
	db               *sqlx.DB
	hook             string
	http             *http.Client
	tenant, rule, ch uuid.UUID
}

func (w *floorWorker) Work(ctx context.Context, job *river.Job[floorArgs]) error {
	eventID := job.Args.EventID
	deliveryID := uuid.Must(uuid.NewV7())
	var payload []byte
	err := pg.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		if err := tx.QueryRowContext(ctx, `UPDATE events SET status = 'processed', processed_at = now()
			WHERE tenant_id = $1 AND id = $2 RETURNING payload`, w.tenant, eventID).Scan(&payload); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO rule_matches (id, tenant_id, event_id, rule_id, rule_version, group_key, fired, received_at, retention_days)
			VALUES ($1, $2, $3, $4, 1, '', true, now(), 365) ON CONFLICT DO NOTHING`, uuid.Must(uuid.NewV7()), w.tenant, eventID, w.rule); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, tenant_id, event_id, rule_id, rule_version, channel_id, event_type, message, body, retention_days)
			VALUES ($1, $2, $3, $4, 1, $5, 'bench.floor', 'floor', $6, 365)`, deliveryID, w.tenant, eventID, w.rule, w.ch, payload); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO usage_counters (tenant_id, period, day, metric, shard, count)
			VALUES ($1, date_trunc('month', now())::date, extract(day FROM now())::smallint, 'events', 0, 1)
			ON CONFLICT (tenant_id, period, metric, day, shard) DO UPDATE SET count = usage_counters.count + 1`, w.tenant)
		return err
	})
	if err != nil {
		return err
	}
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.hook, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, sendErr := w.http.Do(req)
	status := 0
	if sendErr == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		status = resp.StatusCode
	}
	ok := sendErr == nil && status < 300
	err = pg.InTx(ctx, w.db, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts (id, delivery_id, tenant_id, attempt, succeeded, status_code, latency_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, uuid.Must(uuid.NewV7()), deliveryID, w.tenant, job.Attempt, ok, status, time.Since(start).Milliseconds()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = $2, attempts = $3, delivered_at = now(), updated_at = now() WHERE id = $1`,
			deliveryID, map[bool]string{true: "succeeded", false: "failed"}[ok], job.Attempt)
		return err
	})
	if err != nil {
		return err
	}
	if sendErr != nil {
		return fmt.Errorf("webhook: %w", sendErr)
	}
	if !ok {
		return fmt.Errorf("webhook: status %d", status)
	}
	return nil
}

func runWork(ctx context.Context, db *sqlx.DB, o options) error {
	conn, err := pg.ConnString(os.Getenv("DATABASE_URL"))
	if err != nil {
		return err
	}
	lcfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		return err
	}
	lcfg.MinConns, lcfg.MaxConns = 0, 2
	listener, err := pgxpool.NewWithConfig(ctx, lcfg)
	if err != nil {
		return err
	}
	defer listener.Close()
	workers := river.NewWorkers()
	river.AddWorker(workers, &floorWorker{
		db: db, hook: o.hook, http: &http.Client{Timeout: 10 * time.Second},
		tenant: uuid.MustParse(o.tenant), rule: uuid.MustParse(o.rule), ch: uuid.MustParse(o.channel),
	})
	cfg := queueConfig()
	cfg.Queues = map[string]int{queueName: 100}
	client, err := queue.NewWorking(db.DB, listener, workers, cfg, warnLogger())
	if err != nil {
		return err
	}
	go procs.Adapt(ctx, procs.Options{}, slog.Default())
	if err := client.Start(ctx); err != nil {
		return err
	}
	srv := &http.Server{Addr: o.ready, ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}
	go func() { _ = srv.ListenAndServe() }()
	<-ctx.Done()
	_ = srv.Close()
	return client.Stop(context.WithoutCancel(ctx))
}

// receiver counts the webhooks and their latency from the sentAt the load
// put into each payload.
type receiver struct {
	mu        sync.Mutex
	latencies []time.Duration
	seen      map[int]bool
	dups      int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		I      int   `json:"i"`
		SentAt int64 `json:"sentAt"`
	}
	if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	if rc.seen[p.I] {
		rc.dups++
	} else {
		rc.seen[p.I] = true
		rc.latencies = append(rc.latencies, time.Since(time.Unix(0, p.SentAt)))
	}
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.latencies)
}

func runLoad(ctx context.Context, o options) error {
	rc := &receiver{seen: map[int]bool{}}
	hookSrv := &http.Server{Addr: o.hookListen, Handler: rc, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hookSrv.ListenAndServe() }()
	defer hookSrv.Close()

	cpuSince, err := bench.MeasureCPU(o.groups)
	if err != nil {
		return err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	n := int(o.rate * o.duration.Seconds())
	var wg sync.WaitGroup
	var failed atomic.Int64 // refused or unanswered events
	start := time.Now()
	for i := range n {
		time.Sleep(time.Until(start.Add(time.Duration(float64(i) / o.rate * float64(time.Second)))))
		wg.Go(func() {
			body := fmt.Sprintf(`{"type":"bench.floor","payload":{"i":%d,"sentAt":%d}}`, i, time.Now().UnixNano())
			resp, err := client.Post(o.url+"/events", "application/json", strings.NewReader(body))
			if err != nil {
				failed.Add(1)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	fails := int(failed.Load())
	deadline := time.Now().Add(30 * time.Second)
	for rc.count() < n-fails && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	rc.mu.Lock()
	lat := slices.Clone(rc.latencies)
	dups := rc.dups
	rc.mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1e3
	}
	cpu, err := cpuSince(int64(len(lat)))
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"rate": o.rate, "sent": n, "failed": fails, "delivered": len(lat), "duplicates": dups,
		"p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "cpu_us_per_event": cpu,
	})
}
