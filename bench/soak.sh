#!/usr/bin/env bash
# The soak of tests/api/soak.rs, longer and on the release build: 32 clients over every route
# that writes (chat messages streamed and not, own and shared chats; /v1 streamed and not with
# JWTs and sk- keys; images; card-code redemptions; check-ins; key creation and rotation; admin
# adjustments; logins and refreshes) while a prober calls /healthz, against Confab on SQLite in a
# fresh directory (or CONFAB_SOAK_DATABASE_URL) with the fake provider of the test suite. Prints
# requests/s, p50 and p99 per route and for /healthz, then checks that nothing is held and every
# ledger sums to its balance. Everything runs on this machine, on loopback.
# Usage (from anywhere): bash bench/soak.sh   (SECS=60 of load, CLIENTS=32)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECS="${SECS:-60}"
CLIENTS="${CLIENTS:-32}"
OUT=bench/out
mkdir -p "$OUT"
REPORT="$OUT/soak-$(date -u +%Y%m%dT%H%M%SZ).txt"

cargo build --release -p confab-tests --bin confab-soak
"${CARGO_TARGET_DIR:-target}/release/confab-soak" "$SECS" "$CLIENTS" | tee "$REPORT"
echo "report: $REPORT"
