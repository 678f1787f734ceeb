#!/usr/bin/env bash
# Every figure of docs/performance.md, measured in one run on this machine
# against a private PostgreSQL cluster, printed as one table at the end.
#
#   go build -o signalops . && db/bench/suite.sh ./signalops
#   STEPS=noisy,e2e db/bench/suite.sh ./signalops     # only these steps
#   SHORT=1 db/bench/suite.sh ./signalops              # smoke test (CI): every step, tiny
#
# PostgreSQL runs as a cluster of its own (initdb into a temporary
# directory with PGBIN's binaries, default settings, fsync on, its own
# port), so nothing else on the machine shares it. PostgreSQL (its
# postmaster, hence every backend and background process), `serve` and
# `work` each run in a control group of their own (cgroup v1 cpuacct, or
# v2), so every CPU second they spend is charged exactly: `signalops bench
# --cgroup` reads the groups when its measurement starts and ends, and the
# suite does the same around pgbench. The load generator, pgbench and the
# webhook receivers run outside the groups.
#
# Steps (STEPS, comma-separated; default all, in this order):
#   ingest   CPU per event, side by side with pgbench writing the same rows,
#            ROUNDS rounds alternating who goes first, medians reported:
#            pgbench one transaction per event (event + river_job row) at 16
#            clients vs POST /api/events at 32; pgbench 100 events per
#            transaction at 4 clients vs POST /api/events/batch (100) at 4.
#            Also WAL records, buffer hits and commits per event.
#   tenants  one tenant vs TENANTS tenants, 64 clients, closed loop
#   latency  p99 at half the max single-event rate (open loop); serve's RSS
#   e2e      event -> signed webhook at each of E2E_RATES events/s on a
#            drained queue, CPU per delivered event (PostgreSQL + serve + work);
#            before each rate, two floors at that rate: pgbench running
#            e2e-floor.sql with one client (the least PostgreSQL does per
#            delivered event), and db/bench/floor (built with go): SignalOps'
#            shape — schema, pool, River, serve and work in their groups —
#            without its application work
#   keepup   2,000 events/s in for DURATION with work running, 10 rules per event
#   drain    work draining DRAIN_EVENTS events that match no rule: CPU per event
#   deliver  work draining DELIVER_EVENTS events that fire one webhook each:
#            CPU per delivery
#   eval     work draining EVAL_EVENTS events with 10 rules each (throughput)
#   noisy    tenant A floods until NOISY_BACKLOG event.process jobs are queued
#            while tenant B sends 50 events/s, each one signed webhook: B's
#            latency and A's backlog
#   hostile  issue 12's template attacks, replayed: ROUNDS rounds, alternated,
#            of B alone at HOSTILE_B_RATE (50) events/s (bench e2e) and of B
#            while tenant A sends HOSTILE_RATE (10) hostile events/s (~140 KB,
#            three budget-exhausting actions each; bench noisy
#            --flood-hostile) and while A sends the same events to a rule
#            without them (the control: what the payloads cost): B's
#            latency, /healthz of serve and work probed every 100 ms, their
#            peak RSS
#
# Settings (environment):
#   DURATION   seconds per load step (10; SHORT: 2)
#   ROUNDS     rounds of the ingest step (3; SHORT: 1)
#   TENANTS    tenants of the tenants step (64; SHORT: 4)
#   E2E_RATES  events/s of the e2e step ("50 200"; SHORT: "50")
#   E2E_RETAINED  completed jobs in river_job before each e2e rate (0): a
#              day's worth at that rate is River's steady state
#   E2E_FLOORS=0  leave out the two floors the e2e step measures
#   DRAIN_EVENTS, DELIVER_EVENTS, EVAL_EVENTS  backlogs (50000, 20000, 50000)
#   NOISY_BACKLOG (10000), NOISY_RATE (50), NOISY_FLOOD_CONCURRENCY (4: A's
#              batch requests in flight), NOISY_FIRE=1: A's events fire a
#              webhook too
#   PROFILE=1  profile instead of measuring: pg_stat_statements and
#              auto_explain (plans of statements over AUTO_EXPLAIN_MS, 50)
#              in the cluster, top statements per step, and CPU profiles
#              and allocations of serve (ingest: serve-ingest,
#              serve-batch, …-allocs; e2e) and CPU profiles of work (e2e,
#              drain, deliver) into OUT. The
#              extensions cost CPU: compare figures of profiled runs only
#              with each other.
#   OUT        directory for results.json, the logs and profiles; default a
#              temporary one, removed at the end unless PROFILE=1 or KEEP=1
#   PGBIN      PostgreSQL binaries (/usr/lib/postgresql/15/bin); PGPORT and
#              HTTP_PORT default to free ports
#
# Needs: PGBIN with initdb, pg_ctl and pgbench, psql, python3, curl; as
# root, the postgres user (initdb refuses to run as root) and write access
# to the cgroup hierarchy (without it the CPU columns stay empty).
set -Eeuo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:-./signalops}")
[ -x "$bin" ] || { echo "suite: $bin is not an executable (go build -o signalops .)" >&2; exit 2; }

