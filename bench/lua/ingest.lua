-- POST read-time reports to /t/r, one report per batch, rotating over view-session tokens.
-- wrk -s bench/lua/ingest.lua URL -- TOKENS_FILE PHASE_SECONDS RUN_TAG PAGES [PATH]
-- (PATH: where to post, /t/r unless given; P2's floor posts the same bodies to /_bench/ping)
--
-- Every report has a key of its own, so every acknowledged (202) batch must be stored.
-- For PHASE_SECONDS from a thread's first request it sends reports; after that only GET
-- /_bench/hello, so that when wrk stops, the requests it abandons in flight are not reports:
-- every report sent is answered, and "acknowledged" is exact. done() prints one line
--   BENCH {"acked": N, "failed": N, "rate": R, "statuses": {...}}
-- where rate is the acknowledged reports per second of the reporting phase.

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local tokens = {}
local index = 0
local phase = 10
local tag = "r"
local pages = 1
local path = "/t/r"
local sent = 0
local started = nil
local deadline = nil
acked = 0
failed = 0
tail = 0
first = 0
last = 0
statuses = ""
local seen = {}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      table.insert(tokens, line)
    end
  end
  phase = tonumber(args[2])
  tag = args[3]
  pages = tonumber(args[4])
  path = args[5] or path
  index = ((id or 1) * 7919) % #tokens
  wrk.headers["Content-Type"] = "text/plain;charset=UTF-8" -- what sendBeacon sends
  wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120"
end

function request()
  local t = now()
  if started == nil then
    started = t
    deadline = t + phase
    first = t
  end
  if t >= deadline then
    return wrk.format("GET", "/_bench/hello", nil, nil)
  end
  sent = sent + 1
  index = index % #tokens + 1
  local key = tag .. "t" .. id .. "n" .. sent
  local body = '{"s":"' .. tokens[index] .. '","reports":[{"k":"' .. key ..
    '","type":"page.viewed","page":' .. ((sent % pages) + 1) .. ',"ms":10000}]}'
  return wrk.format("POST", path, nil, body)
end

function response(status, headers, body)
  if status == 202 then
    acked = acked + 1
    last = now()
  elseif status == 200 then
    tail = tail + 1 -- the hello requests after the phase
  else
    failed = failed + 1
    seen[status] = (seen[status] or 0) + 1
    local parts = {}
    for code, n in pairs(seen) do
      table.insert(parts, '"' .. code .. '": ' .. n)
    end
    statuses = table.concat(parts, ", ")
  end
end

function done(summary, latency, requests)
  local total_acked, total_failed, rate = 0, 0, 0
  local merged = {}
  for _, thread in ipairs(threads) do
    local a = thread:get("acked")
    total_acked = total_acked + a
    total_failed = total_failed + thread:get("failed")
    local span = thread:get("last") - thread:get("first")
    if a > 0 and span > 0 then
      rate = rate + a / span
    end
    local s = thread:get("statuses")
    if s ~= nil and #s > 0 then
      table.insert(merged, s)
    end
  end
  io.write(string.format('BENCH {"acked": %d, "failed": %d, "rate": %.2f, "statuses": [%s]}\n',
    total_acked, total_failed, rate, "{" .. table.concat(merged, "}, {") .. "}"))
end
