#!/usr/bin/env bash
# One org flooded, another org measured (issue 14): an anonymous client floods org "flood" with
# CORS preflights of its token endpoint (the org has 10 SPA apps with 100 redirect URIs each, the
# registration maximum), passkey sign-in starts and sign-ins with wrong passwords, while another
# org's (demo's) token endpoint is measured with client_credentials. Each run measures /token
# quiet, then again under the flood; the summary compares the medians. A benchmark, not a test:
# it prints figures and asserts nothing.
#
#   bench/flood.sh                      embedded backend (SQLite + in-process cache)
#   BACKEND=both bench/flood.sh         then PostgreSQL + Redis on 127.0.0.1
#
# Environment (defaults in brackets): BACKEND [embedded], RUNS [3], DURATION (of each /token
# measurement) [10s], CONNECTIONS (/token) [8], TOKEN_DELAY_MS (each /token connection's pause
# before each request: a paced load, as apps make, instead of one that saturates the server by
# itself; 0 = as fast as the server answers) [0], FLOOD_CONNECTIONS [32], FLOOD_DELAY_MS (each
# flood connection's pause between requests; 0 = as fast as the server answers) [0], THREADS [1],
# PORT [18391], PAUSE [2], BUILD [1], PG_ADMIN_URL, REDIS_URL, RAW (append TSV rows to a file).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION="${DURATION:-10s}"
CONNECTIONS="${CONNECTIONS:-8}"
FLOOD_CONNECTIONS="${FLOOD_CONNECTIONS:-32}"
FLOOD_DELAY_MS="${FLOOD_DELAY_MS:-0}"
TOKEN_DELAY_MS="${TOKEN_DELAY_MS:-0}"
THREADS="${THREADS:-1}"
PORT="${PORT:-18391}"
# WebAuthn needs a host name, so passkey starts get real ceremonies rather than an error.
PUBLIC_URL="http://localhost:$PORT"
NEEDS="wrk curl python3"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

SPA_APPS=10
URIS_PER_APP=100

# Registers what the flood aims at and the app whose /token is measured.
provision() {
  exec 3>>"$WORK/cli.err"
  bench_cli org create flood >/dev/null 2>&3
  local i j args
  for i in $(seq 1 "$SPA_APPS"); do
    args=()
    for j in $(seq 1 "$URIS_PER_APP"); do args+=(--redirect-uri "https://spa$i-$j.example/cb"); done
    bench_cli app create --org flood --name "spa$i" --type spa "${args[@]}" >/dev/null 2>&3
  done
  local svc
  svc=$(bench_cli --json app create --org demo --name bench-service --type service 2>&3)
  AUTH="Basic $(python3 -c 'import json,sys,base64; a=json.loads(sys.argv[1]); print(base64.b64encode((a["client_id"]+":"+a["client_secret"]).encode()).decode())' "$svc")"
  curl -s -c "$WORK/flood.jar" -o "$WORK/flood.html" "$BASE/o/flood/login"
  FLOOD_CSRF=$(grep -o 'name="csrf" value="[^"]*"' "$WORK/flood.html" | head -n1 | sed 's/.*value="//; s/"$//')
  [ -n "$FLOOD_CSRF" ] || { echo "no csrf token on the flood org's sign-in page" >&2; exit 1; }
  # Half the preflights name a registered origin, half an unknown one.
  FLOOD_ORIGINS="https://spa1-1.example https://nobody.example https://spa10-100.example https://evil.example"
}

# measure_token <label> <run>: one wrk run of client_credentials at demo's /token.
measure_token() {
  local rps p50 p99 bad sock cpu_ms
  BENCH_METHOD=POST BENCH_EXPECT=200 BENCH_COOKIE="" BENCH_AUTH="$AUTH" BENCH_BODY_HAS="" BENCH_CHAIN="" \
    BENCH_DELAY_MS="$TOKEN_DELAY_MS" \
    BENCH_BODY="grant_type=client_credentials" wrk_run "$BASE/o/demo/token" "$CONNECTIONS" "$DURATION"
  rps=$RPS p50=$P50 p99=$P99 bad=$BAD sock=$((SOCK + TIMEOUTS)) cpu_ms=$CPU_MS
  printf '   run %d %-7s /token %9s req/s  p50 %8s ms  p99 %8s ms  (%s unexpected status, %s socket errors)\n' \
    "$2" "$1" "$rps" "$p50" "$p99" "$bad" "$sock"
  [ "$bad" = 0 ] || echo "   WARNING: $bad /token responses were not 200: the run is a failure, not a figure" >&2
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$1" "$2" "$rps" "$p50" "$p99" "$bad" "$cpu_ms" >>"$RESULTS"
}

