#!/usr/bin/env bash
# An API fuzzer no one here wrote: schemathesis (PyPI) against the OpenAPI document of a running
# server, with a tenant's key, all its checks. It starts the release build on a fresh data
# folder at 127.0.0.1:${KYC_FUZZ_PORT:-18091}, makes a tenant, runs schemathesis (installed in
# target/fuzz-venv on first use), stops the server and exits with schemathesis's status.
#   bash scripts/fuzz-api.sh [--max-examples N] [other schemathesis options]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
KYC="${CARGO_TARGET_DIR:-target}/release/kyc"
[ -x "$KYC" ] || { echo "fuzz-api: build first (cargo build --release)" >&2; exit 2; }
VENV="${CARGO_TARGET_DIR:-target}/fuzz-venv"
if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'schemathesis>=4,<5'
fi
PORT="${KYC_FUZZ_PORT:-18091}"
DATA="$(mktemp -d)"
ADMIN="fuzz-admin-token-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export KYC_ENV=test KYC__ADMIN__TOKEN="$ADMIN" KYC__LOG__LEVEL=warn \
    KYC__SESSIONS__RATE_PER_IP_PER_MINUTE=1000000 KYC__SESSIONS__RATE_PER_TENANT_PER_MINUTE=1000000
KEY="$("$KYC" tenants create fuzz --json --data-dir "$DATA" | python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])')"
"$KYC" serve --port "$PORT" --data-dir "$DATA" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
for _ in $(seq 1 240); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.5
done
"$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
    --header "X-Api-Key: $KEY" --checks all --workers 2 --no-color \
    --generation-database none --report junit --report-dir "${CARGO_TARGET_DIR:-target}/fuzz-report" "$@"
