#!/usr/bin/env bash
# Memory of the server while CLIENTS clients (default 10) upload SIZE_MIB MiB files (default
# 20, the default documents.max_bytes) at once: starts a real landx (debug build, or release
# with PROFILE=release) on a fresh SQLite database (PostgreSQL when LANDX_RSS_DB_URL is set to
# a server's administrative URL: a fresh database is created through it and dropped after;
# set LANDX_DOCUMENTS__DIR to measure directory storage), loads the demo data, and uploads
# distinct files to one draft listing of the demo collective while sampling the server's
# /proc/PID/status (VmRSS, VmHWM) every 100 ms. Prints RSS before, the peak during and after,
# the high-water mark, and checks every upload answered 201 with the file's SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${PROFILE:-debug}"
CLIENTS="${CLIENTS:-10}"
SIZE_MIB="${SIZE_MIB:-20}"
if [ "$PROFILE" = release ]; then cargo build --quiet --release --bin landx; else cargo build --quiet --bin landx; fi
BIN="${CARGO_TARGET_DIR:-$PWD/target}/$PROFILE/landx"
WORK=$(mktemp -d)
PORT="${LANDX_RSS_PORT:-18181}"
BASE="http://127.0.0.1:$PORT"
export LANDX_ENV=test
PGDB=""
SERVER=""
cleanup() {
  if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; fi
  [ -z "$PGDB" ] || psql "$LANDX_RSS_DB_URL" -qc "DROP DATABASE IF EXISTS $PGDB WITH (FORCE)" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ -n "${LANDX_RSS_DB_URL:-}" ]; then
  PGDB="landx_rss_$(date +%s)_$$"
  psql "$LANDX_RSS_DB_URL" -qc "CREATE DATABASE $PGDB"
  export LANDX_DATABASE__URL="${LANDX_RSS_DB_URL%/*}/$PGDB"
else
  export LANDX_DATABASE__URL="sqlite://$WORK/landx.db"
fi
export LANDX_SERVER__PORT="$PORT"
export LANDX_MAIL__FILE_DIR="$WORK/mail"
export LANDX_AUTH__BOOTSTRAP_ADMIN=false
export LANDX_LOG__LEVEL=warn
export LANDX_DOCUMENTS__MAX_BYTES=$((SIZE_MIB * 1024 * 1024))
cd "$WORK"
"$BIN" demo seed > seed.log
"$BIN" serve > server.log 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do curl -fs "$BASE/healthz" >/dev/null && break; sleep 0.2; done
PASSWORD=$(sed -n 's/.*password `\([^`]*\)`.*/\1/p' seed.log | head -n1)
TOKEN=$(curl -fs -X POST "$BASE/api/v1/auth/login" -H 'Content-Type: application/json' \
  -d "{\"email\":\"hutang@demo.landx.cn\",\"password\":\"$PASSWORD\"}" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
LISTING=$(curl -fs "$BASE/api/v1/listings?mine=true&status=draft" -H "Authorization: Bearer $TOKEN" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["items"][0]["id"])')
# Distinct files (a PDF header and random bytes), so no upload is a duplicate of another.
for i in $(seq 1 "$CLIENTS"); do
  { printf '%%PDF-1.4\n'; head -c $((SIZE_MIB * 1024 * 1024 - 9)) /dev/urandom; } > "file$i.pdf"
done
rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
hwm() { awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status"; }
# Warm up: one small upload and a download, so the "before" figure includes a used pool.
curl -fs -o /dev/null -X POST "$BASE/api/v1/listings/$LISTING/documents?kind=parcel_map&filename=warm.pdf" \
  -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/pdf' --data-binary $'%PDF-1.4\nwarm up'
sleep 0.5
BEFORE=$(rss)
HWM_BEFORE=$(hwm)
( while kill -0 $SERVER 2>/dev/null; do rss >> samples.txt || true; sleep 0.1; done ) &
SAMPLER=$!
START=$(date +%s.%N)
for i in $(seq 1 "$CLIENTS"); do
  curl -s -o "answer$i.json" -w '%{http_code}\n' -X POST \
    "$BASE/api/v1/listings/$LISTING/documents?kind=parcel_map&filename=%E5%9C%B0%E5%9D%97%E5%9B%BE$i.pdf" \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/pdf' \
    --data-binary "@file$i.pdf" > "status$i.txt" &
done
wait $(jobs -p | grep -v "^$SAMPLER$" | grep -v "^$SERVER$") 2>/dev/null || true
END=$(date +%s.%N)
sleep 1
AFTER=$(rss)
kill $SAMPLER 2>/dev/null || true
PEAK=$(sort -n samples.txt | tail -n1)
HWM=$(hwm)
failed=0
for i in $(seq 1 "$CLIENTS"); do
  code=$(cat "status$i.txt")
  want=$(sha256sum "file$i.pdf" | cut -d' ' -f1)
  got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("sha256",""))' "answer$i.json" 2>/dev/null || true)
  if [ "$code" != 201 ] || [ "$want" != "$got" ]; then echo "upload $i: HTTP $code, sha256 $got (want $want)"; failed=1; fi
done
echo "profile=$PROFILE db=$([ -n "$PGDB" ] && echo postgres || echo sqlite) storage=${LANDX_DOCUMENTS__DIR:-database} clients=$CLIENTS size=${SIZE_MIB}MiB"
echo "uploaded $((CLIENTS * SIZE_MIB)) MiB in $(python3 -c "print(round($END - $START, 2))") s"
echo "RSS before:      $((BEFORE / 1024)) MiB"
echo "RSS peak during: $((PEAK / 1024)) MiB  (samples every 100 ms: $(wc -l < samples.txt))"
echo "RSS after:       $((AFTER / 1024)) MiB"
echo "VmHWM before: $((HWM_BEFORE / 1024)) MiB, after: $((HWM / 1024)) MiB"
if grep -q "internal error" server.log; then echo "server logged internal errors"; grep "internal error" server.log | head; failed=1; fi
exit $failed
