#!/usr/bin/env bash
# Starts a real landx (debug build, fresh SQLite, or PostgreSQL when LANDX_SCHEMA_DB_URL is
# set), loads the demo data (`landx demo seed`: the Caojing pilot with listings in every
# state and one account per role), then runs schemathesis against its /openapi.json once per
# role, authenticated as that role's demo account, with every check and every phase
# (examples, coverage, fuzzing and the stateful phase that follows links and Location
# headers). The admin runs last, since it may disable the others' accounts.
# Exit status: non-zero when any run fails or the server logged an internal error.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
cargo build --quiet --bin landx
BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/landx"
WORK=$(mktemp -d)
PORT="${LANDX_SCHEMA_PORT:-18080}"
BASE="http://127.0.0.1:$PORT"
export LANDX_ENV=test
export LANDX_DATABASE__URL="${LANDX_SCHEMA_DB_URL:-sqlite://$WORK/landx.db}"
export LANDX_SERVER__PORT="$PORT"
export LANDX_MAIL__FILE_DIR="$WORK/mail"
export LANDX_AUTH__BOOTSTRAP_ADMIN=false
# schemathesis sends many auth requests from one address; the per-IP limit is tested elsewhere.
export LANDX_AUTH__IP_ATTEMPTS_PER_MINUTE=100000
export LANDX_LOG__LEVEL=warn
cd "$WORK"
"$BIN" demo seed > "$WORK/seed.log"
"$BIN" serve > "$WORK/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.2; done
PASSWORD=$(sed -n 's/.*password `\([^`]*\)`.*/\1/p' "$WORK/seed.log" | head -n1)

login() {
  curl -fs -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$PASSWORD\"}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])'
}

declare -a ROLES=(
  "investor farm@demo.landx.cn"
  "collective hutang@demo.landx.cn"
  "staff staff.cj@demo.landx.cn"
  "insurer axny@demo.landx.cn"
  "admin admin@demo.landx.cn"
)
status=0
declare -a SUMMARY=()
for entry in "${ROLES[@]}"; do
  read -r role email <<<"$entry"
  if ! grep -q "$email" "$WORK/seed.log"; then
    echo "schemathesis: no demo account $email for role $role" >&2
    status=1
    continue
  fi
  token=$(login "$email")
  echo "=== schemathesis as $role ($email)"
  set +e
  schemathesis --config-file "$ROOT/scripts/schemathesis.toml" run "$BASE/openapi.json" \
    -H "Authorization: Bearer $token" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-15}" \
    --seed 1 \
    --no-color 2>&1 | tee "$WORK/schemathesis-$role.log"
  rc=${PIPESTATUS[0]}
  set -e
  [ "$rc" -eq 0 ] || status=1
  SUMMARY+=("$role: exit $rc | $(grep -E '^ *(Operations|API Links|Scenarios):|generated,|^=+ .* in [0-9.]+s =+$' "$WORK/schemathesis-$role.log" | tr -s ' =' | tr '\n' '|' | cut -c1-400)")
done
echo "=== schemathesis summary"
for s in "${SUMMARY[@]}"; do echo "  $s"; done
if grep -q "internal error" "$WORK/server.log"; then
  echo "server logged internal errors:"; grep "internal error" "$WORK/server.log" | head -20
  status=1
fi
exit $status
