#!/usr/bin/env bash
# Portcullis side by side with node-oidc-provider 9.x (issue 16): the same OIDC scenarios against
# a release build of `portcullis serve --demo` (on each backend) and against node-oidc-provider
# (bench/peer/server.mjs: in-memory adapter, opaque tokens, the same clients and user), on this
# machine, in one run. Prints per scenario and target: requests/s, p50/p99 latency, requests per
# server CPU-second (utime+stime of the server process over the load window only) and the ratio
# Portcullis/peer. A benchmark, not a test: it asserts nothing, but a scenario with any unexpected
# answer is reported as FAILED, never as throughput.
#
#   bench/compare.sh                              peer once, then Portcullis embedded and external
#   BACKEND=embedded bench/compare.sh             peer, then Portcullis on SQLite only
#   SCENARIOS="userinfo introspection" RUNS=5 bench/compare.sh
#
# Environment (defaults in brackets; the shared ones are in bench/lib.sh):
#   BACKEND            embedded | external | both (Portcullis; the peer runs once)   [both]
#   SCENARIOS          discovery jwks client_credentials userinfo introspection refresh
#                      password_flow passkey_flow (passkey_flow: Portcullis only)     [all]
#   RUNS [3], PAUSE [2], DURATION [10s], CONNECTIONS [32], THREADS [2]: the wrk scenarios
#   LOGIN_DURATION [15s], LOGIN_CONNECTIONS [8]: the code-flow scenarios (flows in flight)
#   SETTLE             seconds of unmeasured client_credentials load after each start  [30]
#   WARMUP             seconds of unmeasured load of each scenario before its runs     [3]
#   PORT [18390], PEER_PORT [18490], BUILD [1], PG_ADMIN_URL, REDIS_URL
#   WITH_PEER          0: Portcullis only (no ratios; for trying a change quickly)   [1]
#   RAW                file to append the per-run rows to (TSV; bench/compare_summary.py
#                      prints the tables again from it)                              [none]
#   PROFILE            scenarios to profile on Portcullis: after their measured runs, one more
#                      run (not counted) under `perf record -g -p PID`; the data and a summary
#                      (top modules and symbols) go to PROFILE_DIR                  [none]
#   PROFILE_DIR        where the profiles go (git-ignored)            [bench/profiles]
#   PORTCULLIS__* pass through to the server. compare.sh raises three per-IP/per-account
#   limits that one load generator on one address would otherwise hit (see bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BACKEND="${BACKEND:-both}"
SCENARIOS="${SCENARIOS:-discovery jwks client_credentials userinfo introspection refresh password_flow passkey_flow}"
SETTLE="${SETTLE:-30}"
WARMUP="${WARMUP:-3}"
PROFILE="${PROFILE:-}"
WITH_PEER="${WITH_PEER:-1}"
PROFILE_DIR="${PROFILE_DIR:-$ROOT/bench/profiles}"
PORT="${PORT:-18390}"
PEER_PORT="${PEER_PORT:-18490}"
# WebAuthn needs a host name: both servers are addressed as localhost (wrk gets 127.0.0.1).
PUBLIC_URL="http://localhost:$PORT"
PEER_URL="http://localhost:$PEER_PORT"
NEEDS="wrk curl node npm python3"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

# One load generator on one address runs LOGIN_CONNECTIONS sign-ins at once (each flow in
# flight as its own user, flow<i>@demo.example: the sign-in throttle refuses a burst of
# concurrent attempts on one account by design) and starts a passkey ceremony per flow: lift the
# per-address limits and the per-address pace of anonymous requests meant for real clients (the
# peer has none), and let the node queue as many sign-ins as there are flows in flight.
export PORTCULLIS__SECURITY__CEREMONY_STARTS_PER_IP_PER_MINUTE="${PORTCULLIS__SECURITY__CEREMONY_STARTS_PER_IP_PER_MINUTE:-1000000}"
export PORTCULLIS__SECURITY__ANONYMOUS_PER_IP_PER_SECOND="${PORTCULLIS__SECURITY__ANONYMOUS_PER_IP_PER_SECOND:-0}"
export PORTCULLIS__PASSWORDS__MAX_WAITING_PER_IP="${PORTCULLIS__PASSWORDS__MAX_WAITING_PER_IP:-$LOGIN_CONNECTIONS}"
if [ "$LOGIN_CONNECTIONS" -gt $((4 * $(nproc))) ]; then
  export PORTCULLIS__PASSWORDS__MAX_WAITING="${PORTCULLIS__PASSWORDS__MAX_WAITING:-$LOGIN_CONNECTIONS}"
