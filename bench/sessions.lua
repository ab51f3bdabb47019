-- wrk script of bench/scale.sh: one pass over SCALE_SESSIONS session cookies, each sent once
-- (`pc_session=scale` + the index zero-padded to 38 digits: 43 characters, the length of a real
-- cookie), so the server looks every session up the way a browser's request makes it do, and its
-- cache ends up holding what that many live sessions make it hold. Thread t of SCALE_THREADS
-- sends indexes t+1, t+1+SCALE_THREADS, ...; when all its answers are in, it writes
-- SCALE_DONE_DIR/<t> and stops (scale.sh then interrupts wrk, whose -d is only an upper bound).
-- Every answer must be BENCH_EXPECT (303: a live session is redirected away from the sign-in page;
-- a 200 would be the sign-in form, i.e. an unknown or ended session).
-- done() prints: RESULT <req/s> <p50 ms> <p99 ms> <requests> <unexpected statuses> <socket errors>
local n = tonumber(os.getenv("SCALE_SESSIONS"))
local stride = tonumber(os.getenv("SCALE_THREADS"))
local done_dir = os.getenv("SCALE_DONE_DIR")
local expect = tonumber(os.getenv("BENCH_EXPECT") or "303")

local threads = {}
local count = 0
function setup(thread)
  thread:set("tid", count)
  count = count + 1
  table.insert(threads, thread)
end

-- Per-thread state (each thread has its own Lua state).
local nexti, mine, answered, finished
unexpected = 0
function init(args)
  nexti = tid + 1
  mine = 0
  for _ = tid + 1, n, stride do mine = mine + 1 end
  answered = 0
  finished = false
end

function request()
  local i = nexti
  if i > n then i = tid + 1 end -- in flight past the stripe: a repeat, harmless
  nexti = nexti + stride
  return wrk.format("GET", nil, { Cookie = string.format("pc_session=scale%038d", i) })
end

function response(status, headers, body)
  answered = answered + 1
  if answered <= mine and status ~= expect then unexpected = unexpected + 1 end
  if answered == mine and not finished then
    finished = true
    local f = io.open(done_dir .. "/" .. tid, "w")
    if f then f:write(answered, "\n"); f:close() end
    wrk.thread:stop()
  end
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
