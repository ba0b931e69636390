#!/usr/bin/env bash
# Starts a real landx (debug build, fresh SQLite, or PostgreSQL when LANDX_SCHEMA_DB_URL is
# set) and runs schemathesis with every check against its /openapi.json, authenticated as an
# admin. Exit status is schemathesis's.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
cargo build --quiet --bin landx
BIN="$PWD/target/debug/landx"
WORK=$(mktemp -d)
PORT="${LANDX_SCHEMA_PORT:-18080}"
export LANDX_ENV=test
export LANDX_DATABASE__URL="${LANDX_SCHEMA_DB_URL:-sqlite://$WORK/landx.db}"
export LANDX_SERVER__PORT="$PORT"
export LANDX_MAIL__FILE_DIR="$WORK/mail"
export LANDX_AUTH__BOOTSTRAP_ADMIN=false
# schemathesis sends many auth requests from one address; the per-IP limit is tested elsewhere.
export LANDX_AUTH__IP_ATTEMPTS_PER_MINUTE=100000
export LANDX_LOG__LEVEL=warn
cd "$WORK"
"$BIN" admin create --email ci-admin@landx.test --password ci-admin-password
"$BIN" serve > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
TOKEN=$(curl -fs -X POST "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email":"ci-admin@landx.test","password":"ci-admin-password"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
set +e
schemathesis --config-file "$ROOT/scripts/schemathesis.toml" run "http://127.0.0.1:$PORT/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-30}" \
  --seed 1 \
  --no-color
rc=$?
set -e
if grep -q "internal error" "$WORK/server.log"; then
  echo "server logged internal errors:"; grep "internal error" "$WORK/server.log" | head -20
fi
exit $rc
