#!/usr/bin/env bash
# Scale and memory (issue 16, item 5), against a release build of `portcullis serve --demo` on a
# fresh database, per backend:
#   1. idle RSS: VmRSS of the server IDLE_WAIT seconds after it was started (nothing served but
#      /readyz), then after the one password sign-in every bench script makes (argon2's buffer);
#   2. userinfo throughput (demo's bearer token from a code flow) in requests per server
#      CPU-second, RUNS runs with the demo org alone, then RUNS runs after ORGS orgs with
#      APPS_PER_ORG apps each were added by SQL (and each org's discovery and JWKS fetched once);
#   3. SESSIONS live sessions: rows inserted by SQL (copies of the signed-in session with known
#      cookie values, a browser's user agent), then one pass of wrk (bench/sessions.lua) sending
#      every cookie once to GET /o/demo/login, so the cache holds what live sessions make it hold;
#      server RSS before and after, and with Redis its used_memory before and after, the session
#      keys counted and a sample of them sized with MEMORY USAGE.
# A benchmark, not a test: it prints figures and asserts nothing.
#
#   bench/scale.sh                      embedded backend (SQLite + in-process cache)
#   BACKEND=both bench/scale.sh         then PostgreSQL + Redis (a private redis-server)
#
# Environment (defaults in brackets); the shared knobs (BACKEND, RUNS, PAUSE, BUILD, DURATION,
# CONNECTIONS, THREADS, PG_ADMIN_URL, REDIS_URL, RAW) are lib.sh's:
#   PORT                server port on 127.0.0.1                                   [18597]
#   SESSIONS            live sessions inserted and touched                         [100000]
#   ORGS, APPS_PER_ORG  orgs added for the second userinfo measurement, apps each   [1000, 10]
#   IDLE_WAIT           seconds after start at which idle RSS is read              [5]
#   SETTLE              userinfo is measured from this many seconds after start on [35]: `serve
#                       --demo` seeds the org and its apps at start, and each such write fences
#                       the cached copy for 30 s (FENCE_TTL), during which every token check
#                       reads the org and app rows from the database (about 10x the CPU)
#   PRIVATE_REDIS_PORT  the external backend starts `redis-server --save ""` on this port, so
#                       used_memory counts this run's keys only; 0: use REDIS_URL as it is [18598]
#   STEPS               which measurements: idle userinfo sessions                 [all three]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PORT="${PORT:-18597}"
SESSIONS="${SESSIONS:-100000}"
ORGS="${ORGS:-1000}"
APPS_PER_ORG="${APPS_PER_ORG:-10}"
IDLE_WAIT="${IDLE_WAIT:-5}"
SETTLE="${SETTLE:-35}"
PRIVATE_REDIS_PORT="${PRIVATE_REDIS_PORT:-18598}"
STEPS="${STEPS:-idle userinfo sessions}"
NEEDS="wrk curl python3"
# What a browser sends (Chrome 131 on Windows, 111 bytes); stored in every inserted session.
BROWSER_UA="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

RESULTS="$WORK/results.tsv"   # backend  what  run  value...
: >"$RESULTS"
REDIS_SRV=""
scale_cleanup() {
  local rc=$?
  if [ -n "$REDIS_SRV" ]; then
    # The server's keys go with the private Redis: stop the server first (lib.sh), then Redis.
    stop_server
    kill "$REDIS_SRV" 2>/dev/null || true
    wait "$REDIS_SRV" 2>/dev/null || true
    REDIS_SRV=""
  fi
  (exit "$rc")
  cleanup
}
trap scale_cleanup EXIT

if [[ " $BACKENDS " == *" external "* ]] && [ "$PRIVATE_REDIS_PORT" != 0 ]; then
  command -v redis-server >/dev/null || { echo "redis-server is needed (or PRIVATE_REDIS_PORT=0)" >&2; exit 2; }
  if redis-cli -p "$PRIVATE_REDIS_PORT" PING >/dev/null 2>&1; then
    echo "something already answers on port $PRIVATE_REDIS_PORT; set PRIVATE_REDIS_PORT" >&2; exit 2
  fi
  redis-server --port "$PRIVATE_REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$WORK" --logfile "$WORK/redis.log" &
  REDIS_SRV=$!
  for _ in $(seq 1 50); do redis-cli -p "$PRIVATE_REDIS_PORT" PING >/dev/null 2>&1 && break; sleep 0.1; done
  REDIS_URL="redis://127.0.0.1:$PRIVATE_REDIS_PORT"