if [ "${SHORT:-}" = 1 ]; then
  DURATION=${DURATION:-2} ROUNDS=${ROUNDS:-1} TENANTS=${TENANTS:-4} E2E_RATES=${E2E_RATES:-50}
  DRAIN_EVENTS=${DRAIN_EVENTS:-2000} DELIVER_EVENTS=${DELIVER_EVENTS:-1000} EVAL_EVENTS=${EVAL_EVENTS:-2000}
  NOISY_BACKLOG=${NOISY_BACKLOG:-500} KEEPUP_RATE=${KEEPUP_RATE:-200} HOSTILE_RATE=${HOSTILE_RATE:-2}
fi
DURATION=${DURATION:-10} ROUNDS=${ROUNDS:-3} TENANTS=${TENANTS:-64} E2E_RATES=${E2E_RATES:-50 200}
DRAIN_EVENTS=${DRAIN_EVENTS:-50000} DELIVER_EVENTS=${DELIVER_EVENTS:-20000} EVAL_EVENTS=${EVAL_EVENTS:-50000}
NOISY_BACKLOG=${NOISY_BACKLOG:-10000} NOISY_RATE=${NOISY_RATE:-50} KEEPUP_RATE=${KEEPUP_RATE:-2000}
HOSTILE_RATE=${HOSTILE_RATE:-10} HOSTILE_B_RATE=${HOSTILE_B_RATE:-50}
STEPS=${STEPS:-ingest,tenants,latency,e2e,keepup,drain,deliver,eval,noisy,hostile}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
for s in ${STEPS//,/ }; do
  case $s in ingest | tenants | latency | e2e | keepup | drain | deliver | eval | noisy | hostile) ;;
  *) echo "suite: unknown step '$s' in STEPS" >&2; exit 2 ;;
  esac
done
want() { [[ ",$STEPS," == *",$1,"* ]]; }
# free_port: a port nobody listens on, below the ephemeral range (32768+),
# so no outgoing connection can be holding it when a server binds it.
free_port() {
  python3 -c 'import random, socket
for _ in range(1000):
    p = random.randrange(20000, 32000)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); s.close()
    except OSError:
        continue
    c = socket.socket(); c.settimeout(0.2)
    try:
        c.connect(("127.0.0.1", p)); c.close(); continue  # something answers there
    except OSError:
        print(p); break'
}
PGPORT=${PGPORT:-$(free_port)}
HTTP_PORT=${HTTP_PORT:-$(free_port)}
METRICS_PORT=${METRICS_PORT:-$(free_port)}

keep=${KEEP:-}
[ "${PROFILE:-}" = 1 ] && keep=1
if [ -n "${OUT:-}" ]; then mkdir -p "$OUT"; keep=1; else OUT=$(mktemp -d /tmp/signalops-bench.XXXXXX); fi
out=$(realpath "$OUT")
pgdir=$(mktemp -d /tmp/signalops-bench-pg.XXXXXX)
asuser=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$pgdir"
  asuser=(runuser -u postgres --)
fi

# Control groups: v1 cpuacct where mounted, else the v2 hierarchy.
cg_root="" cg_file=""
if [ -w /sys/fs/cgroup/cpuacct ] && [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]; then
  cg_root=/sys/fs/cgroup/cpuacct/signalops-bench-$$ cg_file=cpuacct.usage
