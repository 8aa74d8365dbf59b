#!/usr/bin/env bash
# The short forms of BENCHMARKS.md's figures that CI runs: each fails when the figure is worse
# than half its target (a 2x regression), measured with the debug build the tests already
# built. Needs DATABASE_URL (scripts/dev-db.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL (eval \"\$(scripts/dev-db.sh)\")}"
cargo build --example bench_ingest
fail=0

# Catch-up over a network: 256 uids, the devnet at 50 ms RTT (target 100 blocks/s).
out="$(target/debug/examples/bench_ingest 248 300 50 2>/dev/null | grep '^backfill')"
echo "$out"
rate="$(sed -n 's/.*blocks_per_s=\([0-9.]*\).*/\1/p' <<<"$out")"
if ! awk -v r="$rate" 'BEGIN { exit !(r >= 50) }'; then
  echo "bench-short: back-fill at 50 ms RTT did $rate blocks/s, below 50 (half the target of 100)" >&2
  fail=1
fi
exit "$fail"
