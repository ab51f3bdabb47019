# Shared by bench/run.sh, bench/flood.sh, bench/scale.sh and bench/compare.sh (sourced, not
# run): the knobs they share, builds the release binary, starts `portcullis serve --demo` on a
# fresh database, signs in once, runs one measured wrk load, and cleans up on any exit. The
# caller sets PORT (and may set PUBLIC_URL) first, and lists the tools it needs in NEEDS; a caller
# with other defaults for the load knobs below (flood.sh) sets them before sourcing.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/portcullis/target}"
BACKEND="${BACKEND:-embedded}"
RUNS="${RUNS:-3}"
PAUSE="${PAUSE:-2}"
BUILD="${BUILD:-1}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
RAW="${RAW:-}"
# The wrk loads: GET/token-style loads, and sign-in loads (run.sh's login, compare.sh's flows).
DURATION="${DURATION:-10s}"
LOGIN_DURATION="${LOGIN_DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-32}"
LOGIN_CONNECTIONS="${LOGIN_CONNECTIONS:-8}"
THREADS="${THREADS:-2}"
BASE="http://127.0.0.1:$PORT"
EMAIL=alice@demo.example
PASSWORD=portcullis-demo

case "$BACKEND" in
  embedded | external) BACKENDS=$BACKEND ;;
  both) BACKENDS="embedded external" ;;
  *) echo "BACKEND must be embedded, external or both" >&2; exit 2 ;;
esac
for tool in ${NEEDS:-wrk curl}; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install -y $tool)" >&2; exit 2; }
done

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
  # A wrk, flood, flow driver or peer server still running (interrupted mid-load).
  for pid in "$WRK" "${FLOOD:-}" "${DRIVER:-}" "${PEER:-}"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  done
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

# start_server <backend>: launch_server, then sign_in.
start_server() {
  launch_server "$1"
  sign_in "$1"
}

# launch_server <backend>: `portcullis serve --demo` on a fresh database, ready (SERVER = pid,
# SERVER_STARTED = its start in epoch seconds with decimals).
launch_server() {
  local backend=$1 dir="$WORK/$1"
  mkdir -p "$dir"
  export PORTCULLIS__HTTP__BIND="127.0.0.1:$PORT"
  export PORTCULLIS__HTTP__PUBLIC_URL="${PUBLIC_URL:-$BASE}"
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
  SERVER_STARTED=$(date +%s.%N)
  local ok=""
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$BASE/readyz"; then ok=1; break; fi
    kill -0 "$SERVER" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "server did not become ready" >&2; tail -n 30 "$dir/server.err" >&2; exit 1; }
}

# sign_in <backend>: one CSRF cookie/token pair and one signed-in session (SESSION, CSRF,
# LOGIN_BODY) on the server launch_server started.
sign_in() {
  local dir="$WORK/$1"
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

CLK_TCK=$(getconf CLK_TCK)
server_cpu_ticks() {  # [pid]: utime + stime of the process (default: the server), in clock ticks
  awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/${1:-$SERVER}/stat"
}

# wrk_run <url> <connections> <duration> [pid]: one wrk run of bench/load.lua (configured by
# the exported BENCH_* variables) against url, with the CPU of pid (default: the server) taken
# over the run. Sets RPS P50 P99 (ms) REQS BAD (unexpected answers) SOCK (connect, read and
# write errors), TIMEOUTS (requests slower than wrk's 2 s timeout, still answered and checked),
# CPU_TICKS and CPU_MS (server CPU per request). wrk runs as a background child and is waited
# for, so a signal reaches the cleanup trap at once.
wrk_run() {
  local url=$1 conns=$2 dur=$3 pid=${4:-$SERVER} cpu0 cpu1 line
  cpu0=$(server_cpu_ticks "$pid")
  BENCH_THREADS=$THREADS wrk --latency -t"$THREADS" -c"$conns" -d"$dur" -s "$ROOT/bench/load.lua" \
    "$url" >"$WORK/wrk.out" 2>&1 &
  WRK=$!
  wait "$WRK" || true
  WRK=""
  cpu1=$(server_cpu_ticks "$pid")
  line=$(grep '^RESULT' "$WORK/wrk.out" || true)
  [ -n "$line" ] || { echo "wrk gave no result:" >&2; cat "$WORK/wrk.out" >&2; exit 1; }
  read -r _ RPS P50 P99 REQS BAD SOCK TIMEOUTS <<<"$line"
  CPU_TICKS=$((cpu1 - cpu0))
  CPU_MS=$(awk -v d="$CPU_TICKS" -v hz="$CLK_TCK" -v n="$REQS" 'BEGIN { printf "%.4f", n ? d * 1000 / hz / n : 0 }')
}


# bench_cli <args…>: the portcullis CLI against the running server's database (and cache).
bench_cli() {
  "$BIN" "$@"
}

# median <numbers…>: the middle value (mean of the two middle ones for an even count).
median() {
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2 }'
}
