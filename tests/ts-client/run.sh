#!/usr/bin/env bash
# The frontend contract, checked as a frontend team would use it: installs the pinned generator
# and compiler (npm ci), generates a TypeScript client from openapi/openapi.json
# (openapi-typescript + openapi-fetch), type-checks it and tests/ts-client/src/walk.ts with
# `tsc --strict`, then runs the walk against a fresh server (debug build, SQLite, a temporary
# data directory, 127.0.0.1:$PORT) with the tests' fake provider behind it.
# Usage: bash tests/ts-client/run.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
PORT="${PORT:-18181}"
TARGET="${CARGO_TARGET_DIR:-../../target}"

npm ci --no-audit --no-fund --loglevel=error
npx openapi-typescript ../../openapi/openapi.json -o src/confab.d.ts
npx tsc -p tsconfig.json

cargo build --quiet -p confab-server -p confab-tests --bin confab --bin confab-fake-upstream
DATA="$(mktemp -d)"
# A fake OpenAI provider, so the walk can send a chat message.
"$TARGET/debug/confab-fake-upstream" >"$DATA/upstream.out" 2>&1 &
UPSTREAM=$!
CONFAB__DATA__DIR="$DATA" CONFAB__SERVER__PORT="$PORT" CONFAB__LOG__LEVEL=warn \
    "$TARGET/debug/confab" >"$DATA/server.log" 2>&1 &
SERVER=$!
cleanup() {
    kill "$UPSTREAM" 2>/dev/null || true
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
UPSTREAM_URL=""
for _ in $(seq 1 60); do
    UPSTREAM_URL="$(sed -n 's/^url=//p' "$DATA/upstream.out")"
    [ -n "$UPSTREAM_URL" ] && break
    sleep 0.25
done
if [ -z "$UPSTREAM_URL" ]; then
    echo "ts client: the fake provider did not start" >&2
    cat "$DATA/upstream.out" >&2
    exit 1
fi
CONFAB_URL="http://127.0.0.1:$PORT" UPSTREAM_URL="$UPSTREAM_URL" node dist/walk.js
