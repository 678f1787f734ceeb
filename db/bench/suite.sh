#!/usr/bin/env bash
# Every figure of docs/performance.md, measured in one run on this machine
# against a fresh database, printed as one table at the end.
#
#   go build -o signalops . && db/bench/suite.sh ./signalops
#
# Needs: a PostgreSQL superuser URL without a database name in PGBASE
# (default postgres://postgres@127.0.0.1:5432), pgbench, psql, python3, curl.
# It creates (and at the end drops) the database signalops_bench, starts
# its own serve (HTTP_ADDR 127.0.0.1:3400) and work processes and stops
# them on exit. DURATION (seconds, default 10) is each load step's length.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(realpath "${1:-./signalops}")
PGBASE=${PGBASE:-postgres://postgres@127.0.0.1:5432}
DURATION=${DURATION:-10}
db=signalops_bench
url=http://127.0.0.1:3400
export DATABASE_URL="$PGBASE/$db?sslmode=disable"
export JWT_SECRET=bench-jwt-secret-0123456789abcdef0123456789
export SECRET_KEY=$(head -c 32 /dev/urandom | base64)
export ADMIN_TOKEN=bench-admin-token-0123456789abcdef
export WEBHOOK_ALLOW_PRIVATE=true LOG_LEVEL=warn HTTP_ADDR=127.0.0.1:3400 METRICS_ADDR=127.0.0.1:9401

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PGBASE/postgres" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo "suite: failed at line $LINENO; process logs:" >&2; tail -n 5 "$work"/*.log "$work"/*.err >&2 2>/dev/null' ERR
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
start_serve() { "$bin" serve >"$work/serve.log" 2>&1 & serve_pid=$!; pids+=("$serve_pid")
  for _ in $(seq 1 50); do curl -fs "$url/readyz" >/dev/null && return; sleep 0.2; done; echo "serve did not start" >&2; exit 1; }
start_work() { "$bin" work "$@" >"$work/work.log" 2>&1 & work_pid=$!; pids+=("$work_pid"); sleep 1; }
stop_work() { kill "$work_pid"; wait "$work_pid" 2>/dev/null || true; }

psql "$PGBASE/postgres" -Xq -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
"$bin" migrate up >/dev/null 2>&1
seed=$("$bin" seed tenant --slug bench --name Bench --plan enterprise --owner-email owner@bench.test \
  --owner-password bench-password-123 --json)
KEY=$(field "$seed" apiKey)
keys=$KEY
for i in $(seq 2 64); do
  keys="$keys,$(field "$("$bin" seed tenant --slug "bench$i" --name "Bench $i" --plan enterprise --json)" apiKey)"
done
start_serve
TOKEN=$(curl -fs -XPOST "$url/api/auth/login" -H 'content-type: application/json' \
  -d '{"email":"owner@bench.test","password":"bench-password-123"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["accessToken"])')
b() { "$bin" bench "$@" --url "$url" --json 2>"$work/bench.err" | tail -1; }

echo "== ceiling and ingestion (serve only)"
for c in ${CEILING_CLIENTS:-32 64}; do
  CLIENTS=$c DURATION=$DURATION URL=$url KEY=$KEY "$here/pg-ceiling.sh" "$bin" | tee "$work/ceiling-$c.txt"
done
one=$(b ingest --key "$KEY" --concurrency 64 --duration "${DURATION}s")
many=$(b ingest --keys "$keys" --concurrency 64 --duration "${DURATION}s")
max_rate=$(python3 -c "import json,sys; print(int(max(json.loads(sys.argv[1])['events_per_s'], json.loads(sys.argv[2])['events_per_s'])))" "$one" "$many")

# The runs above stored ~1M rows and left their event.process jobs queued:
# drop them and let PostgreSQL settle (vacuum, checkpoint), so the latency
# steps below measure the service, not the cleanup of the benchmark's own
# rows.
settle() {
  psql "$DATABASE_URL" -Xq -c "TRUNCATE events, event_idempotency, rule_matches, deliveries, delivery_attempts, river_job" \
    -c "VACUUM ANALYZE" -c "CHECKPOINT"
}
settle
half=$(b ingest --key "$KEY" --rate $((max_rate / 2)) --concurrency 256 --duration "${DURATION}s")
rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$serve_pid/status")
settle

echo "== end to end (serve + work)"
start_work
e2e=$(b e2e --key "$KEY" --token "$TOKEN" --rate 200 --duration "${DURATION}s" --concurrency 64)
stop_work

echo "== workers keep up: 2,000 events/s for ${DURATION}s with 10 rules per event, serve and work running"
settle
api() { curl -fs -XPOST "$url/api/$1" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d "$2"; }
channel=$(api channels '{"name":"keep-up","kind":"webhook","config":{"url":"http://127.0.0.1:9/hook"},"secrets":{}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
rule_ids=()
for k in $(seq 1 10); do # evaluated for every event, never true: no deliveries
  rule_ids+=("$(api rules "{\"name\":\"keep-up $k\",\"definition\":{\"match\":{\"type\":\"bench.event\",\"all\":[{\"field\":\"payload.i\",\"op\":\"lt\",\"value\":-$k}]},\"actions\":[{\"channelId\":\"$channel\",\"template\":\"x\"}]}}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')")
done
start_work
b ingest --key "$KEY" --rate 2000 --concurrency 256 --duration "${DURATION}s" >"$work/keepup.json" &
load=$!
peak=0
while kill -0 "$load" 2>/dev/null; do
  n=$(psql "$DATABASE_URL" -XAtc "SELECT count(*) FROM events WHERE status = 'accepted'")
  [ "$n" -gt "$peak" ] && peak=$n
  sleep 1
done
wait "$load"
sleep 2
keepup_final=$(psql "$DATABASE_URL" -XAtc "SELECT count(*) FROM events WHERE status = 'accepted'")
keepup_total=$(psql "$DATABASE_URL" -XAtc "SELECT count(*) FROM events")
keepup="{\"peak\":$peak,\"final\":$keepup_final,\"total\":$keepup_total}"
stop_work
for id in "${rule_ids[@]}"; do curl -fs -XDELETE "$url/api/rules/$id" -H "authorization: Bearer $TOKEN" >/dev/null; done
settle

echo "== worker throughput: a backlog loaded first, then work started"
drain() {
  "$bin" bench drain --url "$url" --key "$KEY" --token "$TOKEN" --events "$1" --rules 10 --wait 5m --json "${@:2}" \
    >"$work/drain.json" 2>"$work/drain.err" &
  local p=$!
  until grep -q "backlog loaded" "$work/drain.err" 2>/dev/null; do kill -0 $p 2>/dev/null || break; sleep 0.2; done
  start_work
  wait $p
  stop_work
  tail -1 "$work/drain.json"
}
drain_eval=$(drain 50000)
drain_deliver=$(drain 20000 --deliver)

python3 - "$work" "$one" "$many" "$half" "$max_rate" "$rss_kb" "$e2e" "$drain_eval" "$drain_deliver" "$keepup" <<'PY'
import json, os, re, sys
work = sys.argv[1]
one, many, half = (json.loads(x) for x in sys.argv[2:5])
max_rate, rss_kb = int(sys.argv[5]), int(sys.argv[6])
e2e, de, dd, ku = (json.loads(x) for x in sys.argv[7:11])
rows = []
for c in (32, 64):
    if not os.path.exists(f"{work}/ceiling-{c}.txt"):
        continue
    t = open(f"{work}/ceiling-{c}.txt").read()
    ceil = int(re.search(r"ceiling \(pgbench, \d+ clients\): ([\d,]+)", t).group(1).replace(",", ""))
    m = re.search(r"ingest \(\d+ clients\):\s+([\d,]+) events/s\s+= ([\d.]+)x", t)
    rows.append((f"single-event ingest, {c} clients", f"{m.group(1)}/s", f"{m.group(2)}x of {ceil:,}/s (pgbench, 1 commit/event)", "≥ 2x"))
    bc = int(re.search(r"100-events-per-transaction ceiling \(pgbench, 4 clients\):\s+([\d,]+)", t).group(1).replace(",", ""))
    bm = re.search(r"batch ingest \(n=100, 4 clients\):\s+([\d,]+) events/s\s+= ([\d.]+)x", t)
    rows.append((f"batch ingest n=100, 4 clients (run {c})", f"{bm.group(1)}/s", f"{bm.group(2)}x of {bc:,}/s (pgbench, 100/tx)", "≥ 0.6x"))
rows.append(("1 tenant vs 64 tenants, 64 clients", f"{one['events_per_s']:,.0f}/s vs {many['events_per_s']:,.0f}/s",
             f"{one['events_per_s']/many['events_per_s']:.2f}x", "≥ 0.85x"))
rows.append((f"p99 at half the max rate ({max_rate//2:,}/s open loop)", f"p50 {half['p50_ms']} ms, p99 {half['p99_ms']} ms",
             f"{half['events_per_s']:,.0f}/s served, {half['dropped']} dropped", "p99 < 25 ms"))
rows.append(("e2e event → signed webhook at 200/s", f"p50 {e2e['p50_ms']} ms, p99 {e2e['p99_ms']} ms",
             f"{e2e['delivered']} delivered, {e2e['missing']} missing, {e2e['duplicates']} dup", "p50 < 30, p99 < 200 ms"))
rows.append(("keep up: 2,000 events/s in, work running, 10 rules", f"backlog peak {ku['peak']}, {ku['final']} left 2 s after",
             f"{ku['total']} events", "no backlog growth"))
rows.append(("workers, 10 rules/event, no delivery", f"{de['processed_per_s']:,.0f} events/s", f"{de['processed']} of {de['events']}", "≥ 2,000/s"))
rows.append(("workers, 10 rules + 1 webhook/event", f"{dd['processed_per_s']:,.0f} events/s, {dd['delivered_per_s']:,.0f} webhooks/s",
             f"{dd['delivered']} of {dd['events']} delivered", "(≥ 2,000/s)"))
rows.append(("serve peak RSS (VmHWM) after the ingest runs", f"{rss_kb/1024:.0f} MB", "", "< 150 MB"))
w = [max(len(r[i]) for r in rows) for i in range(4)]
print()
for r in [("figure", "measured", "ratio / detail", "target")] + rows:
    print(" | ".join(s.ljust(w[i]) for i, s in enumerate(r)))
PY