fi

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER/status"; }
# rss_parts: "anonymous file-backed threads" (kB, kB, count) of the server.
rss_parts() { awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } /^Threads:/ { t = $2 } END { print a, f, t }' "/proc/$SERVER/status"; }
redis_used() { redis-cli -u "$REDIS_URL" INFO memory | awk -F: '/^used_memory:/ { print $2 + 0 }'; }
record() { local IFS=$'\t'; printf '%s\n' "$*" >>"$RESULTS"; }

# sql <backend>: runs the SQL on stdin in the server's database, in one session; NEWID in it
# becomes the backend's expression for a fresh row id.
sql() {
  if [ "$1" = external ]; then
    sed 's/NEWID/gen_random_uuid()/g' | psql "$PG_ADMIN_URL/$DB_NAME" -q -v ON_ERROR_STOP=1 >/dev/null
  else
    { echo ".bail on"; echo ".timeout 10000"; sed 's/NEWID/randomblob(16)/g'; } \
      | sqlite3 "$WORK/embedded/bench.db" >/dev/null
  fi
}

# access_token: a code flow of demo-catalog from the signed-in browser (single sign-on, PKCE);
# prints the access token.
access_token() {
  python3 - "$BASE" "$SESSION" <<'EOF'
import base64, hashlib, http.client, json, secrets, sys, urllib.parse
base, session = sys.argv[1], sys.argv[2]
u = urllib.parse.urlsplit(base)
redirect = "http://127.0.0.1:9001/callback"
verifier = secrets.token_urlsafe(32)
challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
state = secrets.token_urlsafe(12)
q = urllib.parse.urlencode({"client_id": "demo-catalog", "redirect_uri": redirect, "response_type": "code",
    "scope": "openid email profile", "state": state, "nonce": secrets.token_urlsafe(12),
    "code_challenge": challenge, "code_challenge_method": "S256"})
path = "/o/demo/authorize?" + q
for _ in range(10):
    c = http.client.HTTPConnection(u.hostname, u.port)
    c.request("GET", path, headers={"Cookie": "pc_session=" + session})
    r = c.getresponse(); r.read()
    loc = r.getheader("Location")
    if r.status not in (302, 303) or not loc:
        sys.exit(f"authorize: HTTP {r.status} at {path}")
    if loc.startswith(redirect):
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(loc).query))
        if params.get("state") != state or "code" not in params:
            sys.exit(f"authorize: {loc}")
        break
    path = urllib.parse.urljoin(path, loc)
else:
    sys.exit("authorize: too many redirects")
body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": params["code"],
    "redirect_uri": redirect, "code_verifier": verifier})
auth = base64.b64encode(b"demo-catalog:demo-catalog-secret").decode()
c = http.client.HTTPConnection(u.hostname, u.port)
c.request("POST", "/o/demo/token", body=body, headers={"Authorization": "Basic " + auth,
    "Content-Type": "application/x-www-form-urlencoded"})
r = c.getresponse(); data = r.read()
if r.status != 200:
    sys.exit(f"token: HTTP {r.status} {data[:200]!r}")
print(json.loads(data)["access_token"])
EOF
}

