#!/usr/bin/env bash
# Benchmarks an authenticated GET /api/v1/me and POST /api/v1/auth/login against a release build
# on SQLite. Usage (from anywhere): bash bench/me.sh   (DURATION=30 for a longer /me run)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PORT=18080
BASE="http://127.0.0.1:$PORT"
DURATION="${DURATION:-15}"
BODY='{"username":"benchadmin","password":"bench-password-123"}'
OUT=bench/out
mkdir -p "$OUT"

section() {
    printf '\n==== %s ====\n' "$*"
}

if ! command -v wrk >/dev/null 2>&1; then
    section "installing wrk"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk
fi

section "build (release)"
cargo build --release -p confab-server
BIN="${CARGO_TARGET_DIR:-target}/release/confab"
if [ ! -x "$BIN" ]; then
    echo "bench: $BIN not found" >&2
    exit 1
fi

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

section "start server"
CONFAB__DATA__DIR="$TMP" CONFAB__SERVER__PORT="$PORT" CONFAB__LOG__LEVEL=warn \
    "$BIN" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
ready=0
for _ in $(seq 1 60); do
    if [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/readyz" || true)" = "200" ]; then
        ready=1
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        break
    fi
    sleep 0.5
done
if [ "$ready" -ne 1 ]; then
    echo "bench: server not ready on $BASE within 30 s; its log:" >&2
    cat "$TMP/server.log" >&2
    exit 1
fi
echo "server ready on $BASE (pid $SERVER_PID)"

section "setup + login"
status="$(curl -s -o "$TMP/setup.json" -w '%{http_code}' -X POST "$BASE/api/v1/setup" \
    -H 'Content-Type: application/json' -d "$BODY")"
if [ "${status:0:1}" != "2" ]; then
    echo "bench: POST /api/v1/setup returned $status: $(cat "$TMP/setup.json")" >&2
    exit 1
fi
TOKEN="$(curl -sf -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' -d "$BODY" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"
status="$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/me")"
if [ "$status" != "200" ]; then
    echo "bench: GET /api/v1/me with the token returned $status" >&2
    exit 1
fi
echo "logged in; GET /api/v1/me -> 200"

section "wrk: GET /api/v1/me (1 thread, 64 connections, ${DURATION}s)"
wrk -t1 -c64 -d"${DURATION}s" --latency -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/me" |
    tee "$OUT/me.txt"

section "wrk: POST /api/v1/auth/login (1 thread, 8 connections, 10s)"
wrk -t1 -c8 -d10s --latency -s bench/login.lua "$BASE/api/v1/auth/login" | tee "$OUT/login.txt"

# Requests/s, p50, p99 and the count of non-2xx/3xx replies from one wrk --latency output.
summarize() {
    awk -v name="$1" '
        /Requests\/sec:/ { rps = $2 }
        $1 == "50%" { p50 = $2 }
        $1 == "99%" { p99 = $2 }
        /Non-2xx or 3xx responses:/ { errors = $NF }
        END { printf "%-24s %10s req/s   p50 %10s   p99 %10s   non-2xx %s\n", name, rps, p50, p99, errors + 0 }
    ' "$2"
}

section "summary"
summarize "GET /api/v1/me" "$OUT/me.txt"
summarize "POST /api/v1/auth/login" "$OUT/login.txt"
if grep -q 'Non-2xx or 3xx responses' "$OUT/me.txt" "$OUT/login.txt"; then
    echo "note: some replies were not 2xx (rate limits?); see the server log below" >&2
    tail -n 20 "$TMP/server.log" >&2
fi
