#!/usr/bin/env bash
# The short forms of BENCHMARKS.md's figures that CI runs: each fails when the figure is worse
# than half its target (a 2x regression) or, where the target is not met yet, well beyond what
# it measures now; measured with the debug build the tests already built. Needs DATABASE_URL
# (scripts/dev-db.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATABASE_URL:?set DATABASE_URL (eval \"\$(scripts/dev-db.sh)\")}"
cargo build --example bench_ingest --example bench_storage --example bench_epoch
fail=0

# The number after `<key>=` in a benchmark's output.
figure() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
# Fails the run, saying `$4`, unless the figure `$1` is `$2` (`<=` or `>=`) the limit `$3`; a
# figure the benchmark did not print fails too.
limit() {
  if ! awk -v v="$1" -v op="$2" -v l="$3" \
      'BEGIN { ok = (op == "<=") ? v <= l : v >= l; exit !(v != "" && ok) }'; then
    echo "bench-short: $4" >&2
    fail=1
  fi
}

# Catch-up over a network: 256 uids, the devnet at 50 ms RTT (target 100 blocks/s).
out="$(target/debug/examples/bench_ingest 248 300 50 2>/dev/null | grep '^backfill')"
echo "$out"
rate="$(figure blocks_per_s "$out")"
limit "$rate" ">=" 50 "back-fill at 50 ms RTT did $rate blocks/s, below 50 (half the target of 100)"
# Catch-up at 4,096 uids, 120 blocks (one epoch), at 50 ms RTT (target 20 blocks/s) and on
# loopback (target 100). The debug build does 26 and 43 blocks/s here, below the release
# build's 65 and 144: the limits are half of what this short form measures (a 2× regression).
out="$(target/debug/examples/bench_ingest 4088 120 50 2>/dev/null | grep '^backfill')"
echo "$out"
rate="$(figure blocks_per_s "$out")"
limit "$rate" ">=" 13 "back-fill of 4,096 uids at 50 ms RTT did $rate blocks/s, below 13"
out="$(target/debug/examples/bench_ingest 4088 120 2>/dev/null | grep '^backfill')"
echo "$out"
rate="$(figure blocks_per_s "$out")"
limit "$rate" ">=" 21 "back-fill of 4,096 uids on loopback did $rate blocks/s, below 21"
# Uptime history on disk: 256 miners × 8 days at 288 rounds a day through the daemon's writer
# (targets 1,000 and 12,000 bytes per miner-day; the limits are twice the targets).
out="$(target/debug/examples/bench_storage 256 8 288 2>/dev/null)"
echo "$out"
rollups="$(figure rollup_bytes_per_miner_day "$out")"
raw="$(figure raw_bytes_per_miner_day "$out")"
limit "$rollups" "<=" 2000 "rollups take $rollups bytes per miner-day, above 2,000 (twice the target)"
limit "$raw" "<=" 24000 "raw samples take $raw bytes per miner-day, above 24,000 (twice the target)"
# The whole epoch block with every history at once: 256 miners × 60 days of uptime × 14 days of
# vesting (at 4,096 × 400 × 90 the target of 150 ms is not met yet, see BENCHMARKS.md). The
# debug build does 80–124 ms and loads the memory in 0.16–0.20 s here (runs vary that much);
# the limits are about 2.5× the slower runs (the figure is mostly PostgreSQL's, and CI's
# machine is not this one). The warm start (the memory saved at a stop, taken back) takes
# 0.04–0.05 s here; its limit, 0.25 s, keeps it a quarter of the load from the tables' limit.
out="$(target/debug/examples/bench_epoch 256 60 14 2>/dev/null)"
echo "$out"
epoch="$(figure 'epoch_block median_ms' "$out")"
load="$(figure 'startup_load median_s' "$out")"
warm="$(figure 'warm_start_load median_s' "$out")"
rss="$(figure 'peak_rss_mb' "$out")"
limit "$epoch" "<=" 300 "the epoch block took $epoch ms at 256 miners × 60 × 14 days, above 300 ms"
limit "$load" "<=" 1.0 "the start-up load took $load s at 256 miners × 60 × 14 days, above 1.0 s"
# Resident memory: the process peaks at 15–16 MB here; the limit is twice that.
limit "$rss" "<=" 32 "the epoch benchmark's resident memory peaked at $rss MB, above 32 MB"
limit "$warm" "<=" 0.25 "the warm start took $warm s at 256 miners × 60 × 14 days, above 0.25 s"
exit "$fail"
