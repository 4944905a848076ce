#!/usr/bin/env bash
# The metering benchmark: credit hold-and-settle cycles per second (what every priced request
# adds), through confab-credits' Meter as the server builds it, on SQLite (a file, WAL) and on
# PostgreSQL (a scratch cluster with the default durability: fsync and synchronous_commit on),
# with 1 hot account and with 10,000 accounts, at 1, 16 and 64 concurrent.
# Usage (from anywhere): bash bench/meter.sh   (SECS=5 per run; PG_URL=postgres://… to use a
# server of your own instead of the scratch cluster; it must allow creating a database)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECS="${SECS:-5}"
OUT=bench/out
mkdir -p "$OUT"
TARGET="${CARGO_TARGET_DIR:-target}/release"
PG_PORT=55433
REPORT="$OUT/meter-$(date -u +%Y%m%dT%H%M%SZ).txt"

section() {
    printf '\n==== %s ====\n' "$*"
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

section "build (release)"
cargo build --release -p confab-bench-meter

TMP="$(mktemp -d)"
PG_DIR="$(mktemp -d)"
PG_STARTED=0
cleanup() {
    if [ "$PG_STARTED" -eq 1 ]; then
        as_postgres pg_ctl -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP" "$PG_DIR"
}
trap cleanup EXIT

if [ -z "${PG_URL:-}" ]; then
    section "start a scratch PostgreSQL (default durability)"
    PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
    if [ -z "$PG_BIN" ]; then
        echo "bench: no PostgreSQL under /usr/lib/postgresql; set PG_URL" >&2
        exit 1
    fi
    export PATH="$PG_BIN:$PATH"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PG_DIR"; fi
    as_postgres initdb -D "$PG_DIR/data" -A trust -U postgres >"$PG_DIR/initdb.log" 2>&1 || {
        cat "$PG_DIR/initdb.log" >&2
        exit 1
    }
    PG_STARTED=1
    as_postgres pg_ctl -D "$PG_DIR/data" \
        -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c max_connections=200" \
        -w start -l "$PG_DIR/log" >/dev/null
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
fi
PG_BENCH_URL="${PG_URL%/*}/confab_bench_meter"
psql "$PG_URL" -q -c "DROP DATABASE IF EXISTS confab_bench_meter" -c "CREATE DATABASE confab_bench_meter"

{
    echo "bench/meter.sh $(git rev-parse --short HEAD 2>/dev/null || true) $(date -u +%FT%TZ), ${SECS}s per run, $(nproc) cores"
    for db in sqlite postgres; do
        for accounts in 1 10000; do
            for concurrency in 1 16 64; do
                if [ "$db" = sqlite ]; then
                    rm -f "$TMP"/meter.db*
                    url="sqlite://$TMP/meter.db?mode=rwc"
                else
                    url="$PG_BENCH_URL"
                fi
                printf '%-8s ' "$db"
                "$TARGET/bench-meter" "$url" "$accounts" "$concurrency" "$SECS"
            done
        done
    done
} | tee "$REPORT"
echo "saved to $REPORT"
