#!/usr/bin/env bash
# Runs both clients' examples and tests against a real `serve`:
# builds the binary, creates a fresh database on TEST_DATABASE_URL's server,
# migrates it, seeds a tenant (API key + owner), serves on a free loopback
# port, then runs
#   clients/go:          go run ./examples/ingest; go test ./...
#   clients/typescript:  npm run build; npm run example; npm test (node --test)
# and drops the database again. Used by .ci/run and `task clients:e2e`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

url="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
db="signalops_clients_$$_$RANDOM"
base=${url%%\?*}
query=${url#"$base"}
database_url="${base%/*}/$db$query"

work=$(mktemp -d)
serve_pid=
cleanup() {
  if [ -n "$serve_pid" ]; then
    kill "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  psql "$url" -X -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "clients: building signalops, database $db"
go build -o "$work/signalops" .
psql "$url" -X -q -v ON_ERROR_STOP=1 -c "CREATE DATABASE $db" >/dev/null

export DATABASE_URL=$database_url
export JWT_SECRET SECRET_KEY
JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
SECRET_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
"$work/signalops" migrate up >"$work/migrate.log" 2>&1 || { cat "$work/migrate.log" >&2; exit 1; }

email=owner@clients.test
password=clients-e2e-password
seeded=$("$work/signalops" seed tenant --slug clients-e2e --name "Clients E2E" \
  --owner-email "$email" --owner-password "$password" --json)
api_key=$(printf '%s' "$seeded" | sed -n 's/.*"apiKey":"\([^"]*\)".*/\1/p')
[ -n "$api_key" ] || { echo "clients: seed printed no apiKey: $seeded" >&2; exit 1; }

# Port 0: the kernel picks a free port; serve logs the address it bound.
HTTP_ADDR=127.0.0.1:0 LOG_FORMAT=json LOG_LEVEL=info "$work/signalops" serve >"$work/serve.log" 2>&1 &
serve_pid=$!
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's/.*"msg":"http server listening".*"addr":"\([^"]*\)".*/\1/p' "$work/serve.log" | head -1)
  [ -n "$addr" ] && break
  kill -0 "$serve_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "clients: serve did not start:" >&2; cat "$work/serve.log" >&2; exit 1
fi
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://$addr/readyz" && break
  sleep 0.1
done
curl -fsS -o /dev/null "http://$addr/readyz"
echo "clients: serve is ready on $addr"

export SIGNALOPS_URL="http://$addr" SIGNALOPS_API_KEY="$api_key" SIGNALOPS_EMAIL="$email" SIGNALOPS_PASSWORD="$password"
status=0
(
  cd clients/go
  echo "clients: go example"
  go run ./examples/ingest
  echo "clients: go tests"
  go test -count=1 ./...
) || status=$?
if [ "$status" -eq 0 ]; then
  (
    cd clients/typescript
    [ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
    npm run --silent build
    echo "clients: typescript example"
    npm run --silent example
    echo "clients: typescript tests"
    npm test --silent
  ) || status=$?
fi
if [ "$status" -ne 0 ]; then
  echo "clients: failed; serve's log:" >&2
  tail -50 "$work/serve.log" >&2
fi
exit "$status"
