#!/usr/bin/env bash
# Portcullis benchmark: password sign-in throughput and the cost of an authenticated request,
# against a release build of `portcullis serve --demo` on a fresh database. It is a benchmark,
# not a test: it prints figures (median and spread over RUNS repetitions) and asserts nothing.
#
#   bench/run.sh                               embedded backend (SQLite + in-process cache)
#   BACKEND=external bench/run.sh              PostgreSQL + Redis on 127.0.0.1
#   BACKEND=both RUNS=5 bench/run.sh           both, one after the other
#   DURATION=15s CONNECTIONS="8 32" bench/run.sh
#
# Environment (defaults in brackets):
#   BACKEND            embedded | external | both                              [embedded]
#   RUNS               repetitions of every load                               [3]
#   DURATION           wrk duration of each GET load                           [10s]
#   LOGIN_DURATION     wrk duration of each sign-in load                       [15s]
#   CONNECTIONS        wrk connections for the GET loads (space-separated list) [32]
#   LOGIN_CONNECTIONS  wrk connections for the sign-in load (list)             [8]
#   THREADS            wrk threads                                             [2]
#   LOADS              which loads, in this order: healthz anon session account login
#   PORT               server port on 127.0.0.1                                [18390]
#   PAUSE              seconds of rest between two wrk runs                    [2]
#   BUILD              1: cargo build --release first; 0: use the existing binary [1]
#   PG_ADMIN_URL       where to create/drop the throwaway database [postgres://postgres@127.0.0.1:5432]
#   REDIS_URL          Redis for the external backend                          [redis://127.0.0.1:6379]
#   RAW                file to append the raw per-run lines to (TSV)           [none]
#   PORTCULLIS__PASSWORDS__MAX_CONCURRENT_HASHES and other PORTCULLIS__* pass through to the server.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portcullis/target}"
BACKEND="${BACKEND:-embedded}"
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
LOGIN_DURATION="${LOGIN_DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-32}"
LOGIN_CONNECTIONS="${LOGIN_CONNECTIONS:-8}"
THREADS="${THREADS:-2}"
# The account page lists the user's sessions, and every sign-in adds one: keep "login" last.
LOADS="${LOADS:-healthz anon session account login}"
PORT="${PORT:-18390}"
PAUSE="${PAUSE:-2}"
BUILD="${BUILD:-1}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
RAW="${RAW:-}"
BASE="http://127.0.0.1:$PORT"
EMAIL=alice@demo.example
PASSWORD=portcullis-demo

case "$BACKEND" in
  embedded | external) BACKENDS=$BACKEND ;;
  both) BACKENDS="embedded external" ;;
  *) echo "BACKEND must be embedded, external or both" >&2; exit 2 ;;
esac
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is needed: apt-get install -y curl" >&2; exit 2; }

BIN="$CARGO_TARGET_DIR/release/portcullis"
if [ "$BUILD" = 1 ]; then
  echo "building the release binary (cargo build --release -p portcullis)..." >&2
  cargo build --release -q -p portcullis
fi
[ -x "$BIN" ] || { echo "no release binary at $BIN (run with BUILD=1)" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")
SERVER=""
WRK=""
DB_NAME=""
REDIS_PREFIX=""

stop_server() {
  if [ -n "$SERVER" ]; then
    kill "$SERVER" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    SERVER=""
  fi
  if [ -n "$DB_NAME" ]; then
    psql "$PG_ADMIN_URL/postgres" -qc "DROP DATABASE IF EXISTS \"$DB_NAME\" WITH (FORCE)" >/dev/null 2>&1 || true
    DB_NAME=""
  fi
  if [ -n "$REDIS_PREFIX" ]; then
    redis-cli -u "$REDIS_URL" --scan --pattern "${REDIS_PREFIX}*" 2>/dev/null \
      | xargs -r -n 500 redis-cli -u "$REDIS_URL" DEL >/dev/null 2>&1 || true
    REDIS_PREFIX=""
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # A wrk still running (interrupted mid-load).
  if [ -n "$WRK" ]; then kill "$WRK" 2>/dev/null || true; wait "$WRK" 2>/dev/null || true; fi
  stop_server
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

urlencode() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in
      [a-zA-Z0-9._~-]) out+=$c ;;
      *) printf -v c '%%%02X' "'$c"; out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

