-- wrk script shared by every load in bench/run.sh. Configured from the environment:
--   BENCH_METHOD  GET (default) or POST
--   BENCH_COOKIE  value of the Cookie header (optional)
--   BENCH_BODY    request body for POST (sent as application/x-www-form-urlencoded)
--   BENCH_EXPECT  the status every response must have (default 200)
--   BENCH_AUTH    value of the Authorization header (optional)
-- done() prints one machine-readable line that run.sh parses:
--   RESULT <req/s> <p50 ms> <p99 ms> <requests> <unexpected statuses> <socket errors>
local method = os.getenv("BENCH_METHOD") or "GET"
local cookie = os.getenv("BENCH_COOKIE")
local body = os.getenv("BENCH_BODY")
local expect = tonumber(os.getenv("BENCH_EXPECT") or "200")
local auth = os.getenv("BENCH_AUTH")

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
end

unexpected = 0
function response(status, headers, body)
  if status ~= expect then unexpected = unexpected + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + (t:get("unexpected") or 0) end
  local e = summary.errors
  local sock = e.connect + e.read + e.write + e.timeout
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format("RESULT %.1f %.3f %.3f %d %d %d\n",
    rps, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, bad, sock))
end