# measure_userinfo <backend> <orgs>: RUNS wrk runs of GET /o/demo/userinfo with a fresh token.
measure_userinfo() {
  local token cpu0 cpu1 line rps p50 p99 reqs bad sock per_cpu
  token=$(access_token)
  sleep "$(awk -v s="$SERVER_STARTED" -v w="$SETTLE" -v now="$(date +%s.%N)" 'BEGIN { d = s + w - now; print (d > 0 ? d : 0) }')"
  export BENCH_METHOD=GET BENCH_COOKIE="" BENCH_BODY="" BENCH_EXPECT=200 BENCH_AUTH="Bearer $token"
  for run in $(seq 1 "$RUNS"); do
    sleep "$PAUSE"
    cpu0=$(server_cpu_ticks)
    wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" -s "$ROOT/bench/load.lua" \
      "$BASE/o/demo/userinfo" >"$WORK/wrk.out" 2>&1 &
    WRK=$!
    wait "$WRK" || true
    WRK=""
    cpu1=$(server_cpu_ticks)
    line=$(grep '^RESULT' "$WORK/wrk.out" || true)
    [ -n "$line" ] || { echo "wrk gave no result:" >&2; cat "$WORK/wrk.out" >&2; exit 1; }
    read -r _ rps p50 p99 reqs bad sock timeouts <<<"$line"; sock=$((sock + ${timeouts:-0}))
    per_cpu=$(awk -v d=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.0f", d ? n * hz / d : 0 }')
    printf '   userinfo, %5s org(s), run %d: %9s req/s  %7s req per server CPU-s  p50 %s ms  p99 %s ms  (%s unexpected, %s socket errors, load avg %s)\n' \
      "$2" "$run" "$rps" "$per_cpu" "$p50" "$p99" "$bad" "$sock" "$(cut -d' ' -f1 /proc/loadavg)"
    if [ "$bad" != 0 ] || [ "$sock" != 0 ]; then
      echo "   WARNING: $bad answers were not 200, $sock socket errors: the run is a failure, not a figure" >&2
      per_cpu=FAILED
    fi
    record "$1" "userinfo_$2" "$run" "$per_cpu" "$rps"
  done
  unset BENCH_AUTH
}

# provision_orgs <backend>: ORGS orgs (scale-1..) with APPS_PER_ORG web apps each, one redirect
# URI per app, copied by SQL from demo's org row and its demo-catalog app; then each org's
# discovery document and JWKS fetched once (JWKS makes the org's signing key).
provision_orgs() {
  local t0 t1
  t0=$(date +%s.%N)
  sql "$1" <<EOF
CREATE TABLE scale_orgs AS
  WITH RECURSIVE g(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM g WHERE k < $ORGS)
  SELECT k, NEWID AS id FROM g;
INSERT INTO orgs (id, slug, name, status, created_at, updated_at, signup_mode, require_verified_email)
  SELECT s.id, 'scale-' || s.k, 'Scale org ' || s.k, o.status, o.created_at, o.updated_at, 'off', o.require_verified_email
  FROM scale_orgs s, orgs o WHERE o.slug = 'demo';
CREATE TABLE scale_apps AS
  WITH RECURSIVE g(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM g WHERE j < $APPS_PER_ORG)
  SELECT s.k, g.j, s.id AS org_id, NEWID AS id FROM scale_orgs s, g;
INSERT INTO apps (id, org_id, client_id, name, app_type, client_secret_hash, session_profile, role, created_at, updated_at, settings)
  SELECT a.id, a.org_id, 'scale-app-' || a.j, 'Scale app ' || a.j, t.app_type, t.client_secret_hash, t.session_profile, t.role, t.created_at, t.updated_at, t.settings
  FROM scale_apps a, apps t
  WHERE t.client_id = 'demo-catalog' AND t.org_id = (SELECT id FROM orgs WHERE slug = 'demo');
INSERT INTO app_redirect_uris (id, org_id, app_id, kind, uri)
  SELECT NEWID, a.org_id, a.id, 'redirect', 'https://app' || a.j || '.org' || a.k || '.example/callback' FROM scale_apps a;
DROP TABLE scale_apps;
DROP TABLE scale_orgs;
EOF
  t1=$(date +%s.%N)
  seq 1 "$ORGS" | xargs -P 4 -I{} curl -sf -o /dev/null -o /dev/null \
    "$BASE/o/scale-{}/.well-known/openid-configuration" "$BASE/o/scale-{}/jwks" \
    || { echo "fetching the new orgs' discovery and JWKS failed" >&2; exit 1; }
  printf '   provisioned %s orgs x %s apps by SQL in %.1f s, warmed (discovery + JWKS of each) in %.1f s\n' \
    "$ORGS" "$APPS_PER_ORG" "$(echo "$t1 - $t0" | bc)" "$(echo "$(date +%s.%N) - $t1" | bc)"
}

# insert_sessions <backend>: SESSIONS copies of the signed-in session, cookie values
# scale<38-digit index>, so sessions.lua can send them.
insert_sessions() {
  local template
  template=$(printf '%s' "$SESSION" | sha256sum | cut -d' ' -f1)
  python3 -c 'import hashlib, sys
for i in range(1, int(sys.argv[1]) + 1):
    print(hashlib.sha256(("scale%038d" % i).encode()).hexdigest())' "$SESSIONS" >"$WORK/hashes.txt"
  local load
  if [ "$1" = external ]; then load="\\copy scale_hashes (h) FROM '$WORK/hashes.txt'"
  else load=".import $WORK/hashes.txt scale_hashes"; fi
  sql "$1" <<EOF
CREATE TABLE scale_hashes (h VARCHAR(64));
$load
INSERT INTO sessions (id, org_id, user_id, token_hash, created_at, last_seen_at, idle_deadline, absolute_expiry,
    remember_me, auth_time, password_at, webauthn_at, user_agent, ip, ended_at, end_reason)
  SELECT NEWID, t.org_id, t.user_id, h.h, t.created_at, t.last_seen_at, t.idle_deadline, t.absolute_expiry,
    t.remember_me, t.auth_time, t.password_at, t.webauthn_at, '$BROWSER_UA', t.ip, NULL, NULL
  FROM scale_hashes h, sessions t WHERE t.token_hash = '$template';
DROP TABLE scale_hashes;
EOF
}

# touch_sessions: one pass of bench/sessions.lua over every inserted cookie.
touch_sessions() {
  local marks="$WORK/touched" line rps p50 p99 reqs bad sock t0
  rm -rf "$marks"; mkdir -p "$marks"
  t0=$(date +%s)
  BENCH_EXPECT=303 SCALE_SESSIONS=$SESSIONS SCALE_THREADS=$THREADS SCALE_DONE_DIR=$marks \
    wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d3600s -s "$ROOT/bench/sessions.lua" \
    "$BASE/o/demo/login" >"$WORK/wrk.out" 2>&1 &
  WRK=$!
  while [ "$(find "$marks" -type f | wc -l)" -lt "$THREADS" ] && kill -0 "$WRK" 2>/dev/null; do sleep 0.2; done
  kill -INT "$WRK" 2>/dev/null || true
  wait "$WRK" || true
  WRK=""
  line=$(grep '^RESULT' "$WORK/wrk.out" || true)
  [ -n "$line" ] || { echo "wrk gave no result:" >&2; cat "$WORK/wrk.out" >&2; exit 1; }
  read -r _ rps p50 p99 reqs bad sock timeouts <<<"$line"; sock=$((sock + ${timeouts:-0}))
  printf '   touched %s sessions in %s s: %s requests (%s req/s, p99 %s ms), %s not 303, %s socket errors\n' \
    "$SESSIONS" "$(($(date +%s) - t0))" "$reqs" "$rps" "$p99" "$bad" "$sock"
  if [ "$bad" != 0 ] || [ "$sock" != 0 ]; then
    echo "   WARNING: not every session was served as live: the figures below are not per live session" >&2
  fi
}

# session_keys: the cache keys of demo's session copies (cookie hash), with Redis.
session_keys() {
  redis-cli -u "$REDIS_URL" --scan --pattern "${REDIS_PREFIX}c:o:*:session:*"
}

measure_sessions() {
  local backend=$1 rss0 rss1 rss2 mem0 mem1 keys per
  sleep "$PAUSE"
  rss0=$(rss_kb)
  [ "$backend" = external ] && mem0=$(redis_used)
  insert_sessions "$backend"
  echo "   inserted $SESSIONS sessions; server RSS $((rss0 / 1024)) MB"
  touch_sessions
  rss1=$(rss_kb)
  sleep 5
  rss2=$(rss_kb)
  printf '   server RSS %s MB -> %s MB just after the pass (%s bytes per session), %s MB 5 s later\n' \
    "$((rss0 / 1024))" "$((rss1 / 1024))" "$(((rss1 - rss0) * 1024 / SESSIONS))" "$((rss2 / 1024))"
  record "$backend" rss_sessions_kb 1 "$rss1" "$rss0" "$rss2"
  if [ "$backend" = external ]; then
    mem1=$(redis_used)
    session_keys >"$WORK/keys.txt"
    keys=$(wc -l <"$WORK/keys.txt")
    per=$(((mem1 - mem0) / SESSIONS))
    printf '   Redis used_memory %s -> %s bytes: %s bytes per session; %s session keys under the prefix\n' \
      "$mem0" "$mem1" "$per" "$keys"
    # What one key holds: MEMORY USAGE (key, value, expiry and allocator overhead), the key's and
    # the value's own lengths, over the first 1,000 keys.
    head -n 1000 "$WORK/keys.txt" | awk '{ print "MEMORY USAGE", $0; print "STRLEN", $0 }' \
      | redis-cli -u "$REDIS_URL" >"$WORK/usage.txt"
    local usage
    usage=$(paste - - <"$WORK/usage.txt" | awk -v klen="$(head -n1 "$WORK/keys.txt" | tr -d '\n' | wc -c)" \
      '{ u += $1; s += $2; n++ } END { printf "%.0f %.0f %d", u / n, s / n, klen }')
    read -r mu vlen klen <<<"$usage"
    printf '   per session key: MEMORY USAGE %s bytes (key %s bytes, JSON value %s bytes, the rest Redis overhead)\n' \
      "$mu" "$klen" "$vlen"
    echo "   one session copy (the value of $(head -n1 "$WORK/keys.txt")):"
    redis-cli -u "$REDIS_URL" GET "$(head -n1 "$WORK/keys.txt")" | sed 's/^/     /'
    record "$backend" redis_per_session 1 "$per" "$keys" "$mu" "$klen" "$vlen"
    if [ "$PRIVATE_REDIS_PORT" != 0 ]; then
      # The same keys under the default prefix (portcullis:, shorter than this run's): copies
      # made with COPY, sized, deleted (a private Redis: nobody else's keys can be hit).
      head -n 1000 "$WORK/keys.txt" | awk -v p="$REDIS_PREFIX" '{ k = "portcullis:" substr($0, length(p) + 1)
          print "COPY", $0, k; print "MEMORY USAGE", k; print "DEL", k }' \
        | redis-cli -u "$REDIS_URL" | awk 'NR % 3 == 2 { u += $1; n++ } END { printf "%.0f", u / n }' >"$WORK/default.txt"
      printf '   the same keys under the default prefix portcullis:: MEMORY USAGE %s bytes\n' "$(cat "$WORK/default.txt")"
      record "$backend" redis_default_prefix 1 "$(cat "$WORK/default.txt")"
    fi
    [ "$PRIVATE_REDIS_PORT" = 0 ] || redis-cli -u "$REDIS_URL" --bigkeys 2>/dev/null \
      | grep -E '^Biggest|keys with' | sed 's/^/   bigkeys: /' || true
  else
    record "$backend" embedded_per_session 1 "$(((rss1 - rss0) * 1024 / SESSIONS))"
  fi
}

