#!/usr/bin/env bash
# The cluster benchmark: the compose topology without containers. PostgreSQL and Redis on
# loopback, two release Confab instances on one database and one Redis, nginx in front with
# deploy/nginx.conf (its upstreams pointed at loopback), and the fake OpenAI upstream of
# bench/relay. It loads one instance alone, then the pair through the proxy (metered requests:
# every one holds, calls the fake, settles), and checks that every ledger sums to its balance
# and nothing stays held.
# Usage: bash bench/cluster.sh   (SECS=10 RATE=500 to change)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECS="${SECS:-10}"
RATE="${RATE:-500}"
PROXY_PORT=18280
PORTS=(18281 18282)
UPSTREAM_PORT=18290
PG_PORT=55440
REDIS_PORT=16390
PROXY="http://127.0.0.1:$PROXY_PORT"
UPSTREAM="http://127.0.0.1:$UPSTREAM_PORT"
ADMIN='{"username":"benchadmin","password":"bench-password-123"}'
OUT=bench/out
mkdir -p "$OUT"
TARGET="${CARGO_TARGET_DIR:-target}/release"

section() {
    printf '\n==== %s ====\n' "$*"
}

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
    section "installing ${missing[*]}"
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

section "build (release)"
cargo build --release -p confab-server -p confab-bench

