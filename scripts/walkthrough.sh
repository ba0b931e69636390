#!/usr/bin/env bash
# The README's walk-through, executable: from an empty server to an announced listing found by
# public search, two operators who verify their e-mail from the mailed link, register, qualify
# and pay the deposit, an auction and its deal; then a password reset from the mailed link.
# CI runs it against a fresh server on SQLite and on PostgreSQL (.ci/run), so the README can't
# rot. Every request's status is checked; any surprise stops the script with the answer.
#
# Needs: curl, jq, a running `landx serve` with the test clock on (LANDX_CLOCK__TRAVEL=true:
# the script moves the server's time over the announcement and the auction), and
#   B            the API base, default http://127.0.0.1:8080/api/v1
#   ADMIN_EMAIL  default admin@landx.local; ADMIN_PASSWORD (printed by the server's first start)
#   LANDX        how to run the binary for `landx mail list`, in the server's working directory
#                with its settings (it opens the sealed outbox with the same data key);
#                default `landx`
# The database must be fresh (the township, village and accounts are created here).
set -euo pipefail
B="${B:-http://127.0.0.1:8080/api/v1}"
ADMIN_EMAIL="${ADMIN_EMAIL:-admin@landx.local}"
: "${ADMIN_PASSWORD:?set ADMIN_PASSWORD to the password the server printed at first start}"
read -r -a LANDX_CMD <<<"${LANDX:-landx}"
J='Content-Type: application/json'
OUT=$(mktemp)
trap 'rm -f "$OUT"' EXIT

