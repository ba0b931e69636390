#!/usr/bin/env bash
# The load profile of issue 14, one command:  bash scripts/load.sh [options]
#
# For 1 and then 3 landx instances (release build) behind HAProxy on a private PostgreSQL
# (primary + streaming replica, started and removed like scripts/faults.sh does): 500 SSE
# watchers on a hot auction, bids offered at 20/s, and public search + bid history at offered
# rates of 100, 200, 400 and 800 req/s (hey -q), 15 s a step; p50/p99 and errors per step as a
# Markdown table (docs/operations.md, "Load"). Options go to scripts/faults/load.py (--help),
# e.g. --rates 200,400 --watchers 1000 --instances 3 --report /tmp/load.md. About 4 minutes.
# Needs what scripts/faults.sh needs, and hey (apt-get install -y hey).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hey >/dev/null || { echo "load.sh: missing hey (apt-get install -y hey)" >&2; exit 2; }
command -v haproxy >/dev/null || { echo "load.sh: missing haproxy (apt-get install -y haproxy)" >&2; exit 2; }
python3 -c 'import aiohttp, aiosmtpd' 2>/dev/null \
  || { echo "load.sh: missing python3 aiohttp aiosmtpd (pip install aiohttp aiosmtpd)" >&2; exit 2; }
cargo build --release --quiet
# Absolute: the instances run in their own directories.
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
exec python3 scripts/faults/load.py --bin "$target/release/landx" "$@"
