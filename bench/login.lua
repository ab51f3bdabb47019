-- wrk script: POST the sign-in form with a fixed CSRF cookie/token pair (double-submit, so one
-- pair serves every request). BENCH_CSRF, BENCH_EMAIL, BENCH_PASSWORD come from the environment.
local csrf = os.getenv("BENCH_CSRF")
local email = os.getenv("BENCH_EMAIL") or "alice@demo.example"
local password = os.getenv("BENCH_PASSWORD") or "portcullis-demo"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "pc_csrf=" .. csrf
wrk.body = "email=" .. email:gsub("@", "%%40") .. "&password=" .. password .. "&csrf=" .. csrf

local non303 = 0
function response(status, headers, body)
  if status ~= 303 then non303 = non303 + 1 end
end

function done(summary, latency, requests)
  io.write(string.format("unexpected (non-303) responses: %d\n", non303))
end