start_server() {
  local backend=$1 dir="$WORK/$1"
  mkdir -p "$dir"
  export PORTCULLIS__HTTP__BIND="127.0.0.1:$PORT"
  export PORTCULLIS__HTTP__PUBLIC_URL="$BASE"
  export PORTCULLIS__LOG__LEVEL=warn
  export PORTCULLIS__CONSOLE__DIR=/nonexistent
  unset PORTCULLIS__CACHE__URL PORTCULLIS__CACHE__KEY_PREFIX
  if [ "$backend" = external ]; then
    command -v psql >/dev/null && command -v redis-cli >/dev/null \
      || { echo "the external backend needs psql and redis-cli" >&2; exit 2; }
    DB_NAME="pcbench_$$_$RANDOM"
    psql "$PG_ADMIN_URL/postgres" -qc "CREATE DATABASE \"$DB_NAME\"" >/dev/null
    REDIS_PREFIX="bench:$$-$RANDOM:"
    export PORTCULLIS__DATABASE__URL="$PG_ADMIN_URL/$DB_NAME"
    export PORTCULLIS__CACHE__URL="$REDIS_URL"
    export PORTCULLIS__CACHE__KEY_PREFIX="$REDIS_PREFIX"
  else
    export PORTCULLIS__DATABASE__URL="sqlite://$dir/bench.db?mode=rwc"
  fi
  if curl -s -o /dev/null "$BASE/healthz"; then
    echo "something already answers on port $PORT; set PORT" >&2; exit 2
  fi
  "$BIN" serve --demo >"$dir/server.out" 2>"$dir/server.err" &
  SERVER=$!
  local ok=""
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$BASE/readyz"; then ok=1; break; fi
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "server did not become ready" >&2; tail -n 30 "$dir/server.err" >&2; exit 1; }

  # One CSRF pair serves every sign-in (double-submit compare); one session serves the GET loads.
  curl -s -c "$dir/jar" -o "$dir/login.html" "$BASE/o/demo/login"
  CSRF=$(grep -o 'name="csrf" value="[^"]*"' "$dir/login.html" | head -n1 | sed 's/.*value="//; s/"$//')
  [ -n "$CSRF" ] || { echo "no csrf token on the login page" >&2; exit 1; }
  local status
  status=$(curl -s -o /dev/null -w '%{http_code}' -b "$dir/jar" -c "$dir/jar" \
    --data-urlencode "email=$EMAIL" --data-urlencode "password=$PASSWORD" \
    --data-urlencode "csrf=$CSRF" "$BASE/o/demo/login")
  SESSION=$(awk '$6 == "pc_session" {print $7}' "$dir/jar" | tail -n1)
  [ "$status" = 303 ] && [ -n "$SESSION" ] \
    || { echo "sign-in with curl failed (HTTP $status)" >&2; tail -n 30 "$dir/server.err" >&2; exit 1; }
  LOGIN_BODY="email=$(urlencode "$EMAIL")&password=$(urlencode "$PASSWORD")&csrf=$(urlencode "$CSRF")"
}

# load <name> -> sets URL, BENCH_* for wrk, the connection list and the duration.
configure_load() {
  BENCH_METHOD=GET BENCH_COOKIE="" BENCH_BODY="" BENCH_EXPECT=200
  CONNS=$CONNECTIONS DUR=$DURATION
  case "$1" in
    healthz) URL="$BASE/healthz"
      DESC="GET /healthz (framework baseline)" ;;
    anon) URL="$BASE/o/demo/account" BENCH_EXPECT=303
      DESC="GET /o/demo/account, no cookie -> 303 (org resolution, no session lookup)" ;;
    session) URL="$BASE/o/demo/login" BENCH_COOKIE="pc_session=$SESSION" BENCH_EXPECT=303
      DESC="GET /o/demo/login, signed in -> 303 (org + one session lookup: the auth check alone)" ;;
    account) URL="$BASE/o/demo/account" BENCH_COOKIE="pc_session=$SESSION"
      DESC="GET /o/demo/account, signed in -> 200 (session + user/sessions/keys queries + template)" ;;
    login) URL="$BASE/o/demo/login" BENCH_METHOD=POST BENCH_EXPECT=303
      BENCH_COOKIE="pc_csrf=$CSRF" BENCH_BODY=$LOGIN_BODY
      CONNS=$LOGIN_CONNECTIONS DUR=$LOGIN_DURATION
      DESC="POST /o/demo/login, right password -> 303 (argon2id verify + session start)" ;;
    *) echo "unknown load '$1' (healthz anon session account login)" >&2; exit 2 ;;
  esac
  export BENCH_METHOD BENCH_COOKIE BENCH_BODY BENCH_EXPECT
}

