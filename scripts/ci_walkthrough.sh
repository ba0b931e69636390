#!/usr/bin/env bash
# Runs the README's walk-through against a fresh landx: `ci_walkthrough.sh shell|client [DB_URL]`.
#   shell   scripts/walkthrough.sh (curl + jq), reading mailed tokens with `landx mail list`
#   client  scripts/walkthrough_client.py through a Python client generated once from the
#           server's own /openapi.json (openapi-python-client), after validating that document
#           with openapi-spec-validator
# DB_URL: a PostgreSQL server URL (a fresh database is created in it and dropped after), or
# nothing for a fresh SQLite file. The server runs with the test clock on, file mail, and prints
# its first admin's password, which the walk-through uses as the README says.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
MODE="${1:?shell or client}"
PG="${2:-}"
cargo build --quiet --bin landx
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/landx"
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DBNAME=""
if [ -n "$PG" ]; then
  DBNAME="landx_walk_$$_$RANDOM"
  psql "$PG" -qc "CREATE DATABASE $DBNAME"
  DB_URL="${PG%/*}/$DBNAME"
else
  DB_URL="sqlite://$WORK/landx.db"
fi
export LANDX_ENV=test LANDX_DATABASE__URL="$DB_URL" LANDX_SERVER__PORT="$PORT" \
  LANDX_SERVER__PUBLIC_URL="http://127.0.0.1:$PORT" LANDX_MAIL__TRANSPORT=file \
  LANDX_MAIL__FILE_DIR="$WORK/mail" LANDX_CLOCK__TRAVEL=true LANDX_LOG__LEVEL=warn
cd "$WORK"
"$BIN" serve >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER=$!
cleanup() {
  kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true
  [ -n "$DBNAME" ] && psql "$PG" -qc "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" || true
}
trap cleanup EXIT
for _ in $(seq 1 150); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/server.log"; exit 1; }
PASSWORD=$(sed -n 's/^created admin@landx.local with password \([^ ]*\) .*/\1/p' "$WORK/server.out")
[ -n "$PASSWORD" ] || { echo "no admin password printed"; cat "$WORK/server.out"; exit 1; }
export B="http://127.0.0.1:$PORT/api/v1" ADMIN_PASSWORD="$PASSWORD" LANDX="$BIN"
case "$MODE" in
  shell) bash "$ROOT/scripts/walkthrough.sh" ;;
  client)
    curl -fs "http://127.0.0.1:$PORT/openapi.json" -o "$WORK/openapi.json"
    openapi-spec-validator "$WORK/openapi.json"
    # The generator knows raw binary bodies only as application/octet-stream: the document
    # upload's PDF/JPEG/PNG bodies are read as that (the client then sends the last of them,
    # image/png, as the Content-Type: the walk-through files PNG scans).
    printf 'content_type_overrides:\n  application/pdf: application/octet-stream\n  image/jpeg: application/octet-stream\n  image/png: application/octet-stream\n' >"$WORK/generator.yml"
    openapi-python-client generate --path "$WORK/openapi.json" --output-path "$WORK/gen/landx_client" \
      --meta none --config "$WORK/generator.yml" >"$WORK/generate.log" 2>&1 || { cat "$WORK/generate.log"; exit 1; }
    # Every operation and schema must make it into the client: a warning means one didn't.
    if grep -qiE 'warning|error|could not' "$WORK/generate.log"; then cat "$WORK/generate.log"; exit 1; fi
    PYTHONPATH="$WORK/gen" python3 "$ROOT/scripts/walkthrough_client.py"
    ;;
  *) echo "unknown mode $MODE"; exit 2 ;;
esac
if grep -q "internal error" "$WORK/server.log"; then
  echo "server logged internal errors:"; grep "internal error" "$WORK/server.log" | head; exit 1
fi