printf '# %s  commit %s  %s cores  RUNS=%s  userinfo -t%s -c%s -d%s  SESSIONS=%s ORGS=%sx%s\n' \
  "$(date -u +%FT%TZ)" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" "$(nproc)" "$RUNS" \
  "$THREADS" "$CONNECTIONS" "$DURATION" "$SESSIONS" "$ORGS" "$APPS_PER_ORG"

for backend in $BACKENDS; do
  if [[ " $STEPS " == *" idle "* ]]; then
    # The same, with glibc's malloc told to serve every block of 1 MiB or more by mmap (a fixed
    # threshold): argon2's 19 MiB buffers then go back to the system when freed.
    export MALLOC_MMAP_THRESHOLD_=1048576
    launch_server "$backend"
    sleep "$(awk -v s="$SERVER_STARTED" -v w="$IDLE_WAIT" -v now="$(date +%s.%N)" 'BEGIN { d = s + w - now; print (d > 0 ? d : 0) }')"
    idle=$(rss_kb)
    sign_in "$backend"
    sleep 1
    signed=$(rss_kb)
    unset MALLOC_MMAP_THRESHOLD_
    stop_server
    rm -rf "${WORK:?}/$backend"  # the SQLite file: the measured server starts on a fresh one too
    printf '   with MALLOC_MMAP_THRESHOLD_=1048576: idle RSS %.1f MB; after one password sign-in: %.1f MB\n' \
      "$(echo "$idle / 1024" | bc -l)" "$(echo "$signed / 1024" | bc -l)"
    record "$backend" idle_rss_mmap_kb 1 "$idle" "$signed"
  fi
  launch_server "$backend"
  echo "== backend $backend: server pid $SERVER on $BASE${REDIS_PREFIX:+, Redis $REDIS_URL prefix $REDIS_PREFIX}"
  if [[ " $STEPS " == *" idle "* ]]; then
    sleep "$(awk -v s="$SERVER_STARTED" -v w="$IDLE_WAIT" -v now="$(date +%s.%N)" 'BEGIN { d = s + w - now; print (d > 0 ? d : 0) }')"
    idle=$(rss_kb)
    read -r anon file threads <<<"$(rss_parts)"
  fi
  sign_in "$backend"
  if [[ " $STEPS " == *" idle "* ]]; then
    sleep 1
    signed=$(rss_kb)
    printf '   idle RSS %s s after start: %.1f MB (anonymous %.1f MB, file-backed %.1f MB; %s threads); after one password sign-in: %.1f MB\n' \
      "$IDLE_WAIT" "$(echo "$idle / 1024" | bc -l)" "$(echo "$anon / 1024" | bc -l)" "$(echo "$file / 1024" | bc -l)" \
      "$threads" "$(echo "$signed / 1024" | bc -l)"
    record "$backend" idle_rss_kb 1 "$idle" "$signed" "$anon" "$file" "$threads"
  fi
  if [[ " $STEPS " == *" userinfo "* ]]; then
    measure_userinfo "$backend" 1
    provision_orgs "$backend"
    measure_userinfo "$backend" "$ORGS"
  fi
  [[ " $STEPS " == *" sessions "* ]] && measure_sessions "$backend"
  stop_server
