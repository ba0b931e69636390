#!/usr/bin/env bash
# The fault suite of issue 14, one command:  bash scripts/faults.sh [driver options]
#
# Starts, on loopback ports of this machine and under one temporary directory, a PostgreSQL
# primary and a streaming replica (initdb + pg_basebackup -R, run as `postgres` when invoked as
# root), an SMTP sink that can refuse, three landx instances (release build) and HAProxy with
# health checks on /readyz; then, with bidders, SSE watchers, signups and searches running,
# kills an instance (kill -9) mid-auction, restarts the PostgreSQL primary, makes SMTP refuse
# for a minute, and stops the replica. Prints the Markdown table of docs/operations.md and
# exits 1 when a must-be-zero (acknowledged bids lost, duplicate bids or deals, mails lost or
# duplicated, 5xx other than 503) is not zero. About 8 minutes.
#
# Options go to scripts/faults/driver.py (--help): e.g. --faults kill,pg --smtp-secs 30
# --report /tmp/faults.md --keep. Needs: haproxy, PostgreSQL server binaries, psql,
# python3 with aiohttp and aiosmtpd (pip install aiohttp aiosmtpd).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v haproxy >/dev/null || missing+=("haproxy (apt-get install -y haproxy)")
command -v psql >/dev/null || missing+=("psql (apt-get install -y postgresql-client)")
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
  || missing+=("PostgreSQL server binaries (apt-get install -y postgresql)")
python3 -c 'import aiohttp, aiosmtpd' 2>/dev/null || missing+=("python3 aiohttp aiosmtpd (pip install aiohttp aiosmtpd)")
if ((${#missing[@]})); then
  printf 'faults.sh: missing %s\n' "${missing[@]}" >&2
  exit 2
fi

cargo build --release --quiet
# Absolute: the instances run in their own directories.
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
exec python3 scripts/faults/driver.py --bin "$target/release/landx" "$@"
