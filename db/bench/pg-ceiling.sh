#!/usr/bin/env bash
# Measures SignalOps' ingestion against PostgreSQL's own ceiling, side by
# side, in the same run, on the same database:
#   1. pgbench inserting the same event row + River job row, one transaction
#      per event, at the same concurrency            -> the one-commit ceiling
#   2. signalops bench ingest (single-event POSTs)    -> ratio to (1)
#   3. pgbench with 100 events + 100 jobs per transaction at 4 clients
#   4. signalops bench batch --n 100 at 4 clients     -> ratio to (3)
#
# Needs: pgbench and psql on PATH; DATABASE_URL of a migrated database;
# KEY, an API key of a tenant on the enterprise plan (no quota, high rate
# limit); a running `signalops serve` at URL (default http://127.0.0.1:3000),
# and no `work` (so workers do not compete for the CPU). The rows it adds
# are deleted at the end.
#
#   CLIENTS=32 DURATION=10 URL=http://127.0.0.1:3000 KEY=so_live_… \
#     DATABASE_URL=postgres://… db/bench/pg-ceiling.sh [path/to/signalops]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-signalops}
: "${DATABASE_URL:?set DATABASE_URL}" "${KEY:?set KEY (an API key)}"
URL=${URL:-http://127.0.0.1:3000}
CLIENTS=${CLIENTS:-32}
DURATION=${DURATION:-10}
tenant=$(psql "$DATABASE_URL" -XAtc "SELECT tenant_id FROM api_keys WHERE digest = sha256('$KEY'::bytea)")
[ -n "$tenant" ] || { echo "KEY is not a key of this database" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tps() { # pgbench script clients -> transactions per second
  sed "s/TENANT_ID/$tenant/g" "$1" >"$work/script.sql"
  pgbench "$DATABASE_URL" -n -f "$work/script.sql" -c "$2" -j "$2" -T "$DURATION" | awk '/^tps/ {print int($3)}'
}
json() { "$bin" bench "$@" --url "$URL" --key "$KEY" --duration "${DURATION}s" --json | tail -1; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "pgbench: one transaction per event, $CLIENTS clients, ${DURATION}s ..."
ceiling=$(tps "$here/one-event.sql" "$CLIENTS")
echo "signalops: single-event POSTs, $CLIENTS clients ..."
single=$(json ingest --concurrency "$CLIENTS")
echo "pgbench: 100 events per transaction, 4 clients ..."
batch_ceiling=$(( $(tps "$here/hundred-events.sql" 4) * 100 ))
echo "signalops: batches of 100, 4 clients ..."
batch=$(json batch --n 100 --concurrency 4)

psql "$DATABASE_URL" -Xqc "DELETE FROM river_job WHERE kind = 'bench.pgbench'; DELETE FROM events WHERE type = 'bench.pgbench';"

python3 - "$ceiling" "$single" "$batch_ceiling" "$batch" "$CLIENTS" <<'PY'
import json, sys
ceiling, single, bceil, batch, clients = int(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4]), sys.argv[5]
s, b = single["events_per_s"], batch["events_per_s"]
print(f"one-commit-per-event ceiling (pgbench, {clients} clients): {ceiling:,} events/s")
print(f"signalops single-event ingest ({clients} clients):        {s:,.0f} events/s  = {s/ceiling:.2f}x the ceiling"
      f"  (p50 {single['p50_ms']:.1f} ms, p99 {single['p99_ms']:.1f} ms)")
print(f"100-events-per-transaction ceiling (pgbench, 4 clients):  {bceil:,} events/s")
print(f"signalops batch ingest (n=100, 4 clients):               {b:,.0f} events/s  = {b/bceil:.2f}x the ceiling")
PY
