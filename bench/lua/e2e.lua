-- wrk script for bench/e2e.py.
--   wrk ... -s e2e.lua URL -- [REQUESTS_FILE|-] [LIMIT]
-- REQUESTS_FILE: one request per line, "path<TAB>header-name<TAB>header-value" (header may be empty); the
-- requests are pre-formatted in init() and cycled round-robin (each connection of a thread takes the next
-- one), so a pool of distinct tokens defeats any verified-token cache. Without a file, wrk's static request
-- (URL + -H headers) is used, so the fast path of wrk stays untouched.
-- LIMIT > 0: each thread stops after LIMIT responses (used for the memory run; enables response()).
-- done() prints one machine-readable line: "@@E2E {json}" with latency percentiles in microseconds.

local reqs = nil
local idx = 0
local limit = 0
local seen = 0

function init(args)
  local file = args[1]
  if file ~= nil and file ~= "" and file ~= "-" then
    reqs = {}
    local f = assert(io.open(file, "r"))
    for line in f:lines() do
      local path, name, value = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      if path == nil then path, name, value = line, "", "" end
      local headers = {}
      if name ~= "" then headers[name] = value end
      reqs[#reqs + 1] = wrk.format("GET", path, headers)
    end
    f:close()
    assert(#reqs > 0, "empty requests file " .. file)
    -- spread threads over the pool
    idx = math.random(#reqs) - 1
    request = function()
      idx = idx + 1
      if idx > #reqs then idx = 1 end
      return reqs[idx]
    end
  end
  limit = tonumber(args[2] or "0") or 0
  if limit > 0 then
    response = function(status, headers, body)
      seen = seen + 1
      if seen >= limit then wrk.thread:stop() end
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '@@E2E {"duration_us":%d,"requests":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.2f,"stdev":%.2f,"max":%d,"p50":%d,"p75":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