TMP="$(mktemp -d)"
chmod 755 "$TMP"
PIDS=()
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
cleanup() {
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    as_postgres "$PG_BIN/pg_ctl" -D "$TMP/pg" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

wait_for() { # URL PID
    for _ in $(seq 1 60); do
        if [ "$(curl -s -o /dev/null -w '%{http_code}' "$1" || true)" = "200" ]; then
            return 0
        fi
        kill -0 "$2" 2>/dev/null || break
        sleep 0.5
    done
    echo "bench: $1 is not ready" >&2
    return 1
}

section "PostgreSQL, Redis, the fake upstream"
mkdir -p "$TMP/pg"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$TMP/pg"; fi
as_postgres "$PG_BIN/initdb" -D "$TMP/pg" -A trust -U postgres >"$TMP/initdb.log"
as_postgres "$PG_BIN/pg_ctl" -D "$TMP/pg" -l "$TMP/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $TMP/pg -c max_connections=200 -c fsync=off" start >/dev/null
DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
"$TARGET/bench-upstream" "127.0.0.1:$UPSTREAM_PORT" 50 >"$TMP/upstream.log" 2>&1 &
PIDS+=($!)

section "two Confab instances (one database, one Redis, one data directory)"
SECRET="$(openssl rand -hex 32)"
MASTER="$(openssl rand -hex 32)"
INSTANCES=()
for port in "${PORTS[@]}"; do
    CONFAB__DATA__DIR="$TMP/data" CONFAB__SERVER__PORT="$port" CONFAB__LOG__LEVEL=warn \
        CONFAB__DATABASE__URL="$DATABASE_URL" CONFAB__DATABASE__MAX_CONNECTIONS=32 \
        CONFAB__REDIS__URL="redis://127.0.0.1:$REDIS_PORT/0" \
        CONFAB__AUTH__JWT_SECRET="$SECRET" CONFAB__SECRETS__MASTER_KEY="$MASTER" \
        CONFAB__AUTH__ACCESS_TTL_SECS=7200 CONFAB__SERVER__TRUST_FORWARDED_FOR=true \
        "$TARGET/confab" >"$TMP/confab-$port.log" 2>&1 &
    PIDS+=($!)
    INSTANCES+=($!)
    # The first creates the schema; the second starts once it is there.
    wait_for "http://127.0.0.1:$port/readyz" "${PIDS[-1]}" || { cat "$TMP/confab-$port.log" >&2; exit 1; }
done

section "nginx with deploy/nginx.conf, upstreams on loopback"
# Loopback addresses need no resolver (and Debian's nginx predates `resolve`).
sed -e "s/server confab-1:8080 \(.*\) resolve;/server 127.0.0.1:${PORTS[0]} \1;/" \
    -e "s/server confab-2:8080 \(.*\) resolve;/server 127.0.0.1:${PORTS[1]} \1;/" \
    -e "/^ *resolver /d" \
    -e "s/listen 80;/listen 127.0.0.1:$PROXY_PORT;/" \
    -e "s|^http {|pid $TMP/nginx.pid;\nerror_log $TMP/nginx-error.log warn;\nhttp {\n    access_log off;\n    client_body_temp_path $TMP/nginx-body;\n    proxy_temp_path $TMP/nginx-proxy;|" \
    -e "s/^worker_processes auto;/worker_processes 1;/" \
    deploy/nginx.conf >"$TMP/nginx.conf"
grep -q "127.0.0.1:${PORTS[1]}" "$TMP/nginx.conf" || { echo "bench: deploy/nginx.conf changed shape" >&2; exit 1; }
"$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -g 'daemon off;' >"$TMP/nginx.log" 2>&1 &
PIDS+=($!)
wait_for "$PROXY/readyz" "${PIDS[-1]}" || { cat "$TMP/nginx-error.log" >&2; exit 1; }

post() { # BASE PATH BODY [TOKEN]
    local status
    status="$(curl -s -o "$TMP/reply.json" -w '%{http_code}' -X POST "$1$2" \
        -H 'Content-Type: application/json' ${4:+-H "Authorization: Bearer $4"} -d "$3")"
    if [ "${status:0:1}" != "2" ]; then
        echo "bench: POST $2 returned $status: $(cat "$TMP/reply.json")" >&2
        exit 1
    fi
}
json() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))'"$1"')' "$TMP/reply.json"; }
post "$PROXY" /api/v1/setup "$ADMIN"
post "$PROXY" /api/v1/auth/login "$ADMIN"
TOKEN="$(json '["access_token"]')"
ADMIN_ID="$(json '["user"]["id"]')"
post "$PROXY" /api/v1/admin/provider-keys "{\"name\":\"fake\",\"kind\":\"openai\",\"base_url\":\"$UPSTREAM\",\"api_key\":\"sk-bench-0123456789\",\"models\":[\"metered\"]}" "$TOKEN"
post "$PROXY" /api/v1/admin/models '{"name":"metered","modality":"chat","price_per_1k_prompt_tokens":1,"price_per_1k_completion_tokens":2,"max_output_tokens":1024}' "$TOKEN"
post "$PROXY" "/api/v1/admin/users/$ADMIN_ID/credits" '{"amount":1000000000000,"reason":"bench funds"}' "$TOKEN"
# A second account, through its API key, so two ledgers move at once.
post "$PROXY" /api/v1/auth/register '{"username":"benchuser","password":"bench-password-456","email":"benchuser@example.com"}'
USER_ID="$(json '["id"]')"
post "$PROXY" "/api/v1/admin/users/$USER_ID/credits" '{"amount":1000000000000,"reason":"bench funds"}' "$TOKEN"
post "$PROXY" /api/v1/auth/login '{"username":"benchuser","password":"bench-password-456"}'
USER_TOKEN="$(json '["access_token"]')"
post "$PROXY" /api/v1/keys '{"name":"bench","daily_request_limit":1000000000}' "$USER_TOKEN"
SK="$(json '["secret"]')"
# Each instance reloads its catalog within a second of hearing of a change.
for port in "${PORTS[@]}"; do
    for _ in $(seq 1 50); do
        curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$port/v1/models" | grep -q '"metered"' && break
        sleep 0.1
    done
done

LOAD="$TARGET/bench-load"
ONE="http://127.0.0.1:${PORTS[0]}/v1/chat/completions"
BOTH="$PROXY/v1/chat/completions"

section "warm-up"
"$LOAD" rate "$BOTH" "$TOKEN" plain 200 2 metered >/dev/null

section "one instance, straight: $RATE metered req/s for ${SECS}s, then wrk (64 connections, sk- key)"
"$LOAD" rate "$ONE" "$TOKEN" plain "$RATE" "$SECS" metered | tee "$OUT/cluster-one-rate.txt"
MODEL=metered TOKEN="$SK" wrk -t1 -c64 -d"${SECS}s" --latency -s bench/relay.lua "$ONE" | tee "$OUT/cluster-one-wrk.txt"

section "two instances through nginx: $RATE metered req/s for ${SECS}s, then wrk (64 connections, sk- key)"
"$LOAD" rate "$BOTH" "$TOKEN" plain "$RATE" "$SECS" metered | tee "$OUT/cluster-both-rate.txt"
MODEL=metered TOKEN="$SK" wrk -t1 -c64 -d"${SECS}s" --latency -s bench/relay.lua "$BOTH" | tee "$OUT/cluster-both-wrk.txt"
"$LOAD" rate "$BOTH" "$TOKEN" stream "$RATE" "$SECS" metered | tee "$OUT/cluster-both-stream.txt"

