-- wrk script of bench/flood.sh: an anonymous flood against one org, cycling through three
-- requests: a CORS preflight of the token endpoint (a registered SPA origin or not), a passkey
-- sign-in start, and a sign-in with a wrong password for a random address. Configured from the
-- environment:
--   FLOOD_ORG     the org's slug
--   FLOOD_CSRF    a CSRF token (sent as the pc_csrf cookie and as the form field / header)
--   FLOOD_ORIGINS space-separated origins to offer in preflights
--   FLOOD_DELAY_MS pause of each connection between two requests (0: as fast as answered)
-- done() prints: FLOOD <req/s> <requests> <2xx> <3xx> <4xx> <429> <5xx> <socket errors>
local org = os.getenv("FLOOD_ORG") or "flood"
local csrf = os.getenv("FLOOD_CSRF") or ""
local origins = {}
for o in string.gmatch(os.getenv("FLOOD_ORIGINS") or "https://evil.example", "%S+") do
  table.insert(origins, o)
end

local pause = tonumber(os.getenv("FLOOD_DELAY_MS") or "0")
if pause > 0 then
  function delay() return pause end
end

local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

n = 0
s2, s3, s4, s429, s5 = 0, 0, 0, 0, 0

function request()
  n = n + 1
  local kind = n % 3
  if kind == 0 then
    return wrk.format("OPTIONS", "/o/" .. org .. "/token", {
      ["Origin"] = origins[(n % #origins) + 1],
      ["Access-Control-Request-Method"] = "POST",
    })
  elseif kind == 1 then
    return wrk.format("POST", "/o/" .. org .. "/webauthn/passkey-login/start", {
      ["Content-Type"] = "application/json",
      ["Cookie"] = "pc_csrf=" .. csrf,
      ["X-CSRF-Token"] = csrf,
    }, "{}")
  else
    local body = "email=nobody" .. n .. "%40flood.example&password=wrong-password&csrf=" .. csrf
    return wrk.format("POST", "/o/" .. org .. "/login", {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["Cookie"] = "pc_csrf=" .. csrf,
    }, body)
  end
end

function response(status, headers, body)
  if status == 429 then s429 = s429 + 1
  elseif status >= 500 then s5 = s5 + 1
  elseif status >= 400 then s4 = s4 + 1
  elseif status >= 300 then s3 = s3 + 1
  else s2 = s2 + 1 end
end

function done(summary, latency, requests)
  local t2, t3, t4, t429, t5 = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t2 = t2 + (t:get("s2") or 0); t3 = t3 + (t:get("s3") or 0); t4 = t4 + (t:get("s4") or 0)
    t429 = t429 + (t:get("s429") or 0); t5 = t5 + (t:get("s5") or 0)
  end
  local e = summary.errors
  io.write(string.format("FLOOD %.1f %d %d %d %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6), summary.requests, t2, t3, t4, t429, t5,
    e.connect + e.read + e.write + e.timeout))
end
