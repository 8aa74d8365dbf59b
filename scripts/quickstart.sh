#!/usr/bin/env bash
# One command from a fresh checkout to a running daemon: starts the local PostgreSQL
# (installing it when missing), builds tenure, and runs it with config/tenure.dev.toml.
# Stop with Ctrl-C. Extra arguments are passed to `tenure run`.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/dev-db.sh)"
export TENURE__DATABASE__URL="$DATABASE_URL"
cargo build --bin tenure
echo "tenure: http://127.0.0.1:9477/readyz  http://127.0.0.1:9477/metrics" >&2
exec target/debug/tenure --config config/tenure.dev.toml run "$@"
