#!/usr/bin/env bash
# Portcullis benchmark: password sign-in throughput and the cost of an authenticated request,
# against a release build on a fresh database. Not a test: it prints figures for the report.
#
#   bench/run.sh                      embedded backend (SQLite + in-process cache)
#   BACKEND=external bench/run.sh     PostgreSQL + Redis (needs both on 127.0.0.1)
#   DURATION=15s CONNECTIONS=16 THREADS=2 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portcullis/target}"
BACKEND="${BACKEND:-embedded}"
DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-16}"
THREADS="${THREADS:-2}"
PORT="${PORT:-18390}"
BASE="http://localhost:$PORT"

command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
cargo build --release -q -p portcullis
BIN="$CARGO_TARGET_DIR/release/portcullis"

WORK=$(mktemp -d)
SERVER=""
DB_NAME=""
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
  [ -n "$DB_NAME" ] && psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export PORTCULLIS__HTTP__BIND="127.0.0.1:$PORT"
export PORTCULLIS__HTTP__PUBLIC_URL="$BASE"
export PORTCULLIS__LOG__LEVEL=warn
export PORTCULLIS__CONSOLE__DIR=/nonexistent
if [ "$BACKEND" = external ]; then
  DB_NAME="pcbench_$$"
  psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB_NAME" >/dev/null
  export PORTCULLIS__DATABASE__URL="postgres://postgres@127.0.0.1:5432/$DB_NAME"
  export PORTCULLIS__CACHE__URL="redis://127.0.0.1:6379"
  export PORTCULLIS__CACHE__KEY_PREFIX="pcbench:$$:"
else
  export PORTCULLIS__DATABASE__URL="sqlite://$WORK/bench.db?mode=rwc"
fi

"$BIN" serve --demo >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.1; done

# One CSRF pair for the sign-in load, one session for the authenticated load.
curl -s -c "$WORK/jar" "$BASE/o/demo/login" -o "$WORK/login.html"
export BENCH_CSRF=$(grep -o 'name="csrf" value="[^"]*"' "$WORK/login.html" | head -n1 | sed 's/.*value="//; s/"$//')
curl -s -c "$WORK/jar" -b "$WORK/jar" -o /dev/null \
  --data-urlencode email=alice@demo.example --data-urlencode password=portcullis-demo \
  --data-urlencode "csrf=$BENCH_CSRF" "$BASE/o/demo/login"
export BENCH_SESSION=$(awk '$6 == "pc_session" {print $7}' "$WORK/jar")
[ -n "$BENCH_SESSION" ] || { echo "could not sign in" >&2; cat "$WORK/server.err" >&2; exit 1; }

run() {
  local name=$1; shift
  echo "== $name ($BACKEND, $THREADS threads, $CONNECTIONS connections, $DURATION)"
  wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" "$@" | grep -E "Requests/sec|^ +50%|^ +99%|unexpected|Non-2xx|Socket errors"
}

run "GET /healthz (framework baseline)" "$BASE/healthz"
run "GET /o/demo/ (org resolution from the cache, no session)" "$BASE/o/demo/"
run "GET /o/demo/account (authenticated page: session lookup + user, sessions and keys queries + template)" -s bench/account.lua "$BASE/o/demo/account"
run "POST /o/demo/login (password sign-in: argon2id + session start)" -s bench/login.lua "$BASE/o/demo/login"
