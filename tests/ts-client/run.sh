#!/usr/bin/env bash
# The frontend contract, checked as a frontend team would use it: installs the pinned generator
# and compiler (npm ci), generates a TypeScript client from openapi/openapi.json
# (openapi-typescript + openapi-fetch), type-checks it and tests/ts-client/src/walk.ts with
# `tsc --strict`, then runs the walk against a fresh server (debug build, SQLite, a temporary
# data directory, 127.0.0.1:$PORT) with the tests' fake provider behind it.
# Usage: bash tests/ts-client/run.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"

npm ci --no-audit --no-fund --loglevel=error
npx openapi-typescript ../../openapi/openapi.json -o src/confab.d.ts
npx tsc -p tsconfig.json

# shellcheck source=../live/serve.sh
source ../live/serve.sh
node dist/walk.js
