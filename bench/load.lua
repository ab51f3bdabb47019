-- wrk script shared by every load in bench/run.sh and bench/compare.sh. Configured from the
-- environment:
--   BENCH_METHOD  GET (default) or POST
--   BENCH_COOKIE  value of the Cookie header (optional)
--   BENCH_BODY    request body for POST (sent as application/x-www-form-urlencoded)
--   BENCH_EXPECT  the status every response must have (default 200)
--   BENCH_AUTH    value of the Authorization header (optional)
--   BENCH_BODY_HAS a string every response body must contain (optional; e.g. "active":true)
--   BENCH_DELAY_MS each connection's pause before each request (optional; 0 = none): a
--                 paced load of at most connections × 1000 / pause requests per second. wrk's
--                 latency counts from the request's sending, so the pause is not in it.
--   BENCH_CHAIN   file of refresh tokens, one a line (optional): refresh-token rotation. Each
--                 request sends grant_type=refresh_token with a token from the thread's pool and
--                 puts back the one its response returns, so there are as many chains as
--                 tokens (give one per connection), each request using the token the previous
--                 one of its chain returned. A response without a new token breaks its chain:
--                 it counts as unexpected, and so does every request that finds the pool empty
--                 (it is sent with a dead token). BENCH_BODY is ignored; BENCH_THREADS must
--                 be wrk's -t.
-- done() prints one machine-readable line that lib.sh's wrk_run parses:
--   RESULT <req/s> <p50 ms> <p99 ms> <requests> <unexpected answers> <socket errors> <timeouts>
-- Socket errors are connect, read and write errors; timeouts are wrk's count of requests still
-- unanswered after its timeout (2 s), which wrk keeps waiting for (their answers are checked).
local method = os.getenv("BENCH_METHOD") or "GET"
local cookie = os.getenv("BENCH_COOKIE")
local body = os.getenv("BENCH_BODY")
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
local auth = os.getenv("BENCH_AUTH")
local body_has = os.getenv("BENCH_BODY_HAS")
if body_has == "" then body_has = nil end
local chain_file = os.getenv("BENCH_CHAIN")
if chain_file == "" then chain_file = nil end

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
if pause > 0 then
  function delay() return pause end
end

wrk.method = method
if cookie and cookie ~= "" then wrk.headers["Cookie"] = cookie end
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
if method == "POST" then
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.body = body or ""
end

-- response() runs in each thread's own Lua state: count there, collect in done().
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  if chain_file then thread:set("chain_index", #threads) end
end

unexpected = 0
local pool = {}

function init(args)
  -- chain_index is set by setup() in this thread's state before init runs; the tokens are
  -- dealt round-robin over the BENCH_THREADS threads (wrk -t).
  if chain_file then
    local chain_threads = tonumber(os.getenv("BENCH_THREADS") or "1")
    local mine, i = {}, 0
    for line in io.lines(chain_file) do
      if line ~= "" then
        if i % chain_threads == chain_index - 1 then table.insert(mine, line) end
        i = i + 1
      end
    end
    pool = mine
  end
end

if chain_file then
  -- wrk calls request() once in the first thread's state before any connection opens, to
  -- check it (script_verify_request): that call must not take a token from the pool.
  local verified = false
  function request()
    if chain_index == 1 and not verified then
      verified = true
      return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=verify-only")
    end
    local token = table.remove(pool) or "chain-broken"
    return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. token)
  end
end

function response(status, headers, body)
  local ok = status == expect and (not body_has or (body and body:find(body_has, 1, true)))
  if chain_file then
    local next_token = ok and body and body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if next_token then table.insert(pool, next_token) else ok = false end
  end
  if not ok then unexpected = unexpected + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("unexpected") or 0) end
  local e = summary.errors
  local sock = e.connect + e.read + e.write
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d %d %d\n",
    rps, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, bad, sock, e.timeout))
end
