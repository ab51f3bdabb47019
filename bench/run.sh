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

# DURATION, LOGIN_DURATION, CONNECTIONS, LOGIN_CONNECTIONS, THREADS: defaults in lib.sh.
# The account page lists the user's sessions, and every sign-in adds one: keep "login" last.
LOADS="${LOADS:-healthz anon session account login}"
PORT="${PORT:-18390}"
# Every sign-in of the login load comes from one address, faster than the per-address pace of
# anonymous requests allows a real client: measure the sign-in, not the pace.
export PORTCULLIS__SECURITY__ANONYMOUS_PER_IP_PER_SECOND="${PORTCULLIS__SECURITY__ANONYMOUS_PER_IP_PER_SECOND:-0}"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

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
        wrk_run "$URL" "$c" "$DUR"
        rps=$RPS p50=$P50 p99=$P99 reqs=$REQS bad=$BAD sock=$((SOCK + TIMEOUTS)) cpu_ms=$CPU_MS
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