fi

PEER_DIR="$ROOT/bench/peer"
DRIVE="$PEER_DIR/drive.mjs"
PEER=""
DRIVER=""
# The clients: the demo's web app (both servers) and a service app (made in Portcullis by
# provision_portcullis; fixed in the peer's server.mjs).
WEB_AUTH="Basic $(printf '%s' 'demo-catalog:demo-catalog-secret' | base64 -w0)"
PEER_SERVICE_AUTH="Basic $(printf '%s' 'bench-service:bench-service-secret-0123456789abcdef' | base64 -w0)"

if [ ! -d "$PEER_DIR/node_modules/oidc-provider" ]; then
  echo "installing node-oidc-provider into bench/peer (npm ci)..." >&2
  (cd "$PEER_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
PEER_VERSION=$(node -p "require('$PEER_DIR/node_modules/oidc-provider/package.json').version")

start_peer() {
  if curl -s -o /dev/null "$PEER_URL/healthz"; then
    echo "something already answers on port $PEER_PORT; set PEER_PORT" >&2; exit 2
  fi
  PEER_PORT=$PEER_PORT BENCH_FLOW_USERS=$LOGIN_CONNECTIONS node "$PEER_DIR/server.mjs" >"$WORK/peer.out" 2>"$WORK/peer.err" &
  PEER=$!
  local ok=""
  for _ in $(seq 1 100); do
    if curl -sf -o /dev/null "$PEER_URL/healthz"; then ok=1; break; fi
    kill -0 "$PEER" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ok" ] || { echo "the peer did not start" >&2; cat "$WORK/peer.err" >&2; exit 1; }
}

stop_peer() {
  if [ -n "$PEER" ]; then
    kill "$PEER" 2>/dev/null || true
    wait "$PEER" 2>/dev/null || true
    PEER=""
  fi
}

# The service app whose client_credentials are measured, the users of the password flows, and
# a user with a passkey (not one of them: with a passkey, a password sign-in asks for it as a
# second factor).
provision_portcullis() {
  local svc
  svc=$(bench_cli --json app create --org demo --name bench-service --type service 2>>"$WORK/cli.err")
  SERVICE_AUTH="Basic $(python3 -c 'import json,sys,base64; a=json.loads(sys.argv[1]); print(base64.b64encode((a["client_id"]+":"+a["client_secret"]).encode()).decode())' "$svc")"
  local i
  for i in $(seq 1 "$LOGIN_CONNECTIONS"); do
    printf '%s\n' "$PASSWORD" | bench_cli user create --org demo --email "flow$i@demo.example" \
      --password-stdin >/dev/null 2>>"$WORK/cli.err"
  done
  if [[ " $SCENARIOS " == *" passkey_flow "* ]]; then
    printf '%s\n' "$PASSWORD" | bench_cli user create --org demo --email passkey@demo.example \
      --password-stdin >/dev/null 2>>"$WORK/cli.err"
    node "$DRIVE" register --target portcullis --base "$PUBLIC_URL" --email passkey@demo.example \
      --out "$WORK/passkey.json"
  fi
}

# drive_tokens <count>: that many code flows from one browser (a password sign-in, then single
# sign-on); one JSON line of tokens per flow, into $WORK/tokens.jsonl.
drive_tokens() {
  node "$DRIVE" tokens --target "$TARGET" --base "$TARGET_URL" --count "$1" >"$WORK/tokens.jsonl"
}
token_field() {  # token_field <field> [line]: from $WORK/tokens.jsonl
  python3 -c 'import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; print("\n".join(r[sys.argv[2]] for r in rows[:int(sys.argv[3])]))' \
    "$WORK/tokens.jsonl" "$1" "${2:-1000000}"
}

# flow_run <flow> <seconds>: full code flows by the Node driver, LOGIN_CONNECTIONS in flight,
# with the server's CPU over the run; sets the same variables as wrk_run (a "request" is a flow).
flow_run() {
  local cpu0 cpu1 line
  cpu0=$(server_cpu_ticks "$CPU_PID")
  node "$DRIVE" flows --target "$TARGET" --base "$TARGET_URL" --flow "$1" \
    --credential "$WORK/passkey.json" --concurrency "$LOGIN_CONNECTIONS" --duration "$2" \
    >"$WORK/drive.out" 2>&1 &
  DRIVER=$!
  wait "$DRIVER" || true
  DRIVER=""
  cpu1=$(server_cpu_ticks "$CPU_PID")
  line=$(grep '^RESULT' "$WORK/drive.out" || true)
  [ -n "$line" ] || { echo "the flow driver gave no result:" >&2; cat "$WORK/drive.out" >&2; exit 1; }
  grep -v '^RESULT' "$WORK/drive.out" | sed 's/^/   driver: /' >&2 || true
  read -r _ RPS P50 P99 REQS BAD SOCK <<<"$line"
  TIMEOUTS=0
  CPU_TICKS=$((cpu1 - cpu0))
}

# scenario <name>: sets KIND (wrk | flow), URL and the BENCH_* variables, and prepares what
# the scenario needs (tokens). prepare_run does the per-run part (refresh chains).
scenario() {
  export BENCH_METHOD=GET BENCH_COOKIE="" BENCH_BODY="" BENCH_EXPECT=200 BENCH_AUTH="" \
    BENCH_BODY_HAS="" BENCH_CHAIN=""
  KIND=wrk
  case "$1" in
    discovery) URL=$DISCOVERY BENCH_BODY_HAS='"issuer"' ;;
    jwks) URL=$JWKS BENCH_BODY_HAS='"keys"' ;;
    client_credentials)
      URL=$TOKEN BENCH_METHOD=POST BENCH_AUTH=$SVC_AUTH BENCH_BODY="grant_type=client_credentials"
      BENCH_BODY_HAS='"access_token"' ;;
    userinfo)
      drive_tokens 1
      URL=$USERINFO BENCH_AUTH="Bearer $(token_field access_token)" BENCH_BODY_HAS='"sub"' ;;
    introspection)
      drive_tokens 1
      URL=$INTROSPECT BENCH_METHOD=POST BENCH_AUTH=$WEB_AUTH
      BENCH_BODY="token=$(token_field access_token)&token_type_hint=access_token"
      BENCH_BODY_HAS='"active":true' ;;
    refresh)
      URL=$TOKEN BENCH_METHOD=POST BENCH_AUTH=$WEB_AUTH BENCH_CHAIN="$WORK/chain.txt"
      BENCH_BODY_HAS='"refresh_token"' ;;
    password_flow | passkey_flow) KIND=flow ;;
    *) echo "unknown scenario '$1'" >&2; exit 2 ;;
  esac
  URL=${URL/\/\/localhost:/\/\/127.0.0.1:}
}
prepare_run() {  # a fresh chain per connection for every refresh run (a run ends mid-chain)
  if [ "$1" = refresh ]; then
    drive_tokens "$CONNECTIONS"
    token_field refresh_token >"$WORK/chain.txt"
  fi
}

