#!/usr/bin/env bash
# Runs the whole test suite: starts the local PostgreSQL (scripts/dev-db.sh) unless
# DATABASE_URL is already set, builds the devnet's binary, makes the Bittensor SDK's Python
# environment (scripts/sdk-venv.sh, once), then `cargo test`. Extra arguments
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
# The Bittensor SDK the devnet is read with (tests/suite/sdk_devnet.rs).
TENURE_SDK_PYTHON="$(scripts/sdk-venv.sh)"
export TENURE_SDK_PYTHON
exec cargo test --workspace --all-targets "$@"
