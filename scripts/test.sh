#!/usr/bin/env bash
# Runs the whole test suite: starts the local PostgreSQL (scripts/dev-db.sh) unless
# DATABASE_URL is already set, builds the devnet's binary, then `cargo test`. Extra arguments
# go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${DATABASE_URL:-}" ]]; then
  eval "$(scripts/dev-db.sh)"
fi
export DATABASE_URL
echo "test database: ${DATABASE_URL}" >&2
# The suite runs the devnet's own binary too (what the quickstart and compose run).
cargo build -p tenure-devnet --bin tenure-devnet
exec cargo test --workspace --all-targets "$@"