# measure <scenario> <seconds or wrk duration>: one load of the scenario.
measure() {
  if [ "$KIND" = flow ]; then
    flow_run "${1%_flow}" "${2%s}"
  else
    wrk_run "$URL" "$CONNECTIONS" "$2" "$CPU_PID"
  fi
}

# profile <scenario> <backend>: one more run of the scenario (not counted) with the server under
# `perf record -g`; writes perf-<backend>-<scenario>.data and .txt (the top of `perf report`
# by module and by symbol, self time).
profile() {
  local out="$PROFILE_DIR/perf-$2-$1" perf_pid
  command -v perf >/dev/null || { echo "   PROFILE: perf is not installed (apt-get install -y linux-perf)" >&2; return; }
  mkdir -p "$PROFILE_DIR"
  prepare_run "$1"
  perf record -q -g -p "$CPU_PID" -o "$out.data" >/dev/null 2>"$out.err" &
  perf_pid=$!
  sleep 0.5
  if [ "$KIND" = flow ]; then measure "$1" "$LOGIN_DURATION"; else measure "$1" "$DURATION"; fi
  kill -INT "$perf_pid" 2>/dev/null || true
  wait "$perf_pid" 2>/dev/null || true
  {
    echo "# perf record -g -p <portcullis> during one $1 run on the $2 backend ($REQS requests, $BAD unexpected)"
    echo "## by module (self)"
    perf report -i "$out.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 15 || true
    echo "## by symbol (self)"
    perf report -i "$out.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40 || true
  } >"$out.txt"  # (|| true: head closes the pipe early, which pipefail would make an error)
  echo "   profile: $out.txt"
}

endpoints() {  # from the target's discovery document
  curl -sf "$ISSUER/.well-known/openid-configuration" >"$WORK/discovery.json" \
    || { echo "no discovery document at $ISSUER" >&2; exit 1; }
  DISCOVERY="$ISSUER/.well-known/openid-configuration"
  read -r JWKS TOKEN USERINFO INTROSPECT < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(d["jwks_uri"], d["token_endpoint"], d["userinfo_endpoint"], d["introspection_endpoint"])' "$WORK/discovery.json")
}

