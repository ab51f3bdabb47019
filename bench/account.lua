-- wrk script: an authenticated page view (one session lookup) with a fixed session cookie.
local session = os.getenv("BENCH_SESSION")
wrk.headers["Cookie"] = "pc_session=" .. session

local non200 = 0
function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("unexpected (non-200) responses: %d\n", non200))
end