CLK_TCK=$(getconf CLK_TCK)
server_cpu_ticks() {  # utime + stime of the server process, in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$SERVER/stat"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
printf '# %s  commit %s  %s cores  THREADS=%s RUNS=%s\n' "$(date -u +%FT%TZ)" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$(nproc)" "$THREADS" "$RUNS"

for backend in $BACKENDS; do
  start_server "$backend"
  echo "== backend $backend: server pid $SERVER on $BASE"
  for load in $LOADS; do
    configure_load "$load"
    for c in $CONNS; do
      echo "-- $DESC  [-c$c -d$DUR]"
      for run in $(seq 1 "$RUNS"); do
        sleep "$PAUSE"
        loadavg=$(cut -d' ' -f1 /proc/loadavg)
        cpu0=$(server_cpu_ticks)
        # wrk runs as a background child and is waited for, so a signal reaches the trap at once.
        wrk --latency -t"$THREADS" -c"$c" -d"$DUR" -s "$ROOT/bench/load.lua" "$URL" >"$WORK/wrk.out" 2>&1 &
        WRK=$!
        wait "$WRK" || true
        WRK=""
        line=$(grep '^RESULT' "$WORK/wrk.out" || true)
        [ -n "$line" ] || { echo "wrk gave no result:" >&2; cat "$WORK/wrk.out" >&2; exit 1; }
        cpu1=$(server_cpu_ticks)
        read -r _ rps p50 p99 reqs bad sock <<<"$line"
        # Server CPU (user+system, all threads) per request: isolates the server from wrk's share.
        cpu_ms=$(awk -v d=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.4f", n ? d * 1000 / hz / n : 0 }')
        printf '   run %d: %9s req/s  p50 %8s ms  p99 %8s ms  server CPU %s ms/req  (%s requests, %s unexpected status, %s socket errors, load avg %s)\n' \
          "$run" "$rps" "$p50" "$p99" "$cpu_ms" "$reqs" "$bad" "$sock" "$loadavg"
        [ "$bad" = 0 ] || echo "   WARNING: $bad responses were not HTTP $BENCH_EXPECT" >&2
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$load" "$c" "$run" \
          "$rps" "$p50" "$p99" "$reqs" "$bad" "$sock" "$loadavg" "$cpu_ms" >>"$RESULTS"
      done
    done
  done
  stop_server
done

[ -z "$RAW" ] || cat "$RESULTS" >>"$RAW"

echo
echo "Summary: median over $RUNS runs, [min-max] in brackets; CPU = server user+system CPU per request (median)"
# Columns: backend load conns run rps p50 p99 reqs bad sock loadavg cpu_ms
awk -F'\t' '
  function med(a, n,   i, j, t) {  # insertion sort, then the middle (mean of two if even)
    for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
    return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  function flush(   m1, m2, m3, lo, hi) {
    if (n == 0) return
    m1 = med(r, n); lo = r[1]; hi = r[n]
    m2 = med(p, n); m3 = med(q, n)
    printf "%-9s %-8s %5s  %10.1f  %-21s  %8.2f  %-17s  %8.2f  %-17s  %9.4f %s\n",
      b, l, c, m1, sprintf("[%.1f-%.1f]", lo, hi), m2, sprintf("[%.2f-%.2f]", p[1], p[n]),
      m3, sprintf("[%.2f-%.2f]", q[1], q[n]), med(u, n), (badsum ? badsum " unexpected/errors!" : "")
    n = 0; badsum = 0
  }
  BEGIN { printf "%-9s %-8s %5s  %10s  %-21s  %8s  %-17s  %8s  %-17s  %9s\n", "backend", "load", "conns", "req/s", "[range]", "p50 ms", "[range]", "p99 ms", "[range]", "CPU ms/req" }
  { key = $1 FS $2 FS $3
    if (key != prev) { flush(); prev = key; b = $1; l = $2; c = $3 }
    n++; r[n] = $5 + 0; p[n] = $6 + 0; q[n] = $7 + 0; u[n] = $12 + 0; badsum += $9 + $10 }
  END { flush() }' "$RESULTS"