elif [ -w /sys/fs/cgroup ] && [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  cg_root=/sys/fs/cgroup/signalops-bench-$$ cg_file=cpu.stat
fi
if [ -n "$cg_root" ] && ! mkdir -p "$cg_root/pg" "$cg_root/serve" "$cg_root/work" 2>/dev/null; then cg_root=""; fi
[ -n "$cg_root" ] || echo "suite: no writable cgroup hierarchy: CPU figures are left out" >&2
# cg_exec GROUP CMD…: replace this (sub)shell with CMD inside GROUP; its
# children stay there. Call it in ( … ) so the pid is the command's.
cg_exec() {
  local g=$1; shift
  trap - ERR
  if [ -n "$cg_root" ]; then
    exec bash -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg_root/$g" "$@"
  fi
  exec "$@"
}
# cg_ns GROUP: CPU nanoseconds charged to GROUP so far (0 without cgroups).
cg_ns() {
  if [ -z "$cg_root" ]; then echo 0
  elif [ "$cg_file" = cpuacct.usage ]; then cat "$cg_root/$1/cpuacct.usage"
  else awk '/^usage_usec/ {print $2 * 1000}' "$cg_root/$1/cpu.stat"; fi
}
cg_args() { # --cgroup flags for the named groups
  [ -n "$cg_root" ] || return 0
  for g in "$@"; do printf -- '--cgroup\n%s=%s\n' "$g" "$cg_root/$g"; done
}
mapfile -t cg_ingest < <(cg_args pg serve)
mapfile -t cg_all < <(cg_args pg serve work)
mapfile -t cg_drain < <(cg_args pg work)

db=signalops_bench
url=http://127.0.0.1:$HTTP_PORT
pgadmin="postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/$db?sslmode=disable"
export JWT_SECRET=bench-jwt-secret-0123456789abcdef0123456789
SECRET_KEY=$(head -c 32 /dev/urandom | base64)
export SECRET_KEY
export ADMIN_TOKEN=bench-admin-token-0123456789abcdef
export WEBHOOK_ALLOW_PRIVATE=true LOG_LEVEL=warn HTTP_ADDR=127.0.0.1:$HTTP_PORT METRICS_ADDR=127.0.0.1:$METRICS_PORT

serve_pid="" work_pid=""
cleanup() {
  set +eE
  trap - ERR
  for p in $(jobs -p); do kill "$p" 2>/dev/null; done # serve, work, a bench run
  wait 2>/dev/null
  if [ -f "$pgdir/data/postmaster.pid" ]; then
    "${asuser[@]}" "$PGBIN/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  cp "$pgdir/postgres.log" "$out/" 2>/dev/null || true
  rm -rf "$pgdir"
  if [ -n "$cg_root" ]; then rmdir "$cg_root"/pg "$cg_root"/serve "$cg_root"/work "$cg_root" 2>/dev/null || true; fi
  if [ -z "$keep" ]; then rm -rf "$out"; else echo "suite: results, logs and profiles in $out"; fi
}
trap cleanup EXIT
trap 'echo "suite: failed at line $LINENO; process logs:" >&2; tail -n 5 "$out"/*.log "$out"/*.err >&2 2>/dev/null' ERR

jfield() { python3 -c 'import json,sys
v = json.loads(sys.argv[1])
for k in sys.argv[2:]: v = v[k]
print(v)' "$@"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
record() { # record STEP JSON: one line of results
  python3 -c 'import json,sys; d=json.loads(sys.argv[2]); d["step"]=sys.argv[1]; print(json.dumps(d))' "$1" "$2" >>"$out/results.jsonl"
}
sql() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }

echo "== private PostgreSQL: initdb in $pgdir, port $PGPORT; machine load: $(loadavg) on $(nproc) CPUs"
"${asuser[@]}" "$PGBIN/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --no-locale >"$out/initdb.log"
pgopts="-p $PGPORT -k $pgdir -c listen_addresses=127.0.0.1"
if [ "${PROFILE:-}" = 1 ]; then
  pgopts="$pgopts -c shared_preload_libraries=pg_stat_statements,auto_explain -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on"
  pgopts="$pgopts -c auto_explain.log_min_duration=${AUTO_EXPLAIN_MS:-50} -c auto_explain.log_nested_statements=on"
fi
(cg_exec pg "${asuser[@]}" "$PGBIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/postgres.log" -w -o "$pgopts" start >/dev/null)
psql "$pgadmin" -Xq -c "CREATE DATABASE $db"
"$bin" migrate up >"$out/migrate.log" 2>&1
if [ "${PROFILE:-}" = 1 ]; then sql -c "CREATE EXTENSION pg_stat_statements"; fi

seed=$("$bin" seed tenant --slug bench --name Bench --plan enterprise --owner-email owner@bench.test \
  --owner-password bench-password-123 --json)
KEY=$(jfield "$seed" apiKey)
TENANT_ID=$(jfield "$seed" tenantId)

# start_proc NAME READYZ: run `signalops NAME` in its control group, logging
# to $out/NAME.log, with its pid in NAME_pid, and wait until READYZ answers.
start_proc() {
  (cg_exec "$1" "$bin" "$1") >>"$out/$1.log" 2>&1 &
  printf -v "$1_pid" %s $!
  local pid=$!
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    curl -fs "$2" >/dev/null && return
    sleep 0.1
  done
  echo "$1 did not start:" >&2; tail -n 3 "$out/$1.log" >&2; exit 1
}
# stop_proc NAME: stop what start_proc NAME started.
stop_proc() {
  local var="$1_pid"
  kill "${!var}" 2>/dev/null || true; wait "${!var}" 2>/dev/null || true; printf -v "$var" %s ""
}
start_serve() { start_proc serve "$url/readyz"; }
stop_serve() { stop_proc serve; }
start_work() { start_proc work "http://127.0.0.1:$METRICS_PORT/readyz"; }
stop_work() { stop_proc work; }
# idle: no client backends left in the database (their statistics are
# flushed when they exit).
idle() {
  for _ in $(seq 1 100); do
    [ "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()")" = 0 ] && return
    sleep 0.1
  done
}
# settle: drop what earlier steps stored and let PostgreSQL catch up
# (vacuum, checkpoint), so a step does not pay for the previous one's rows.
settle() {
  sql -c "TRUNCATE events, event_idempotency, rule_matches, deliveries, delivery_attempts, river_job" \
    -c "VACUUM ANALYZE" -c "CHECKPOINT"
}
pgstats() { sql -F' ' -c "SELECT (SELECT wal_records FROM pg_stat_wal), blks_hit, xact_commit FROM pg_stat_database WHERE datname = current_database()"; }
pgss_reset() { [ "${PROFILE:-}" = 1 ] && sql -c "SELECT pg_stat_statements_reset()" >/dev/null || true; }
pgss_dump() { # top statements by total time since the last reset
  [ "${PROFILE:-}" = 1 ] || return 0
  psql "$DATABASE_URL" -Xq -P pager=off -c "SELECT calls, round(total_exec_time::numeric, 1) AS total_ms,
      round(mean_exec_time::numeric, 3) AS mean_ms, round(total_plan_time::numeric, 1) AS plan_ms, rows,
      shared_blks_hit AS hits, wal_records, left(regexp_replace(query, '\s+', ' ', 'g'), 160) AS query
    FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT 30" >"$out/pgss-$1.txt"
}
# pprof_during NAME URL SECONDS [KIND]: a CPU profile (or KIND, a delta
# profile such as allocs), in the background.
pprof_pids=()
pprof_during() {
  [ "${PROFILE:-}" = 1 ] || return 0
  curl -fs -H "Authorization: Bearer $ADMIN_TOKEN" "$2/debug/pprof/${4:-profile}?seconds=$3" -o "$out/$1.pprof" &
  pprof_pids+=($!)
}
b() { "$bin" bench "$@" --url "$url" --json 2>>"$out/bench.err" | tail -1; }

# --- ingest: CPU per event against pgbench, rounds alternated -------------
# measure_pgbench KIND ROUND: pgbench inserting KIND's rows; one JSON line.
measure_pgbench() {
  local kind=$1 round=$2 script clients per
  if [ "$kind" = single ]; then script=one-event.sql clients=16 per=1; else script=hundred-events.sql clients=4 per=100; fi
  sed "s/TENANT_ID/$TENANT_ID/g" "$here/$script" >"$out/pgbench.sql"
  settle
  pgss_reset
  local s0 c0 s1 c1 txs
  s0=$(pgstats) c0=$(cg_ns pg)
  txs=$(pgbench "$DATABASE_URL" -n -f "$out/pgbench.sql" -c "$clients" -j "$clients" -T "$DURATION" 2>>"$out/pgbench.err" |
    awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]}')
  c1=$(cg_ns pg)
  idle
  s1=$(pgstats)
  pgss_dump "ingest-$kind-pgbench-$round"
  python3 - "$kind" "$round" "$clients" "$((txs * per))" "$DURATION" "$s0" "$s1" "$c0" "$c1" <<'PY'
import json, sys
kind, rnd, clients, events, dur = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
s0, s1 = [list(map(int, x.split())) for x in sys.argv[6:8]]
pg = (int(sys.argv[9]) - int(sys.argv[8])) / 1e3
d = [b - a for a, b in zip(s0, s1)]
print(json.dumps({"who": "pgbench", "kind": kind, "round": rnd, "clients": clients, "events": events,
  "events_per_s": events / dur, "pg_us": pg / events if pg and events else None,
  "wal": d[0] / events, "hits": d[1] / events, "commits": d[2] / events}))
PY
}
# measure_signalops KIND ROUND: bench ingest (single) or batch, a fresh serve.
# The key's rate limit is lifted: at the enterprise plan's 5,000 requests/s
# a quiet machine got 429s, and refused requests cost serve CPU while
# counting no event.
measure_signalops() {
  local kind=$1 round=$2 s0 s1 rep
  settle
  pgss_reset
  INGEST_RATE_LIMIT=1000000 INGEST_RATE_BURST=10000000 start_serve
  s0=$(pgstats)
  if [ "$round" = 1 ]; then
    local name=serve-ingest
    [ "$kind" = single ] || name=serve-batch
    pprof_during "$name" "$url" "$DURATION"
    pprof_during "$name-allocs" "$url" "$DURATION" allocs
  fi
  if [ "$kind" = single ]; then
    rep=$(b ingest --key "$KEY" --concurrency 32 --warmup 0 --duration "${DURATION}s" "${cg_ingest[@]}")
  else
    rep=$(b batch --key "$KEY" --n 100 --concurrency 4 --warmup 0 --duration "${DURATION}s" "${cg_ingest[@]}")
  fi
  stop_serve
  idle
  s1=$(pgstats)
  pgss_dump "ingest-$kind-signalops-$round"
  python3 - "$kind" "$round" "$rep" "$s0" "$s1" <<'PY'
import json, sys
kind, rnd, rep = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
s0, s1 = [list(map(int, x.split())) for x in sys.argv[4:6]]
d = [b - a for a, b in zip(s0, s1)]
n = rep["events"]
cpu = rep.get("cpu_us_per_event") or {}
print(json.dumps({"who": "signalops", "kind": kind, "round": rnd, "clients": rep["concurrency"], "events": n,
  "events_per_s": rep["events_per_s"], "pg_us": cpu.get("pg"), "serve_us": cpu.get("serve"),
  "wal": d[0] / n, "hits": d[1] / n, "commits": d[2] / n, "errors": rep["errors"],
  "p50_ms": rep["p50_ms"], "p99_ms": rep["p99_ms"]}))
PY
}
if want ingest; then
  echo "== ingest: CPU per event against pgbench, $ROUNDS rounds of ${DURATION}s each, alternated"
  for r in $(seq 1 "$ROUNDS"); do
    for kind in single batch; do
      if [ $((r % 2)) = 1 ]; then order="pgbench signalops"; else order="signalops pgbench"; fi
      for who in $order; do
        "measure_$who" "$kind" "$r" >"$out/measure.json" # not in $(…): serve must stay this shell's child
        line=$(tail -1 "$out/measure.json")
        echo "   round $r $kind $who: $line"
        record ingest "$line"
      done
    done
  done