done

[ -z "$RAW" ] || cat "$RESULTS" >>"$RAW"

echo
echo "Summary (medians over $RUNS runs, [min-max]):"
for backend in $BACKENDS; do
  awk -F'\t' -v b="$backend" -v orgs="$ORGS" -v n_sess="$SESSIONS" '
    function med(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j+1] = a[j]; a[j+1] = t }
      return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
    }
    $1 != b { next }
    $2 == "idle_rss_kb" { printf "%-9s idle RSS %.1f MB (target <= 40 MB: %s; anonymous %.1f, file-backed %.1f); after one sign-in %.1f MB\n", b, $4 / 1024, ($4 / 1024 <= 40 ? "met" : "NOT met"), $6 / 1024, $7 / 1024, $5 / 1024 }
    $2 == "userinfo_1" { if ($4 == "FAILED") f1++; else one[++n1] = $4 }
    $2 == ("userinfo_" orgs) { if ($4 == "FAILED") fm++; else many[++nm] = $4 }
    $2 == "rss_sessions_kb" { printf "%-9s server RSS with %d live sessions: %.1f MB (before the pass %.1f MB)\n", b, n_sess, $4 / 1024, $5 / 1024 }
    $2 == "embedded_per_session" { printf "%-9s in-process cache: RSS growth %d bytes per session touched\n", b, $4 }
    $2 == "idle_rss_mmap_kb" { printf "%-9s idle RSS with MALLOC_MMAP_THRESHOLD_=1048576: %.1f MB; after one sign-in %.1f MB\n", b, $4 / 1024, $5 / 1024 }
    $2 == "redis_default_prefix" { printf "%-9s Redis MEMORY USAGE per session key under the default prefix portcullis:: %d\n", b, $4 }
    $2 == "redis_per_session" { printf "%-9s Redis: %d bytes per live session by used_memory (target <= 1024: %s); MEMORY USAGE %d per key (%d session keys)\n", b, $4, ($4 <= 1024 ? "met" : "NOT met"), $6, $5 }
    END {
      if (n1 && nm) {
        m1 = med(one, n1); mm = med(many, nm)
        printf "%-9s userinfo req per server CPU-s: 1 org %.0f [%.0f-%.0f], %d orgs %.0f [%.0f-%.0f]: %+.1f%% (target within 10%%: %s)%s\n",
          b, m1, one[1], one[n1], orgs, mm, many[1], many[nm], (mm - m1) * 100 / m1,
          ((mm - m1) * 100 / m1 >= -10 ? "met" : "NOT met"), (f1 + fm ? ", " f1 + fm " FAILED runs left out" : "")
      }
    }' "$RESULTS"
done
