#!/usr/bin/env bash
# The relay benchmark: what Confab adds to a provider call. A fake OpenAI upstream that answers
# at once (bench-upstream), Confab in front of it (release build, SQLite), and on the same
# machine the load (bench-load for fixed-rate latency and memory, wrk for throughput).
# Usage (from anywhere): bash bench/relay.sh   (SECS=20 RATE=1000 HIGH_RATE=3000 STREAMS=1000 WORKERS=1 to change;
# WORKERS=0, the default, is one Confab worker per core)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PORT=18080
UPSTREAM_PORT=18090
BASE="http://127.0.0.1:$PORT"
UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT"
SECS="${SECS:-10}"
RATE="${RATE:-1000}"
HIGH_RATE="${HIGH_RATE:-3000}"
STREAMS="${STREAMS:-1000}"
ADMIN='{"username":"benchadmin","password":"bench-password-123"}'
OUT=bench/out
mkdir -p "$OUT"
TARGET="${CARGO_TARGET_DIR:-target}/release"

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
# Each open stream holds a client and an upstream connection.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

section "build (release)"
cargo build --release -p confab-server -p confab-bench

TMP="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

wait_for() { # URL PID
    for _ in $(seq 1 60); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" != "000" ]; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || break
        sleep 0.5
    done
    echo "bench: nothing answers at $1" >&2
    return 1
}

section "start the fake upstream and Confab"
"$TARGET/bench-upstream" "127.0.0.1:$UPSTREAM_PORT" 50 >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)
wait_for "$UPSTREAM/v1/chat/completions" "${PIDS[-1]}"
CONFAB__DATA__DIR="$TMP/data" CONFAB__SERVER__PORT="$PORT" CONFAB__LOG__LEVEL=warn \
    CONFAB__SERVER__WORKERS="${WORKERS:-0}" CONFAB__AUTH__ACCESS_TTL_SECS=7200 "$TARGET/confab" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_for "$BASE/readyz" "$SERVER_PID" || { cat "$TMP/server.log" >&2; exit 1; }
echo "fake upstream on $UPSTREAM, Confab on $BASE (pid $SERVER_PID)"

post() { # PATH BODY [TOKEN]
    local status
    status="$(curl -s -o "$TMP/reply.json" -w '%{http_code}' -X POST "$BASE$1" \
        -H 'Content-Type: application/json' ${3:+-H "Authorization: Bearer $3"} -d "$2")"
    if [ "${status:0:1}" != "2" ]; then
        echo "bench: POST $1 returned $status: $(cat "$TMP/reply.json")" >&2
        exit 1
    fi
}
post /api/v1/setup "$ADMIN"
post /api/v1/auth/login "$ADMIN"
TOKEN="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["access_token"])' "$TMP/reply.json")"
ADMIN_ID="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["user"]["id"])' "$TMP/reply.json")"
# `bench` and `hold` are free (no hold is taken, nothing is charged); `metered` is priced, so
# each request holds its worst case before the provider is called and settles after.
for model in bench hold; do
    post /api/v1/admin/models "{\"name\":\"$model\",\"modality\":\"chat\"}" "$TOKEN"
done
post /api/v1/admin/models '{"name":"metered","modality":"chat","price_per_1k_prompt_tokens":1,"price_per_1k_completion_tokens":2,"max_output_tokens":1024}' "$TOKEN"
post /api/v1/admin/provider-keys "{\"name\":\"fake\",\"kind\":\"openai\",\"base_url\":\"$UPSTREAM\",\"api_key\":\"sk-bench-0123456789\",\"models\":[\"bench\",\"hold\",\"metered\"]}" "$TOKEN"
post "/api/v1/admin/users/$ADMIN_ID/credits" '{"amount":1000000000000,"reason":"bench funds"}' "$TOKEN"
# The same user's API key, with a daily limit so the counting path is the one that checks it.
post /api/v1/keys '{"name":"bench","daily_request_limit":1000000000}' "$TOKEN"
SK="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["secret"])' "$TMP/reply.json")"
export TOKEN

rss() { # PID FIELD (VmRSS | RssAnon | VmHWM), in KiB
    awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"
}
LOAD="$TARGET/bench-load"
RELAYED="$BASE/v1/chat/completions"
DIRECT="$UPSTREAM/v1/chat/completions"

section "warm-up"
"$LOAD" rate "$RELAYED" "$TOKEN" plain 500 2 | tee "$OUT/relay-warmup.txt"
echo "Confab resident after warm-up: $(rss "$SERVER_PID" VmRSS) KiB"

section "fixed rate: $RATE req/s for ${SECS}s, non-streamed, direct then relayed"
"$LOAD" rate "$DIRECT" - plain "$RATE" "$SECS" | tee "$OUT/relay-plain-direct.txt"
"$LOAD" rate "$RELAYED" "$TOKEN" plain "$RATE" "$SECS" | tee "$OUT/relay-plain-relayed.txt"