fi

# --- tenants and latency (serve only) --------------------------------------
max_rate=0
if want tenants; then
  echo "== one tenant vs $TENANTS tenants, 64 clients"
  keys=$KEY
  for i in $(seq 2 "$TENANTS"); do
    keys="$keys,$(jfield "$("$bin" seed tenant --slug "bench$i" --name "Bench $i" --plan enterprise --json)" apiKey)"
  done
  settle
  # One key carries all of the first measurement: lift its rate limit, or
  # the plan's 5,000 requests/s caps the one tenant and not the 64.
  INGEST_RATE_LIMIT=1000000 INGEST_RATE_BURST=10000000 start_serve
  one=$(b ingest --key "$KEY" --concurrency 64 --duration "${DURATION}s" "${cg_ingest[@]}")
  settle
  many=$(b ingest --keys "$keys" --concurrency 64 --duration "${DURATION}s" "${cg_ingest[@]}")
  stop_serve
  record tenants "{\"one\": $one, \"many\": $many, \"tenants\": $TENANTS}"
  max_rate=$(python3 -c "import json,sys; print(int(max(json.loads(sys.argv[1])['events_per_s'], json.loads(sys.argv[2])['events_per_s'])))" "$one" "$many")
fi
if want latency; then
  settle
  INGEST_RATE_LIMIT=1000000 INGEST_RATE_BURST=10000000 start_serve
  if [ "$max_rate" = 0 ]; then
    max_rate=$(jfield "$(b ingest --key "$KEY" --concurrency 64 --duration "${DURATION}s")" events_per_s | cut -d. -f1)
    settle
  fi
  echo "== p99 at half the max rate: $((max_rate / 2)) events/s, open loop"
  half=$(b ingest --key "$KEY" --rate $((max_rate / 2)) --concurrency 256 --duration "${DURATION}s")
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$serve_pid/status")
  stop_serve
  record latency "{\"half\": $half, \"max_rate\": $max_rate, \"rss_kb\": $rss_kb}"