# call EXPECTED METHOD PATH [TOKEN|-] [curl args…]: the body on stdout; another status fails.
call() {
  local want=$1 method=$2 path=$3 token=${4:--}
  shift 3; [ $# -gt 0 ] && shift
  local auth=()
  [ "$token" != "-" ] && auth=(-H "Authorization: Bearer $token")
  local got
  got=$(curl -sS -o "$OUT" -w '%{http_code}' -X "$method" "${auth[@]}" "$@" "$B$path")
  if [ "$got" != "$want" ]; then
    echo "walkthrough: $method $path answered $got, expected $want: $(cat "$OUT")" >&2
    exit 1
  fi
  cat "$OUT"
}
post() { local want=$1 path=$2 token=$3 body=$4; shift 4; call "$want" POST "$path" "$token" -H "$J" -d "$body" "$@"; }
login() { post 200 /auth/login - "{\"email\":\"$1\",\"password\":\"$2\"}" | jq -r .access_token; }
# The token of the newest mailed link to ADDRESS whose path is PAGE (verify-email,
# reset-password, accept-invitation), read from the outbox with `landx mail list`.
mailed_token() {
  local addr=$1 page=$2 t=""
  for _ in $(seq 1 50); do
    t=$("${LANDX_CMD[@]}" mail list --to "$addr" | grep -o "/$page?token=[A-Za-z0-9_-]*" | head -n1 | cut -d= -f2)
    [ -n "$t" ] && break
    sleep 0.2
  done
  [ -n "$t" ] || { echo "walkthrough: no $page mail to $addr" >&2; exit 1; }
  echo "$t"
}
step() { echo "--- $*" >&2; }
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

step "the admin logs in and sets up the township, a village and two accounts"
ADMIN=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")
NOW=$(date -u -d "$(call 200 GET /admin/clock "$ADMIN" | jq -r .now)" +%s)
TS=$(post 201 /townships "$ADMIN" '{"code":"CJ","name":"漕泾镇"}' | jq -r .id)
VL=$(post 201 /villages "$ADMIN" "{\"township_id\":\"$TS\",\"code\":\"HT\",\"name\":\"护塘村\"}" | jq -r .id)
post 201 /users "$ADMIN" "{\"email\":\"ht@example.cn\",\"password\":\"hutang-2027-pw\",
  \"display_name\":\"护塘村股份经济合作社\",\"role\":\"collective\",\"village_id\":\"$VL\"}" >/dev/null
post 201 /users "$ADMIN" "{\"email\":\"cj@example.cn\",\"password\":\"caojing-2027-pw\",
  \"display_name\":\"漕泾镇农经站\",\"role\":\"staff\",\"township_id\":\"$TS\"}" >/dev/null
COLL=$(login ht@example.cn hutang-2027-pw); STAFF=$(login cj@example.cn caojing-2027-pw)

step "the collective registers a parcel and lists it; the staff approve"
P=$(post 201 /parcels "$COLL" '{"code":"JS-CJ-0001-017","area_mu":"158.31","land_type":"arable",
  "permanent_basic_farmland":true,"quality_grade":3,"households":12,
  "household_contract_end":"2057-12-31","location":"漕泾镇护塘村3组"}' | jq -r .id)
CLOSES=$((NOW + 11 * 86400)); STARTS=$((CLOSES + 86400)); ENDS=$((STARTS + 7200))
TERM_START=$(date -u -d "@$((ENDS + 30 * 86400))" +%Y-%m-01)
TERM_END="$(( $(date -u -d "$TERM_START" +%Y) + 9 ))-12-31"
L=$(post 201 /listings "$COLL" "{\"title\":\"护塘村土地经营权流转\",\"description\":\"水稻种植\",
  \"parcel_ids\":[\"$P\"],\"intended_use\":\"grain\",\"term_start\":\"$TERM_START\",\"term_end\":\"$TERM_END\",
  \"reserve_price_fen\":120000,\"min_increment_fen\":2000,\"deposit_fen\":200000,
  \"registration_closes_at\":\"$(iso $CLOSES)\",\"auction_starts_at\":\"$(iso $STARTS)\",
  \"auction_ends_at\":\"$(iso $ENDS)\",\"consent\":{\"resolution_date\":\"$(date -u -d "@$((NOW - 30 * 86400))" +%F)\",
  \"members_agreeing\":27,\"members_total\":35,\"commissions_received\":12}}" | jq -r .id)
# Before it is submitted, the listing needs its villagers' meeting resolution and the
# households' commission letters (scans: the file itself is the body; the name percent-encoded
# by jq's @uri, since -G would move the body into the query).
PDF=$(mktemp); printf '%%PDF-1.4\n%% 护塘村 scan\n1 0 obj<<>>endobj\ntrailer<<>>\n%%%%EOF\n' >"$PDF"
for doc in "resolution 村民会议决议.pdf" "commission 委托书.pdf"; do
  set -- $doc
  call 201 POST "/listings/$L/documents?kind=$1&filename=$(printf %s "$2" | jq -sRr @uri)" "$COLL" \
    -H 'Content-Type: application/pdf' --data-binary "@$PDF" | jq -r '"filed: \(.kind) \(.filename) \(.sha256[:12])…"' >&2
done
post 200 "/listings/$L/submit" "$COLL" '{}' | jq -r '"submitted: \(.listing_no) \(.status)"' >&2
post 200 "/listings/$L/approve" "$STAFF" '{}' | jq -r '"approved: \(.status)"' >&2

step "anyone finds it: query values are percent-encoded (curl -G --data-urlencode)"
FOUND=$(call 200 GET /listings - -G --data-urlencode "township_id=$TS" --data-urlencode "land_type=arable" \
  --data-urlencode "q=护塘" --data-urlencode "sort=reserve_price_fen" | jq -r --arg L "$L" '[.items[] | select(.id == $L)] | length')
[ "$FOUND" = 1 ] || { echo "walkthrough: search for 护塘 did not find the listing" >&2; exit 1; }

step "two operators register, verify their e-mail from the mailed link and register for the listing"
N=0
for who in "farm@example.cn family-farm-2027 金山绿野家庭农场 李建国" "coop@example.cn coop-farm-2027 漕泾丰收合作社 王丰收"; do
  read -r email pw name legal <<<"$who"
  N=$((N + 1))
  post 201 /auth/register - "{\"email\":\"$email\",\"password\":\"$pw\",\"display_name\":\"$name\"}" >/dev/null
  T=$(mailed_token "$email" verify-email)
  post 200 /auth/verify-email - "{\"token\":\"$T\"}" | jq -r '"verified: \(.email) \(.email_verified)"' >&2
  TOK=$(login "$email" "$pw")
  ID_NUMBER=$([ $N = 1 ] && echo 11010519491231002X || echo 310116198506150029)
  R=$(post 201 "/listings/$L/registrations" "$TOK" "{\"legal_name\":\"$legal\",\"id_type\":\"resident_id\",
    \"id_number\":\"$ID_NUMBER\",\"phone\":\"1380013800$N\",\"experience\":\"十年水稻种植\",
    \"business_plan\":\"优质稻米\",\"claims_membership\":false}" | jq -r .id)
  post 200 "/registrations/$R/qualify" "$STAFF" '{}' >/dev/null
  post 200 "/registrations/$R/deposit" "$STAFF" "{\"amount_fen\":200000,\"receipt_ref\":\"ICBC-000$N\"}" | jq -r '"deposit: \(.deposit_status)"' >&2
done

step "registration closes with two eligible bidders: the auction opens (test clock moved)"
post 200 /admin/clock/advance "$ADMIN" "{\"seconds\":$((STARTS - NOW + 60))}" >/dev/null
FARM=$(login farm@example.cn family-farm-2027); COOP=$(login coop@example.cn coop-farm-2027)
STATUS=$(call 200 GET "/listings/$L" - | jq -r .status)
[ "$STATUS" = auction ] || { echo "walkthrough: listing is $STATUS, not auction" >&2; exit 1; }
post 201 "/listings/$L/bids" "$FARM" '{"amount_fen":120000}' -H 'Idempotency-Key: bid-1' | jq -r '"bid: \(.amount_fen) leading \(.is_leading)"' >&2
post 201 "/listings/$L/bids" "$COOP" '{"amount_fen":122000}' -H 'Idempotency-Key: bid-2' | jq -r '"bid: \(.amount_fen) leading \(.is_leading)"' >&2

step "the auction ends: the deal"
ADMIN=$(login "$ADMIN_EMAIL" "$ADMIN_PASSWORD")   # tokens expire on the moved clock too
post 200 /admin/clock/advance "$ADMIN" '{"seconds":7200}' >/dev/null
DEAL=$(call 200 GET "/listings/$L/deal" -)
echo "$DEAL" | jq -r '"deal: \(.confirmation_no) \(.price_fen)"' >&2
[ "$(echo "$DEAL" | jq -r .price_fen)" = 122000 ] || { echo "walkthrough: unexpected deal $DEAL" >&2; exit 1; }

step "a forgotten password: reset from the mailed link"
call 202 POST /auth/password-reset/request - -H "$J" -d '{"email":"farm@example.cn"}' >/dev/null
T=$(mailed_token farm@example.cn reset-password)
call 204 POST /auth/password-reset/confirm - -H "$J" -d "{\"token\":\"$T\",\"new_password\":\"family-farm-2028\"}" >/dev/null
login farm@example.cn family-farm-2028 >/dev/null
echo "walkthrough: ok" >&2
