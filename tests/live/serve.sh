# Sourced by the live checks (tests/ts-client, tests/schemathesis): builds the debug server and
# the tests' fake OpenAI provider, starts both on loopback with a fresh SQLite data directory,
# waits until the server is ready, and stops both (removing the data) when the caller exits.
# Sets CONFAB_URL and UPSTREAM_URL. Reads PORT (default 18181) and CARGO_TARGET_DIR.

LIVE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LIVE_TARGET="${CARGO_TARGET_DIR:-$LIVE_ROOT/target}"
LIVE_PORT="${PORT:-18181}"

(cd "$LIVE_ROOT" && cargo build --quiet -p confab-server -p confab-tests \
    --bin confab --bin confab-fake-upstream)
LIVE_DATA="$(mktemp -d)"
"$LIVE_TARGET/debug/confab-fake-upstream" >"$LIVE_DATA/upstream.out" 2>&1 &
LIVE_UPSTREAM=$!
CONFAB__DATA__DIR="$LIVE_DATA" CONFAB__SERVER__PORT="$LIVE_PORT" CONFAB__LOG__LEVEL=warn \
    "$LIVE_TARGET/debug/confab" >"$LIVE_DATA/server.log" 2>&1 &
LIVE_SERVER=$!

live_stop() {
    kill "$LIVE_UPSTREAM" 2>/dev/null || true
    kill "$LIVE_SERVER" 2>/dev/null || true
    wait "$LIVE_SERVER" 2>/dev/null || true
    rm -rf "$LIVE_DATA"
}
trap live_stop EXIT

CONFAB_URL="http://127.0.0.1:$LIVE_PORT"
for _ in $(seq 1 120); do
    curl -s -o /dev/null "$CONFAB_URL/readyz" && break
    if ! kill -0 "$LIVE_SERVER" 2>/dev/null; then
        echo "live: the server exited; its log:" >&2
        cat "$LIVE_DATA/server.log" >&2
        exit 1
    fi
    sleep 0.5
done
UPSTREAM_URL=""
for _ in $(seq 1 60); do
    UPSTREAM_URL="$(sed -n 's/^url=//p' "$LIVE_DATA/upstream.out")"
    [ -n "$UPSTREAM_URL" ] && break
    sleep 0.25
done
if [ -z "$UPSTREAM_URL" ]; then
    echo "live: the fake provider did not start" >&2
    cat "$LIVE_DATA/upstream.out" >&2
    exit 1
fi
export CONFAB_URL UPSTREAM_URL