RESULTS="$WORK/results.tsv"
FLOODS="$WORK/floods.tsv"
: >"$RESULTS"
: >"$FLOODS"
printf '# %s  commit %s  %s cores  RUNS=%s  /token -c%s with %s ms pauses, flood -c%s with %s ms pauses\n' "$(date -u +%FT%TZ)" \
  "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$(nproc)" "$RUNS" "$CONNECTIONS" "$TOKEN_DELAY_MS" "$FLOOD_CONNECTIONS" "$FLOOD_DELAY_MS"

for backend in $BACKENDS; do
  start_server "$backend"
  provision
  echo "== backend $backend: server pid $SERVER on $BASE"
  for run in $(seq 1 "$RUNS"); do
    sleep "$PAUSE"
    measure_token quiet "$run"
    sleep "$PAUSE"
    # The flood starts first and outlasts the measurement by two seconds on each side.
    secs=${DURATION%s}
    FLOOD_ORG=flood FLOOD_CSRF="$FLOOD_CSRF" FLOOD_ORIGINS="$FLOOD_ORIGINS" FLOOD_DELAY_MS="$FLOOD_DELAY_MS" \
      wrk -t"$THREADS" -c"$FLOOD_CONNECTIONS" -d"$((secs + 4))s" -s "$ROOT/bench/flood.lua" \
      "$BASE" >"$WORK/flood.out" 2>&1 &
    FLOOD=$!
    sleep 2
    measure_token flooded "$run"
    wait "$FLOOD" || true
    line=$(grep '^FLOOD' "$WORK/flood.out" || true)
    [ -n "$line" ] || { echo "the flood's wrk gave no result:" >&2; cat "$WORK/flood.out" >&2; exit 1; }
    read -r _ frps freqs f2 f3 f4 f429 f5 fsock <<<"$line"
    printf '   run %d flood  %9s req/s  (%s requests: %s 2xx, %s 3xx, %s 4xx, %s 429, %s 5xx, %s socket errors)\n' \
      "$run" "$frps" "$freqs" "$f2" "$f3" "$f4" "$f429" "$f5" "$fsock"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$backend" "$run" "$frps" "$f2" "$f3" "$f4" "$f429" "$f5" "$fsock" >>"$FLOODS"
  done
  stop_server
done

[ -z "$RAW" ] || cat "$RESULTS" >>"$RAW"

echo
echo "Summary: medians over $RUNS runs of demo's /token (client_credentials) quiet and under the flood of org 'flood'"
echo "(CPU ms/req: all server CPU over the /token requests served, so under the flood it includes the flood's share)"
printf '%-9s %-8s %10s %9s %9s %11s\n' backend phase "req/s" "p50 ms" "p99 ms" "CPU ms/req"
for backend in $BACKENDS; do
  for phase in quiet flooded; do
    rows=$(awk -F'\t' -v b="$backend" -v p="$phase" '$1 == b && $2 == p' "$RESULTS")
    col() { awk -F'\t' -v c="$1" '{ print $c }' <<<"$rows"; }
    # shellcheck disable=SC2046
    printf '%-9s %-8s %10s %9s %9s %11s\n' "$backend" "$phase" "$(median $(col 4))" \
      "$(median $(col 5))" "$(median $(col 6))" "$(median $(col 8))"
  done
  frows=$(awk -F'\t' -v b="$backend" '$1 == b' "$FLOODS")
  # shellcheck disable=SC2046
  printf '%-9s flood: median %s req/s; 5xx over all runs: %s\n' "$backend" \
    "$(median $(awk -F'\t' '{ print $3 }' <<<"$frows"))" "$(awk -F'\t' '{ s += $8 } END { print s + 0 }' <<<"$frows")"
done
