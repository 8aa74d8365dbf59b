#!/usr/bin/env bash
# One command from a fresh checkout to a running daemon: starts the local PostgreSQL
# (installing it when missing), builds tenure, starts the local devnet on 127.0.0.1:9944
# (unless TENURE__CHAIN__ENDPOINTS names a real node) and runs the daemon against both with
# config/tenure.dev.toml. Stop with Ctrl-C. Extra arguments are passed to `tenure run`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${TENURE__CHAIN__ENDPOINTS:-}" ]]; then
  # Each devnet is a new chain: its own, empty database (a previous devnet's history would not
  # match it).
  export TENURE_PG_DB="${TENURE_PG_DB:-tenure_devnet}"
  eval "$(scripts/dev-db.sh fresh)"
else
  eval "$(scripts/dev-db.sh)"
fi
export TENURE__DATABASE__URL="$DATABASE_URL"
cargo build --bin tenure
cargo build -p tenure-devnet --bin tenure-devnet
if [[ -z "${TENURE__CHAIN__ENDPOINTS:-}" ]]; then
  # A subnet of 64 miners with some stake activity and real axons (TCP listeners on 127.0.0.1
  # that follow uptime profiles: up, flapping, down 2 h a day, dead, recovering), which the
  # daemon probes. Five blocks a second: the chain's clock runs 12 s a block, so a chain hour
  # passes every minute and the hourly uptime charts fill within minutes; an epoch every 100
  # blocks (20 s). Its validator (uid 0) hotkey is written as a wallet under
  # /tmp/tenure-devnet-wallets, which config/tenure.dev.toml signs the weights with.
  target/debug/tenure-devnet --port 9944 --block-ms 200 --activity 10 --axons \
    --rate-limit 50 --wallet-path /tmp/tenure-devnet-wallets \
    --ledger /tmp/tenure-devnet-ledger.jsonl &
  devnet=$!
  trap 'kill "$devnet" 2>/dev/null || true' EXIT
  echo "devnet: ws://127.0.0.1:9944 (ground truth in /tmp/tenure-devnet-ledger.jsonl)" >&2
fi
echo "tenure: http://127.0.0.1:9477/readyz  http://127.0.0.1:9477/metrics" >&2
target/debug/tenure --config config/tenure.dev.toml run "$@"