section "fixed rate: $RATE req/s for ${SECS}s, 50-chunk streams, direct then relayed"
"$LOAD" rate "$DIRECT" - stream "$RATE" "$SECS" | tee "$OUT/relay-stream-direct.txt"
"$LOAD" rate "$RELAYED" "$TOKEN" stream "$RATE" "$SECS" | tee "$OUT/relay-stream-relayed.txt"
RSS_AT_RATE="$(rss "$SERVER_PID" VmRSS)"
ANON_AT_RATE="$(rss "$SERVER_PID" RssAnon)"
HWM_AT_RATE="$(rss "$SERVER_PID" VmHWM)"
echo "Confab resident after the relayed runs: $RSS_AT_RATE KiB ($ANON_AT_RATE KiB anonymous, the rest mapped files: the binary and libraries), peak so far $HWM_AT_RATE KiB"

section "fixed rate: $RATE req/s for ${SECS}s, metered (a priced model: hold, then settle)"
"$LOAD" rate "$RELAYED" "$TOKEN" plain "$RATE" "$SECS" metered | tee "$OUT/relay-plain-metered.txt"
"$LOAD" rate "$RELAYED" "$TOKEN" stream "$RATE" "$SECS" metered | tee "$OUT/relay-stream-metered.txt"
# Priced prompts are estimated with tiktoken before the hold, which loads its tables.
RSS_METERED="$(rss "$SERVER_PID" VmRSS)"
echo "Confab resident after the metered runs: $RSS_METERED KiB"

section "fixed rate: $RATE req/s for ${SECS}s, metered, the same user's JWT then sk- key"
"$LOAD" rate "$RELAYED" "$TOKEN" plain "$RATE" "$SECS" metered | tee "$OUT/relay-jwt-metered.txt"
"$LOAD" rate "$RELAYED" "$SK" plain "$RATE" "$SECS" metered | tee "$OUT/relay-key-metered.txt"
section "fixed rate: $HIGH_RATE req/s for ${SECS}s, metered, sk- key"
"$LOAD" rate "$RELAYED" "$SK" plain "$HIGH_RATE" "$SECS" metered | tee "$OUT/relay-key-metered-high.txt"

for connections in 64 256; do
    section "wrk: relayed, non-streamed, $connections connections, ${SECS}s"
    wrk -t1 -c"$connections" -d"${SECS}s" --latency -s bench/relay.lua "$RELAYED" |
        tee "$OUT/relay-wrk-$connections.txt"
done
section "wrk: relayed and metered, non-streamed, 64 connections, ${SECS}s"
MODEL=metered wrk -t1 -c64 -d"${SECS}s" --latency -s bench/relay.lua "$RELAYED" | tee "$OUT/relay-wrk-metered.txt"
section "wrk: relayed and metered with the sk- key, 64 connections, ${SECS}s"
MODEL=metered TOKEN="$SK" wrk -t1 -c64 -d"${SECS}s" --latency -s bench/relay.lua "$RELAYED" | tee "$OUT/relay-wrk-key-metered.txt"
section "wrk: the fake upstream alone, 64 connections, ${SECS}s"
TOKEN="" wrk -t1 -c64 -d"${SECS}s" --latency -s bench/relay.lua "$DIRECT" | tee "$OUT/relay-wrk-direct.txt"
# Last: interrupted streams are metered by estimating their tokens, which loads tiktoken's
# tables (about 20 MB) for good.
section "$STREAMS open streams (one chunk a second each)"
"$LOAD" hold "$RELAYED" "$TOKEN" "$STREAMS" "$SERVER_PID" | tee "$OUT/relay-hold.txt"

PEAK="$(rss "$SERVER_PID" VmHWM)"

field() { # FILE KEY -> the value of key=value (unit stripped)
    grep -o "$2=[0-9.]*" "$1" | head -1 | cut -d= -f2
}
added() { # KEY: relayed minus direct, for both runs of a kind
    awk -v a="$(field "$OUT/relay-$1-relayed.txt" "$2")" -v b="$(field "$OUT/relay-$1-direct.txt" "$2")" \
        'BEGIN { printf "%.3f ms", a - b }'
}
wrk_rps() {
    awk '/Requests\/sec:/ { print $2 }' "$1"
}
wrk_errors() {
    awk '/Non-2xx or 3xx responses:/ { n = $NF } /Socket errors/ { s = $0 } END { printf "%d non-2xx%s", n, (s ? "; " s : "") }' "$1"
}

