#!/usr/bin/env bash
# Instructions per accepted bid, through the use case directly and through HTTP, on SQLite and
# PostgreSQL: a load-independent measure of the bid path (wall-clock numbers on a shared
# 2-core machine vary by ±20 %). Results and their reading: docs/perf/bids.md.
#
#   scripts/bid_cost.sh [TREE ...]
#
# TREE: a checkout (git worktree) of landx; default: this checkout. Compare two commits with
#
#   git worktree add --detach /tmp/landx-before c9145f5
#   scripts/bid_cost.sh /tmp/landx-before .
#
# For each TREE the driver examples/bid_cost.rs is built in release mode (target dir
# $TREE/target unless CARGO_TARGET_DIR is set). A TREE without the driver (a commit older
# than it) gets this checkout's copy; if that tree predates src/app/ (the use-case layer),
# the direct call is rewritten to the old `trading::place_bid(conn, listing, investor, amount,
# clock, rules)`. (Both edits stay in that tree's working copy: use a throw-away worktree.)
#
# Each (backend, path) runs under `valgrind --tool=callgrind` twice, with N1 and N2 bids
# (defaults 100 and 400); instructions per bid = (total(N2) - total(N1)) / (N2 - N1), so the
# start-up and the auction's set-up cancel out. Counted: every thread of the process (client,
# actix workers, diesel, SQLite, libpq), not the PostgreSQL server, whose side is shown by
# the statements per bid and the server backends' CPU time per bid (a native run of N3 bids,
# default 2000, with diesel's instrumentation counting statements; that run's bids/s is
# wall-clock and noisy).
#
# Environment: N1, N2, N3; BACKENDS (default "sqlite postgres"); PATHS (default "direct http");
# PG_URL (default postgres://postgres@127.0.0.1:5432/postgres, trust auth: each run creates
# and drops its own database); OUT (default /tmp/bid_cost: callgrind files, kept for
# callgrind_annotate). Needs valgrind. Takes a few minutes per tree.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
N1=${N1:-100}
N2=${N2:-400}
N3=${N3:-2000}
BACKENDS=${BACKENDS:-"sqlite postgres"}
PATHS=${PATHS:-"direct http"}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
OUT=${OUT:-/tmp/bid_cost}
mkdir -p "$OUT"
[ $# -eq 0 ] && set -- "$here"

prepare() { # tree: put the driver in place (older commits)
    local tree=$1
    [ -f "$tree/examples/bid_cost.rs" ] && return
    mkdir -p "$tree/examples"
    cp "$here/examples/bid_cost.rs" "$tree/examples/bid_cost.rs"
    if [ ! -d "$tree/src/app" ]; then
        python3 - "$tree/examples/bid_cost.rs" <<'EOF'
import re, sys
p = sys.argv[1]
s = open(p).read()
old = '''// BEGIN direct-bid (before app::trading: trading::place_bid with explicit clock and rules)
struct Direct {
    rules: landx::config::Rules,
    uids: Vec<String>,
}

impl Direct {
    fn new(app: &common::TestApp, bidders: &[(String, String)]) -> Direct {
        Direct {
            rules: app.settings.rules.clone(),
            uids: bidders.iter().map(|(uid, _)| uid.clone()).collect(),
        }
    }

    fn bid(
        &self,
        app: &common::TestApp,
        conn: &mut landx::db::DbConn,
        listing: &str,
        k: usize,
        amount: i64,
    ) {
        landx::trading::place_bid(conn, listing, &self.uids[k], amount, app.clock_ref(), &self.rules)
            .unwrap();
    }
}
// END direct-bid'''
s, n = re.subn(r'// BEGIN direct-bid.*?// END direct-bid', lambda _: old, s, flags=re.S)
assert n == 1
open(p, "w").write(s)
EOF
    fi
}

for tree in "$@"; do
    tree=$(cd "$tree" && pwd)
    prepare "$tree"
    commit=$(git -C "$tree" rev-parse --short HEAD)
    [ -n "$(git -C "$tree" status --porcelain -- src Cargo.toml Cargo.lock)" ] && commit="$commit+dirty"
    target=${CARGO_TARGET_DIR:-$tree/target}
    (cd "$tree" && CARGO_TARGET_DIR=$target cargo build --release --quiet --example bid_cost)
    bin=$target/release/examples/bid_cost
    for backend in $BACKENDS; do
        if [ "$backend" = postgres ]; then db=$PG_URL; else db=; fi
        for path in $PATHS; do
            tag=$commit.$backend.$path
            for n in "$N1" "$N2"; do
                LANDX_TEST_DATABASE_URL=$db RUST_LOG=off valgrind --tool=callgrind \
                    --callgrind-out-file="$OUT/cg.$tag.$n.out" "$bin" run "$path" "$n" \
                    >"$OUT/cg.$tag.$n.log" 2>&1 || { cat "$OUT/cg.$tag.$n.log"; exit 1; }
            done
            total() { sed -n 's/^\(summary\|totals\): *\([0-9]*\).*/\2/p' "$1" | tail -1; }
            a=$(total "$OUT/cg.$tag.$N1.out")
            b=$(total "$OUT/cg.$tag.$N2.out")
            per=$(((b - a) / (N2 - N1)))
            native=$(LANDX_TEST_DATABASE_URL=$db RUST_LOG=off "$bin" count "$path" "$N3")
            stmts=$(sed -n 's/.*, \([0-9.]*\) statements\/bid.*/\1/p' <<<"$native")
            rate=$(sed -n 's/.*bids, \([0-9]*\) bids\/s.*/\1/p' <<<"$native")
            server=$(sed -n 's/.*CPU \([0-9]*\) µs\/bid.*/\1/p' <<<"$native")
            printf '%-14s %-8s %-6s %12d instr/bid  %5s stmts/bid  server %4s µs/bid  %6s bids/s\n' \
                "$commit" "$backend" "$path" "$per" "$stmts" "${server:--}" "$rate"
            printf '%s\n' "$native" >"$OUT/count.$tag.txt"
        done
    done
done