RESULTS="$WORK/compare.tsv"
: >"$RESULTS"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo '?')
printf '# %s  commit %s  %s cores  %s GiB  load avg %s  node %s  node-oidc-provider %s  %s\n' \
  "$(date -u +%FT%TZ)" "$COMMIT" "$(nproc)" "$(free -g | awk '/^Mem:/ {print $2}')" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$(node --version)" "$PEER_VERSION" "$(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)"
printf '# RUNS=%s DURATION=%s CONNECTIONS=%s THREADS=%s LOGIN_DURATION=%s LOGIN_CONNECTIONS=%s SETTLE=%s WARMUP=%s\n' \
  "$RUNS" "$DURATION" "$CONNECTIONS" "$THREADS" "$LOGIN_DURATION" "$LOGIN_CONNECTIONS" "$SETTLE" "$WARMUP"

for target in $([ "$WITH_PEER" = 1 ] && echo peer) $BACKENDS; do
  if [ "$target" = peer ]; then
    TARGET=peer TARGET_URL=$PEER_URL ISSUER=$PEER_URL
    start_peer
    CPU_PID=$PEER SVC_AUTH=$PEER_SERVICE_AUTH
    echo "== node-oidc-provider $PEER_VERSION: pid $PEER on $PEER_URL"
  else
    TARGET=portcullis TARGET_URL=$PUBLIC_URL ISSUER="$PUBLIC_URL/o/demo"
    start_server "$target"
    provision_portcullis
    CPU_PID=$SERVER SVC_AUTH=$SERVICE_AUTH
    echo "== Portcullis, $target backend: pid $SERVER on $PUBLIC_URL"
  fi
  endpoints
  if [ "$SETTLE" -gt 0 ]; then
    echo "-- settling: ${SETTLE}s of client_credentials, not measured"
    scenario client_credentials
    wrk_run "$URL" "$CONNECTIONS" "${SETTLE}s" "$CPU_PID"
  fi
  for sc in $SCENARIOS; do
    if [ "$sc" = passkey_flow ] && [ "$target" = peer ]; then continue; fi
    scenario "$sc"
    if [ "$KIND" = flow ]; then dur=$LOGIN_DURATION; else dur=$DURATION; fi
    echo "-- $sc  [$KIND, $([ "$KIND" = flow ] && echo "$LOGIN_CONNECTIONS flows in flight" || echo "-c$CONNECTIONS") -d$dur]"
    if [ "$WARMUP" -gt 0 ]; then
      prepare_run "$sc"
      measure "$sc" "${WARMUP}s"
    fi
    for run in $(seq 1 "$RUNS"); do
      prepare_run "$sc"
      sleep "$PAUSE"
      loadavg=$(cut -d' ' -f1 /proc/loadavg)
      measure "$sc" "$dur"
      cpu_s=$(awk -v d="$CPU_TICKS" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d / hz }')
      per_cpu=$(awk -v d="$CPU_TICKS" -v hz="$CLK_TCK" -v n="$REQS" 'BEGIN { printf "%.1f", d ? n * hz / d : 0 }')
      printf '   run %d: %9s req/s  p50 %8s ms  p99 %8s ms  %8s req per server CPU-s  (%s requests, server CPU %s s, %s unexpected, %s socket errors, %s over 2 s, load avg %s)\n' \
        "$run" "$RPS" "$P50" "$P99" "$per_cpu" "$REQS" "$cpu_s" "$BAD" "$SOCK" "$TIMEOUTS" "$loadavg"
      [ "$BAD" = 0 ] && [ "$SOCK" = 0 ] || echo "   FAILED: $BAD unexpected answers, $SOCK socket errors" >&2
      backend=$([ "$target" = peer ] && echo - || echo "$target")
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$TARGET" "$backend" "$sc" "$run" \
        "$RPS" "$P50" "$P99" "$REQS" "$BAD" "$SOCK" "$cpu_s" "$loadavg" "$TIMEOUTS" >>"$RESULTS"
    done
    if [ "$target" != peer ] && [[ " $PROFILE " == *" $sc "* ]]; then profile "$sc" "$target"; fi
  done
  if [ "$target" = peer ]; then stop_peer; else stop_server; fi
done

[ -z "$RAW" ] || cat "$RESULTS" >>"$RAW"
echo
python3 "$ROOT/bench/compare_summary.py" "$RESULTS"