section "ledgers"
sleep 2 # usage and settles written behind
psql() { "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tA -c "$1"; }
WRONG="$(psql "SELECT count(*) FROM credit_accounts a WHERE a.balance <> COALESCE((SELECT sum(e.amount) FROM ledger_entries e WHERE e.user_id = a.user_id), 0)")"
HELD="$(psql "SELECT count(*) FROM credit_holds WHERE status = 'held'")"
HELD_SUM="$(psql "SELECT COALESCE(sum(held), 0) FROM credit_accounts")"
ACCOUNTS="$(psql "SELECT count(*) FROM credit_accounts")"
ENTRIES="$(psql "SELECT count(*) FROM ledger_entries")"
USAGE="$(psql "SELECT count(*) FROM usage_records")"
SERVED="$(for port in "${PORTS[@]}"; do
    curl -s "http://127.0.0.1:$port/metrics" |
        awk -v p="$port" '/^confab_http_requests_total\{route="\/v1\/chat\/completions",method="POST",status="200"\}/ { n += $2 } END { printf "%s: %d  ", p, n }'
done)"

field() { grep -o "$2=[0-9.]*" "$1" | head -1 | cut -d= -f2; }
wrk_rps() { awk '/Requests\/sec:/ { print $2 }' "$1"; }
wrk_latency() { awk -v q="$2" '$1 == q { print $2 }' "$1"; }
wrk_errors() {
    awk '/Non-2xx or 3xx responses:/ { n = $NF } /Socket errors/ { s = $0 } END { printf "%d non-2xx%s", n, (s ? "; " s : "") }' "$1"
}

section "summary"
printf 'one instance   %s req/s fixed: p50 %s ms p99 %s ms (errors %s); wrk %s req/s, p50 %s p99 %s (%s)\n' "$RATE" \
    "$(field "$OUT/cluster-one-rate.txt" p50)" "$(field "$OUT/cluster-one-rate.txt" p99)" "$(field "$OUT/cluster-one-rate.txt" errors)" \
    "$(wrk_rps "$OUT/cluster-one-wrk.txt")" "$(wrk_latency "$OUT/cluster-one-wrk.txt" 50%)" "$(wrk_latency "$OUT/cluster-one-wrk.txt" 99%)" \
    "$(wrk_errors "$OUT/cluster-one-wrk.txt")"
printf 'two + nginx    %s req/s fixed: p50 %s ms p99 %s ms (errors %s); wrk %s req/s, p50 %s p99 %s (%s)\n' "$RATE" \
    "$(field "$OUT/cluster-both-rate.txt" p50)" "$(field "$OUT/cluster-both-rate.txt" p99)" "$(field "$OUT/cluster-both-rate.txt" errors)" \
    "$(wrk_rps "$OUT/cluster-both-wrk.txt")" "$(wrk_latency "$OUT/cluster-both-wrk.txt" 50%)" "$(wrk_latency "$OUT/cluster-both-wrk.txt" 99%)" \
    "$(wrk_errors "$OUT/cluster-both-wrk.txt")"
printf 'two + nginx    %s streams/s (50 chunks): p50 %s ms p99 %s ms, first byte p50 %s ms (errors %s)\n' "$RATE" \
    "$(field "$OUT/cluster-both-stream.txt" p50)" "$(field "$OUT/cluster-both-stream.txt" p99)" \
    "$(field "$OUT/cluster-both-stream.txt" ttfb_p50)" "$(field "$OUT/cluster-both-stream.txt" errors)"
printf 'served         /v1/chat/completions 200s per instance (its /metrics): %s\n' "$SERVED"
printf 'ledgers        %s accounts, %s entries, %s usage records: %s not summing to their balance; %s holds open, %s credits held\n' \
    "$ACCOUNTS" "$ENTRIES" "$USAGE" "$WRONG" "$HELD" "$HELD_SUM"
if [ "$WRONG" != "0" ] || [ "$HELD" != "0" ] || [ "$HELD_SUM" != "0" ]; then
    echo "bench: the ledger check failed" >&2
    exit 1
fi
echo "ledger check: every balance is its ledger's sum, nothing held"
