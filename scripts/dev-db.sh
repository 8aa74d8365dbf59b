#!/usr/bin/env bash
# Starts (or reuses) a throwaway local PostgreSQL cluster for development and tests, and prints
# the DATABASE_URL to use on stdout (progress goes to stderr), so that
#     eval "$(scripts/dev-db.sh)"
# exports it. Installs Debian's postgresql package when no server binaries are found.
#
#   scripts/dev-db.sh          start (idempotent) and print `export DATABASE_URL=...`
#   scripts/dev-db.sh fresh    the same, with the database dropped and created empty first
#   scripts/dev-db.sh stop     stop the cluster
#   scripts/dev-db.sh destroy  stop it and delete its data
#
# Environment: TENURE_PG_PORT (default 55432), TENURE_PG_DIR (default /tmp/tenure-pg),
# TENURE_PG_DB (default tenure).
set -euo pipefail

PORT="${TENURE_PG_PORT:-55432}"
DIR="${TENURE_PG_DIR:-/tmp/tenure-pg}"
DB="${TENURE_PG_DB:-tenure}"
DATA="$DIR/data"
LOG="$DIR/postgres.log"

say() { echo "dev-db: $*" >&2; }

find_bin() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/psql" ]]; then echo "$d"; return 0; fi
  done
  return 1
}

BIN="$(find_bin || true)"
if [[ -z "$BIN" ]]; then
  if [[ "$(id -u)" -ne 0 ]]; then
    say "no PostgreSQL server found under /usr/lib/postgresql; install it: sudo apt-get install -y postgresql"
    exit 1
  fi
  say "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  BIN="$(find_bin)" || { say "postgresql installed but its binaries were not found"; exit 1; }
fi

# initdb refuses to run as root: run the cluster as the unprivileged `postgres` user.
if [[ "$(id -u)" -eq 0 ]]; then
  if ! id postgres >/dev/null 2>&1; then
    say "creating system user postgres"
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  AS=(runuser -u postgres --)
else
  AS=()
fi

pgctl() { "${AS[@]}" "$BIN/pg_ctl" -D "$DATA" "$@"; }

case "${1:-start}" in
  stop)
    if [[ -d "$DATA" ]]; then pgctl stop -m fast >&2 || true; fi
    exit 0 ;;
  destroy)
    if [[ -d "$DATA" ]]; then pgctl stop -m fast >&2 || true; fi
    rm -rf "$DIR"
    exit 0 ;;
  start|fresh) ;;
  *) say "usage: $0 [start|fresh|stop|destroy]"; exit 2 ;;
esac

mkdir -p "$DIR"
if [[ "$(id -u)" -eq 0 ]]; then chown postgres: "$DIR"; fi

if [[ ! -f "$DATA/PG_VERSION" ]]; then
  say "creating a cluster in $DATA"
  "${AS[@]}" "$BIN/initdb" -D "$DATA" -U postgres -A trust --no-sync -E UTF8 >/dev/null
fi

if ! pgctl status >/dev/null 2>&1; then
  say "starting PostgreSQL on 127.0.0.1:$PORT (log: $LOG)"
  # Durability is traded for speed: this cluster is for development and tests only.
  pgctl start -w -t 60 -l "$LOG" -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR \
    -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >&2 \
    || { say "PostgreSQL did not start; last log lines:"; tail -n 20 "$LOG" >&2; exit 1; }
fi

PSQL=("$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -X -q -v ON_ERROR_STOP=1)
if [[ "${1:-start}" == "fresh" ]]; then
  say "dropping database $DB"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >&2
fi
if [[ "$("${PSQL[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != "1" ]]; then
  "${PSQL[@]}" -c "CREATE DATABASE \"$DB\"" >&2
fi

echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/$DB"
