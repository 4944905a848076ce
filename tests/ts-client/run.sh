#!/usr/bin/env bash
# The frontend contract, checked as a frontend team would use it: installs the pinned generator
# and compiler (npm ci), generates a TypeScript client from openapi/openapi.json
# (openapi-typescript + openapi-fetch), type-checks it and tests/ts-client/src/walk.ts with
# `tsc --strict`, then runs the walk against a fresh server (debug build, SQLite, a temporary
# data directory, 127.0.0.1:$PORT). Usage: bash tests/ts-client/run.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
PORT="${PORT:-18181}"
TARGET="${CARGO_TARGET_DIR:-../../target}"

npm ci --no-audit --no-fund --loglevel=error
npx openapi-typescript ../../openapi/openapi.json -o src/confab.d.ts
npx tsc -p tsconfig.json

cargo build --quiet -p confab-server
DATA="$(mktemp -d)"
CONFAB__DATA__DIR="$DATA" CONFAB__SERVER__PORT="$PORT" CONFAB__LOG__LEVEL=warn \
    "$TARGET/debug/confab" >"$DATA/server.log" 2>&1 &
SERVER=$!
cleanup() {
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    rm -rf "$DATA"
}
trap cleanup EXIT
for _ in $(seq 1 120); do
    if curl -s -o /dev/null "http://127.0.0.1:$PORT/readyz"; then
        break
    fi
    if ! kill -0 "$SERVER" 2>/dev/null; then
        cat "$DATA/server.log" >&2
        exit 1
    fi
    sleep 0.5
done
CONFAB_URL="http://127.0.0.1:$PORT" node dist/walk.js