section "summary"
printf 'non-streamed @ %s req/s   p50 %s ms -> %s ms (+%s)   p99 %s ms -> %s ms (+%s)\n' "$RATE" \
    "$(field "$OUT/relay-plain-direct.txt" p50)" "$(field "$OUT/relay-plain-relayed.txt" p50)" "$(added plain p50)" \
    "$(field "$OUT/relay-plain-direct.txt" p99)" "$(field "$OUT/relay-plain-relayed.txt" p99)" "$(added plain p99)"
printf '50-chunk stream @ %s req/s   p50 %s ms -> %s ms (+%s)   p99 %s ms -> %s ms (+%s)\n' "$RATE" \
    "$(field "$OUT/relay-stream-direct.txt" p50)" "$(field "$OUT/relay-stream-relayed.txt" p50)" "$(added stream p50)" \
    "$(field "$OUT/relay-stream-direct.txt" p99)" "$(field "$OUT/relay-stream-relayed.txt" p99)" "$(added stream p99)"
printf 'stream first byte        p50 %s ms -> %s ms (+%s)   p99 %s ms -> %s ms (+%s)\n' \
    "$(field "$OUT/relay-stream-direct.txt" ttfb_p50)" "$(field "$OUT/relay-stream-relayed.txt" ttfb_p50)" "$(added stream ttfb_p50)" \
    "$(field "$OUT/relay-stream-direct.txt" ttfb_p99)" "$(field "$OUT/relay-stream-relayed.txt" ttfb_p99)" "$(added stream ttfb_p99)"
printf 'errors at fixed rate      %s %s %s %s\n' \
    "$(field "$OUT/relay-plain-direct.txt" errors)" "$(field "$OUT/relay-plain-relayed.txt" errors)" \
    "$(field "$OUT/relay-stream-direct.txt" errors)" "$(field "$OUT/relay-stream-relayed.txt" errors)"
printf 'metered @ %s req/s         non-streamed p50 %s ms p99 %s ms; stream p50 %s ms p99 %s ms (errors %s %s)\n' "$RATE" \
    "$(field "$OUT/relay-plain-metered.txt" p50)" "$(field "$OUT/relay-plain-metered.txt" p99)" \
    "$(field "$OUT/relay-stream-metered.txt" p50)" "$(field "$OUT/relay-stream-metered.txt" p99)" \
    "$(field "$OUT/relay-plain-metered.txt" errors)" "$(field "$OUT/relay-stream-metered.txt" errors)"
printf 'metered req/s             %s at 64 connections (%s); resident after the metered runs %s KiB\n' \
    "$(wrk_rps "$OUT/relay-wrk-metered.txt")" "$(wrk_errors "$OUT/relay-wrk-metered.txt")" "$RSS_METERED"
printf 'JWT vs sk- @ %s req/s      metered non-streamed: JWT p50 %s ms p99 %s ms; sk- p50 %s ms p99 %s ms (errors %s %s)\n' "$RATE" \
    "$(field "$OUT/relay-jwt-metered.txt" p50)" "$(field "$OUT/relay-jwt-metered.txt" p99)" \
    "$(field "$OUT/relay-key-metered.txt" p50)" "$(field "$OUT/relay-key-metered.txt" p99)" \
    "$(field "$OUT/relay-jwt-metered.txt" errors)" "$(field "$OUT/relay-key-metered.txt" errors)"
printf 'sk- metered @ %s req/s   p50 %s ms p99 %s ms (errors %s); wrk: %s req/s at 64 connections (%s)\n' "$HIGH_RATE" \
    "$(field "$OUT/relay-key-metered-high.txt" p50)" "$(field "$OUT/relay-key-metered-high.txt" p99)" \
    "$(field "$OUT/relay-key-metered-high.txt" errors)" \
    "$(wrk_rps "$OUT/relay-wrk-key-metered.txt")" "$(wrk_errors "$OUT/relay-wrk-key-metered.txt")"
printf 'relayed req/s             %s at 64 connections (%s), %s at 256 (%s); fake alone %s\n' \
    "$(wrk_rps "$OUT/relay-wrk-64.txt")" "$(wrk_errors "$OUT/relay-wrk-64.txt")" \
    "$(wrk_rps "$OUT/relay-wrk-256.txt")" "$(wrk_errors "$OUT/relay-wrk-256.txt")" \
    "$(wrk_rps "$OUT/relay-wrk-direct.txt")"
printf 'open streams              %s KiB per stream (%s streams)\n' \
    "$(field "$OUT/relay-hold.txt" per_stream)" "$STREAMS"
printf 'resident memory           %s KiB after the %s req/s runs (%s KiB anonymous; peak %s KiB); peak of the whole run %s KiB\n' \
    "$RSS_AT_RATE" "$RATE" "$ANON_AT_RATE" "$HWM_AT_RATE" "$PEAK"