fi

# --- with work -------------------------------------------------------------
TOKEN=""
login() {
  [ -n "$TOKEN" ] && return
  TOKEN=$(curl -fs -XPOST "$url/api/auth/login" -H 'content-type: application/json' \
    -d '{"email":"owner@bench.test","password":"bench-password-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
}
# floor_rows: a rule and a channel for the floors' rows to point at
# (foreign keys), in floor_rule and floor_channel.
floor_rows() {
  local ids
  ids=$(sql -c "INSERT INTO rules (id, tenant_id, name, version) VALUES (gen_random_uuid(), '$TENANT_ID', 'floor', 1) RETURNING id" \
    -c "INSERT INTO channels (id, tenant_id, name, kind, config, secrets) VALUES (gen_random_uuid(), '$TENANT_ID', 'floor', 'webhook', '{}', '') RETURNING id" | tr '\n' ' ')
  read -r floor_rule floor_channel <<<"$ids"
}
floor_rows_drop() {
  sql -c "DELETE FROM rules WHERE id = '$floor_rule'" -c "DELETE FROM deliveries WHERE channel_id = '$floor_channel'" \
    -c "DELETE FROM channels WHERE id = '$floor_channel'"
}
# measure_floor RATE: pgbench at RATE transactions/s, one client, running
# e2e-floor.sql (the least PostgreSQL does for one delivered event in the
# spec's shape, no process woken between steps); one JSON line.
measure_floor() {
  local rate=$1 c0 c1 txs
  settle
  floor_rows
  sed -e "s/TENANT_ID/$TENANT_ID/g" -e "s/RULE_ID/$floor_rule/g" -e "s/CHANNEL_ID/$floor_channel/g" "$here/e2e-floor.sql" >"$out/pgbench-floor.sql"
  pgss_reset
  c0=$(cg_ns pg)
  txs=$(pgbench "$DATABASE_URL" -n -M prepared -f "$out/pgbench-floor.sql" -c 1 -j 1 -R "$rate" -T "$DURATION" 2>>"$out/pgbench.err" |
    awk -F': ' '/number of transactions actually processed/ {split($2, a, "/"); print a[1]}')
  c1=$(cg_ns pg)
  idle
  pgss_dump "e2e-floor-$rate"
  floor_rows_drop
  python3 -c 'import json,sys; r,n,c0,c1=float(sys.argv[1]),int(sys.argv[2]),int(sys.argv[3]),int(sys.argv[4]); print(json.dumps({"rate": r, "events": n, "pg_us": (c1-c0)/1e3/n if n and c1>c0 else None}))' \
    "$rate" "${txs:-0}" "$c0" "$c1"
}
# measure_pipeline_floor RATE: db/bench/floor (the same schema, pool, River
# and process split as SignalOps, none of its application work) at RATE
# events/s, its serve and work in the serve and work groups; one JSON line.
floor_bin=""
measure_pipeline_floor() {
  local rate=$1 fport fready hport spid wpid r
  if [ -z "$floor_bin" ]; then
    floor_bin="$out/floor"
    (cd "$here/../.." && go build -o "$floor_bin" ./db/bench/floor) >>"$out/bench.err" 2>&1 || { floor_bin=none; }
  fi
  [ "$floor_bin" != none ] || { echo '{"skipped": "go build ./db/bench/floor failed or no go"}'; return; }
  settle
  floor_rows
  fport=$(free_port) fready=$(free_port) hport=$(free_port)
  (cg_exec serve "$floor_bin" serve --listen "127.0.0.1:$fport" --tenant "$TENANT_ID") >>"$out/floor-serve.log" 2>&1 &
  spid=$!
  (cg_exec work "$floor_bin" work --hook "http://127.0.0.1:$hport/hook" --ready "127.0.0.1:$fready" \
    --tenant "$TENANT_ID" --rule "$floor_rule" --channel "$floor_channel") >>"$out/floor-work.log" 2>&1 &
  wpid=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$fport/readyz" >/dev/null && curl -fs "http://127.0.0.1:$fready/readyz" >/dev/null && break
    sleep 0.1
  done
  r=$("$floor_bin" load --url "http://127.0.0.1:$fport" --hook-listen "127.0.0.1:$hport" --rate "$rate" \
    --duration "${DURATION}s" "${cg_all[@]}" 2>>"$out/bench.err")
  kill "$spid" "$wpid" 2>/dev/null || true; wait "$spid" "$wpid" 2>/dev/null || true
  idle
  floor_rows_drop
  echo "$r"
}

# retain N: N completed jobs in river_job, half event.process and half
# notify.deliver, as River keeps them (CompletedJobRetentionPeriod, 24 h):
# the steady state of a running system rather than an empty table.
retain() {
  [ "${1:-0}" -gt 0 ] || return 0
  sql -c "INSERT INTO river_job (args, kind, max_attempts, queue, state, priority, scheduled_at, attempt, attempted_at, finalized_at, created_at)
    SELECT '{}', CASE WHEN g % 2 = 0 THEN 'event.process' ELSE 'notify.deliver' END, 25,
      CASE WHEN g % 2 = 0 THEN 'events' ELSE 'notify' END, 'completed', 1, t, 1, t, t, t
    FROM generate_series(1, $1) g, LATERAL (SELECT now() - (g * interval '1 ms') * (86400000.0 / $1) AS t) x" \
    -c "VACUUM ANALYZE river_job"
}

if want e2e; then
  for rate in $E2E_RATES; do
    if [ "${E2E_FLOORS:-1}" = 1 ]; then
      echo "== pgbench floor at $rate events/s: the least PostgreSQL does per delivered event, one client"
      record e2e-floor "$(measure_floor "$rate")"
      echo "== pipeline floor at $rate events/s: db/bench/floor, SignalOps' shape without its application work"
      record e2e-pipeline-floor "$(measure_pipeline_floor "$rate")"
    fi
    echo "== event -> signed webhook at $rate events/s, drained queue: latency and CPU per delivered event"
    settle
    retain "${E2E_RETAINED:-0}"
    pgss_reset
    start_serve
    start_work
    login
    pprof_during "serve-e2e-$rate" "$url" "$DURATION"
    pprof_during "work-e2e-$rate" "http://127.0.0.1:$METRICS_PORT" "$DURATION"
    e2e=$(b e2e --key "$KEY" --token "$TOKEN" --rate "$rate" --duration "${DURATION}s" --concurrency 64 "${cg_all[@]}")
    stop_work
    stop_serve
    pgss_dump "e2e-$rate"
    record e2e "$e2e"
  done
fi

if want keepup; then
  echo "== workers keep up: $KEEPUP_RATE events/s for ${DURATION}s with 10 rules per event, serve and work running"
  settle
  start_serve
  login
  api() { curl -fs -XPOST "$url/api/$1" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$2"; }
  channel=$(api channels '{"name":"keep-up","kind":"webhook","config":{"url":"http://127.0.0.1:9/hook"},"secrets":{}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  rule_ids=()
  for k in $(seq 1 10); do # evaluated for every event, never true: no deliveries
    rule_ids+=("$(api rules "{\"name\":\"keep-up $k\",\"definition\":{\"match\":{\"type\":\"bench.event\",\"all\":[{\"field\":\"payload.i\",\"op\":\"lt\",\"value\":-$k}]},\"actions\":[{\"channelId\":\"$channel\",\"template\":\"x\"}]}}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
  done
  start_work
  b ingest --key "$KEY" --rate "$KEEPUP_RATE" --concurrency 256 --duration "${DURATION}s" >"$out/keepup.json" &
  load=$!
  peak=0
  while kill -0 "$load" 2>/dev/null; do
    n=$(sql -c "SELECT count(*) FROM events WHERE status = 'accepted'")
    [ "$n" -gt "$peak" ] && peak=$n
    sleep 1
  done
  wait "$load"
  sleep 2
  final=$(sql -c "SELECT count(*) FROM events WHERE status = 'accepted'")
  total=$(sql -c "SELECT count(*) FROM events")
  stop_work
  for id in "${rule_ids[@]}"; do curl -fs -XDELETE "$url/api/rules/$id" -H "authorization: Bearer $TOKEN" >/dev/null; done
  curl -fs -XDELETE "$url/api/channels/$channel" -H "authorization: Bearer $TOKEN" >/dev/null
  stop_serve
  record keepup "{\"peak\": $peak, \"final\": $final, \"total\": $total, \"rate\": $KEEPUP_RATE, \"load\": $(tail -1 "$out/keepup.json")}"
fi

# drain NAME ARGS…: load a backlog with serve alone, then start work and
# let bench drain time it; CPU counts from "backlog loaded" on.
drain() {
  local name=$1 rc=0; shift
  settle
  pgss_reset
  start_serve
  login
  : >"$out/$name.err"
  "$bin" bench drain --url "$url" --key "$KEY" --token "$TOKEN" --wait 10m --json "$@" >"$out/$name.json" 2>"$out/$name.err" &
  local p=$!
  until grep -q "backlog loaded" "$out/$name.err"; do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  start_work
  pprof_during "work-$name" "http://127.0.0.1:$METRICS_PORT" "$(( DURATION < 10 ? DURATION : 10 ))"
  wait "$p" || rc=$?
  stop_work
  stop_serve
  pgss_dump "$name"
  [ "$rc" = 0 ] || { echo "suite: bench drain ($name) failed:" >&2; cat "$out/$name.err" >&2; exit 1; }
  # The exact rates, from the jobs' own times: first attempt to last
  # completion (bench drain polls, and with --rules 0 reads a gauge that
  # serve refreshes every 5 s).
  local exact
  exact=$(sql -F' ' -c "SELECT kind, count(*), extract(epoch FROM max(finalized_at) - min(attempted_at))
    FROM river_job WHERE state = 'completed' AND kind IN ('event.process', 'notify.deliver') GROUP BY kind" |
    python3 -c 'import json, sys
out = {}
for line in sys.stdin:
    kind, n, s = line.split()
    out[kind.replace(".", "_") + "_per_s"] = int(n) / float(s) if float(s) > 0 else None
print(json.dumps(out))')
  record "$name" "$(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["exact"] = json.loads(sys.argv[2]); print(json.dumps(d))' "$(tail -1 "$out/$name.json")" "$exact")"
}
if want drain; then
  echo "== work drains $DRAIN_EVENTS events that match no rule: CPU per event"
  drain drain --events "$DRAIN_EVENTS" --rules 0 "${cg_drain[@]}"
fi
if want deliver; then
  echo "== work drains $DELIVER_EVENTS events firing one webhook each: CPU per delivery"
  drain deliver --events "$DELIVER_EVENTS" --rules 1 --deliver "${cg_drain[@]}"
fi
if want eval; then
  echo "== work drains $EVAL_EVENTS events with 10 rules each"
  drain eval --events "$EVAL_EVENTS" --rules 10 "${cg_drain[@]}"
fi

if want noisy; then
  echo "== noisy neighbour: A floods to $NOISY_BACKLOG queued jobs, B sends $NOISY_RATE events/s with a webhook each"
  settle
  start_serve
  start_work
  fire=()
  [ "${NOISY_FIRE:-}" = 1 ] && fire=(--flood-fire)
  b noisy --admin-token "$ADMIN_TOKEN" --rate "$NOISY_RATE" --duration "${DURATION}s" --backlog "$NOISY_BACKLOG" \
    --flood-concurrency "${NOISY_FLOOD_CONCURRENCY:-4}" --wait 5m "${fire[@]}" >"$out/noisy.json" &
  load=$!
  # Per tenant, exactly (the bench reads serve's gauge, all tenants, at
  # most every 5 s): the largest and second-largest queue of event.process.
  : >"$out/noisy-backlog.txt"
  while kill -0 "$load" 2>/dev/null; do
    sql -F' ' -c "SELECT coalesce(max(n), 0), coalesce(min(n) FILTER (WHERE r = 2), 0) FROM (
        SELECT count(*) AS n, row_number() OVER (ORDER BY count(*) DESC) AS r FROM river_job
        WHERE kind = 'event.process' AND state IN ('available', 'scheduled', 'retryable', 'pending')
        GROUP BY args->>'tenant_id') t" >>"$out/noisy-backlog.txt" || true
    sleep 1
  done
  wait "$load"
  stop_work
  stop_serve
  sampled=$(python3 -c 'import json, sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
print(json.dumps({"a_peak": max([r[0] for r in rows], default=0), "b_peak": max([r[1] for r in rows], default=0)}))' "$out/noisy-backlog.txt")
  record noisy "{\"bench\": $(tail -1 "$out/noisy.json"), \"sql\": $sampled}"
fi

if want hostile; then
  echo "== hostile templates: B at $HOSTILE_B_RATE events/s alone, and while A sends $HOSTILE_RATE hostile events/s ($ROUNDS rounds, alternated)"
  peak_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
  for round in $(seq 1 "$ROUNDS"); do
    order="quiet attack control"
    [ $((round % 2)) = 0 ] && order="control attack quiet"
    for kind in $order; do
      settle
      start_serve
      start_work
      if [ "$kind" = quiet ]; then
        login
        r=$(b e2e --key "$KEY" --token "$TOKEN" --rate "$HOSTILE_B_RATE" --duration "${DURATION}s" --concurrency 64)
      else
        templates=true
        [ "$kind" = control ] && templates=false
        r=$(b noisy --admin-token "$ADMIN_TOKEN" --rate "$HOSTILE_B_RATE" --duration "${DURATION}s" --backlog 0 \
          --flood-hostile --hostile-templates=$templates --flood-rate "$HOSTILE_RATE" \
          --health-url "$url/healthz,http://127.0.0.1:$METRICS_PORT/healthz" --wait 5m)
      fi
      failed=$(sql -c "SELECT count(*) FROM deliveries WHERE status = 'failed'")
      rss="{\"serve_kb\": $(peak_kb "$serve_pid"), \"work_kb\": $(peak_kb "$work_pid"), \"failed_deliveries\": $failed}"
      alive="{\"serve\": $(kill -0 "$serve_pid" 2>/dev/null && echo true || echo false), \"work\": $(kill -0 "$work_pid" 2>/dev/null && echo true || echo false)}"
      stop_work
      stop_serve
      record hostile "{\"kind\": \"$kind\", \"round\": $round, \"bench\": $r, \"proc\": $rss, \"alive\": $alive}"
    done
  done
fi
for p in "${pprof_pids[@]}"; do wait "$p" || true; done

echo
echo "load average at the end: $(loadavg) on $(nproc) CPUs (shared machine: compare within one run)"
python3 "$here/report.py" "$out/results.jsonl" "$out/results.json"
