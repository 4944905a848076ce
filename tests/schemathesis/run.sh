#!/usr/bin/env bash
# schemathesis (pinned in requirements.txt) against a live server with the committed document,
# as a user and then as an admin, with its default checks (no server errors, responses and
# status codes and content types as documented, schema-valid input accepted, invalid refused).
# Bounded by MAX_EXAMPLES per operation (default 25). Any failure fails the run.
# Usage: bash tests/schemathesis/run.sh   (after pip install -r tests/schemathesis/requirements.txt)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
PORT="${PORT:-18182}"

# hooks.py logs in from an address of its own (X-Forwarded-For), as behind a proxy.
export CONFAB__SERVER__TRUST_FORWARDED_FOR=true
# shellcheck source=../live/serve.sh
source ../live/serve.sh

post() { # path token body
    curl -sf -X POST "$CONFAB_URL$1" -H 'Content-Type: application/json' \
        ${2:+-H "Authorization: Bearer $2"} -d "$3"
}
token_of() { # username password
    post /api/v1/auth/login "" "{\"username\":\"$1\",\"password\":\"$2\"}" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

ADMIN_PASSWORD="schema-admin-passphrase-1"
USER_PASSWORD="schema-user-passphrase-1"
post /api/v1/setup "" "{\"username\":\"stadmin\",\"password\":\"$ADMIN_PASSWORD\"}" >/dev/null
post /api/v1/auth/register "" "{\"username\":\"stuser\",\"password\":\"$USER_PASSWORD\"}" >/dev/null
# The admin run's routes on one account (`/admin/users/{id}`…) are pointed at this one whenever
# they would name the admin itself: with a second admin about (the run may promote one), the
# run could otherwise disable or delete its own account and test the rest locked out.
STANDIN_ID="$(post /api/v1/auth/register "" \
    "{\"username\":\"ststandin\",\"password\":\"$USER_PASSWORD\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
ADMIN_TOKEN="$(token_of stadmin "$ADMIN_PASSWORD")"
# A model behind the fake provider, so chats, messages and /v1 answer for real.
post /api/v1/admin/models "$ADMIN_TOKEN" '{"name":"gpt-4o-mini","modality":"chat"}' >/dev/null
post /api/v1/admin/provider-keys "$ADMIN_TOKEN" "{\"name\":\"fake\",\"kind\":\"openai\",
    \"base_url\":\"$UPSTREAM_URL\",\"api_key\":\"sk-schema-fake-0123\",\"models\":[\"gpt-4o-mini\"]}" \
    >/dev/null

ADMIN_ID="$(curl -sf "$CONFAB_URL/api/v1/me" -H "Authorization: Bearer $ADMIN_TOKEN" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

run_as() { # username password
    echo "==== schemathesis as $1 ===="
    CONFAB_USERNAME="$1" CONFAB_PASSWORD="$2" CONFAB_OWN_ID="$3" CONFAB_STANDIN_ID="$STANDIN_ID" \
        SCHEMATHESIS_HOOKS=hooks PYTHONPATH=. \
        st --config-file schemathesis.toml --no-color run ../../openapi/openapi.json \
        --url "$CONFAB_URL" --max-examples "$MAX_EXAMPLES" --seed 1 --continue-on-failure
}
STATUS=0
run_as stuser "$USER_PASSWORD" "" || STATUS=1
run_as stadmin "$ADMIN_PASSWORD" "$ADMIN_ID" || STATUS=1
exit "$STATUS"
