#!/usr/bin/env bash
# The README's promise, checked as a newcomer meets it: in a clean clone of the committed tree,
# run the README's first command exactly as written (read from README.md, not copied here), wait
# for /readyz, run the Quickstart's requests (also read from README.md) and check what they
# answer, then stop the server with SIGTERM. Needs port 8080 free (the README's address).
# Usage: bash tests/readme/first_run.sh   (CI runs it; a cold release build takes ~11 minutes)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d)"
SERVER_PID=""

stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        # The whole group: cargo and the server it started.
        kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 60); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 1
        done
        kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    local status=$?
    stop_server
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

fail() {
    echo "first run: $*" >&2
    echo "--- server log (last 40 lines) ---" >&2
    tail -n 40 "$WORK/server.log" >&2 || true
    exit 1
}

# The first line of the README's first sh block, without its comment: `cargo run --release`.
FIRST_COMMAND="$(awk '/^```sh$/ {inside=1; next} inside {print; exit}' "$ROOT/README.md" |
    sed 's/[[:space:]]*#.*$//')"
# The Quickstart's sh block, less that command (the server is already running).
QUICKSTART="$(awk '/^## Quickstart/ {q=1} q && /^```sh$/ {inside=1; next}
    inside && /^```$/ {exit} inside {print}' "$ROOT/README.md" |
    grep -vxF -- "$FIRST_COMMAND")"
[ -n "$FIRST_COMMAND" ] || fail "README.md has no first command"
printf '%s\n' "$QUICKSTART" | grep -q 'api/v1/setup' || fail "README.md's Quickstart has no setup request"
echo "first run: README's first command: $FIRST_COMMAND"

if curl -s -o /dev/null "http://127.0.0.1:8080/healthz"; then
    fail "something already listens on 127.0.0.1:8080"
fi

git clone --quiet "$ROOT" "$WORK/clone"
cd "$WORK/clone"
echo "first run: clean clone of $(git rev-parse --short HEAD) in $WORK/clone"

# A group of its own, so the stop reaches the server under cargo.
setsid bash -c "$FIRST_COMMAND" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

# Building is part of the first run: wait while the command is alive (40 minutes at most).
deadline=$((SECONDS + 2400))
until curl -fs -o /dev/null "http://127.0.0.1:8080/readyz"; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "'$FIRST_COMMAND' ended before serving"
    [ "$SECONDS" -lt "$deadline" ] || fail "not ready after 40 minutes"
    sleep 2
done
echo "first run: ready after ${SECONDS}s"
grep -q 'No users yet' "$WORK/server.log" || fail "the log does not say how to create the first admin"

printf '%s\n' "$QUICKSTART" >"$WORK/quickstart.sh"
bash -euo pipefail "$WORK/quickstart.sh" >"$WORK/quickstart.out" 2>&1 ||
    { cat "$WORK/quickstart.out" >&2; fail "the Quickstart's requests failed"; }
cat "$WORK/quickstart.out"
echo

# What each request must have answered: the admin made, /me as that admin, a fresh sk- key.
expect() {
    grep -q -- "$1" "$WORK/quickstart.out" || fail "the Quickstart's answers lack $1"
}
expect '"role":"admin"'
expect '"username":"admin"'
expect '"secret":"sk-'
[ -f data/confab.db ] || fail "no ./data/confab.db after the first run"

stop_server
grep -q 'stopped' "$WORK/server.log" || fail "the server did not log a clean stop"
echo "first run: the README's first command and Quickstart work as written"
