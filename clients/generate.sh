#!/usr/bin/env bash
# Regenerates the API clients from docs/openapi.json, or checks that the
# committed ones are current.
#
#   clients/generate.sh          write clients/go/signalops/client.gen.go and clients/typescript/src/schema.ts
#   clients/generate.sh --check  generate into a temporary directory; exit 1 if either differs
#
# The generators are pinned: oapi-codegen by the version below (go run
# builds it once and caches the binary), openapi-typescript by
# clients/typescript/package-lock.json (installed with npm ci when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

OAPI_CODEGEN=github.com/oapi-codegen/oapi-codegen/v2/cmd/oapi-codegen@v2.8.2
spec=$root/docs/openapi.json
go_out=clients/go/signalops/client.gen.go
ts_out=clients/typescript/src/schema.ts

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if [ ! -x clients/typescript/node_modules/.bin/openapi-typescript ]; then
  (cd clients/typescript && npm ci --no-audit --no-fund --loglevel=error)
fi

out=$root
if $check; then
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  mkdir -p "$out/$(dirname "$go_out")" "$out/$(dirname "$ts_out")"
fi

# oapi-codegen writes the config's `output` relative to the working directory.
(cd "$out/$(dirname "$go_out")" && go run "$OAPI_CODEGEN" -config "$root/clients/go/signalops/oapi-codegen.yaml" "$spec")
clients/typescript/node_modules/.bin/openapi-typescript "$spec" --output "$out/$ts_out" --silent

if $check; then
  stale=0
  for f in "$go_out" "$ts_out"; do
    if ! diff -u "$f" "$out/$f" > "$out/diff"; then
      echo "clients: $f is stale; run task clients:generate (clients/generate.sh) and commit the result" >&2
      head -40 "$out/diff" >&2
      stale=1
    fi
  done
  exit $stale
fi
echo "clients: generated $go_out and $ts_out from docs/openapi.json"
