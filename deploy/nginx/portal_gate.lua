-- Portal's download gate, nginx's half (docs/deploy.md, "The download gate").
--
-- The app decides; this replays. When the app answers a tracked download with X-Accel-Redirect
-- and a decision (portal.delivery.download_gate), header_filter() keeps the decision, the file
-- and the answer's headers in the shared dict `portal_gate`, for the decision's TTL (never
-- past the link's expiry). access() answers an identical request (same URL, User-Agent, scheme
-- and Cookie header; no Authorization) from it: it runs the app's replay script with the app's
-- entry (the one Redis round trip, the durable write, before any byte goes out), which refuses
-- unless the generation the copy was read under is confirmed now (by the app's processes, for
-- at most a second after each reading of the change counter) and the delivery is not revoked;
-- then it sends the file. Whatever it cannot do exactly as the app would (Redis unreachable,
-- the script unknown there, revoked, not confirmed), it leaves to the app.
--
-- Needs the Debian packages libnginx-mod-http-lua and lua-nginx-redis.

local lrucache = require "resty.lrucache"
local redis = require "nginx.redis"

local M = {}

-- Decisions as this worker parsed them, by request key, until they end: each is parsed once,
-- not per request. (Correct however stale: every replay's script checks the delivery and the
-- generation; a refused replay drops the decision here and in the shared dict.)
local parsed = lrucache.new(8192)

local VERSION = "v2"
local FIELDS = 12
local LONGEST_MS = 60000  -- portal.delivery.download_gate.TTL_MS
local TIMEOUT_MS = 1000
-- A decision this close to its end is renewed in the background by the first replay that sees
-- it (one per key at a time): steady downloads of a link never wait for the app again.
local REFRESH_AHEAD = 0.3
local POOL_IDLE_MS = 60000
local POOL_SIZE = 64

-- The app's headers a replay repeats: the ones nginx passes on from an accelerated answer
-- (type, disposition, cache) and the ones deploy/nginx/portal.conf adds from it.
local HEADERS = {
  "Content-Type", "Content-Disposition", "Cache-Control", "X-Content-Type-Options",
  "X-Frame-Options", "Referrer-Policy", "X-Robots-Tag", "Content-Security-Policy",
  "Strict-Transport-Security",
}

local function variable(name)
  return "upstream_http_" .. name:lower():gsub("-", "_")
end

local function fields(line)
  local out = {}
  for field in line:gmatch("%S+") do
    out[#out + 1] = field
  end
  return out
end

-- What the app's decision depended on: the same key, the same decision.
local function key()
  if ngx.req.get_method() ~= "GET" or ngx.var.http_authorization then
    return nil
  end
  return ngx.md5(table.concat({
    ngx.var.scheme, ngx.var.request_uri, ngx.var.http_user_agent or "",
    ngx.var.http_cookie or "",
  }, "\n"))
end

-- Keep the app's decision for request key k: the decision, the file, when it ends, and the
-- answer's headers (HEADERS, from get(name)), for the decision's TTL.
local function keep(k, decision, uri, get)
  local d = fields(decision)
  local ttl = tonumber(d[2])
  if d[1] ~= VERSION or #d ~= FIELDS or not ttl or ttl <= 0 or ttl > LONGEST_MS then
    return
  end
  local lines = { decision, uri, string.format("%.3f", ngx.now() + ttl / 1000) }
  for _, name in ipairs(HEADERS) do
    local value = get(name)
    if value and value ~= "" then
      lines[#lines + 1] = name .. ": " .. value
    end
  end
  ngx.shared.portal_gate:set(k, table.concat(lines, "\n"), ttl / 1000)
end

-- A kept decision as a table: its fields, the entry split around what each request fills in
-- (the time, the request id), the file, its end and the headers; nil when it is not one.
local function parse(kept)
  local line, uri, ends, headers = kept:match("^([^\n]*)\n([^\n]*)\n([^\n]*)\n?(.*)$")
  local d = fields(line or "")
  if d[1] ~= VERSION or #d ~= FIELDS or not uri or not tonumber(ends) then
    return nil
  end
  d.uri, d.ends, d.headers = uri, tonumber(ends), headers
  if d[12] ~= "-" then
    local entry = ngx.decode_base64(d[12])
    local before, rest = (entry or ""):match('^(.-)"@T@"(.*)$')
    local middle, after = (rest or ""):match("^(.-)@R@(.*)$")
    if not after then
      return nil
    end
    d.entry = { before, middle, after }
  end
  return d
end

-- The app's script with the app's entry ("" for a request the app records nothing of, a
-- robot's: the script still checks the delivery and the generation). True when the download
-- may be answered: recorded (0, 1) or nothing to record (2).
local function record(d)
  local entry = ""
  if d.entry then
    entry = d.entry[1] .. string.format("%d", ngx.now() * 1000) .. d.entry[2]
      .. ngx.var.request_id .. d.entry[3]
  end
  local r = redis:new()
  r:set_timeout(TIMEOUT_MS) -- (Debian's lua-nginx-redis has no set_timeouts)
  local host, port, db = d[9], tonumber(d[10]), d[11]
  local ok = r:connect(host, port, { pool = host .. ":" .. port .. "/" .. db })
  if not ok then
    return false
  end
  if r:get_reused_times() == 0 and db ~= "0" then
    if not r:select(db) then
      r:close()
      return false
    end
  end
  local answer = r:evalsha(d[3], 4, d[5], d[6], d[7], d[8], entry, d[4])
  if type(answer) ~= "table" then -- NOSCRIPT (Redis restarted), or an error
    r:close()
    return false
  end
  r:set_keepalive(POOL_IDLE_MS, POOL_SIZE)
  local outcome = tonumber(answer[1])
  if outcome == 1 then -- this entry set the drain flag: the app queues the drain
    ngx.location.capture("/_gate/drain", { method = ngx.HTTP_POST })
  end
  -- -1: revoked (the app answers 410); -3: the generation is not confirmed now (the app
  -- answers, reading the counter, and decides again)
  return outcome == 0 or outcome == 1 or outcome == 2
end

-- The app's decision for a request asked again, in a timer (no client waits): the same URL,
-- User-Agent, scheme and cookies, a request id of its own, and X-Portal-Gate-Refresh (the app
-- decides and records nothing; portal.conf drops the header from clients).
local function refresh(premature, req)
  if premature then
    return
  end
  local host, port = req.app:match("^(.+):(%d+)$")
  local sock = ngx.socket.tcp()
  sock:settimeout(5000)
  if not host or not sock:connect(host, tonumber(port)) then
    return
  end
  local lines = {
    "GET " .. req.uri .. " HTTP/1.0", "Host: " .. req.host, "User-Agent: " .. req.ua,
    "X-Forwarded-For: " .. req.addr, "X-Forwarded-Proto: " .. req.scheme,
    "X-Request-Id: " .. ngx.md5(req.k .. ngx.now() .. math.random()),
    "X-Portal-Gate: " .. req.secret, "X-Portal-Gate-Refresh: 1",
  }
  if req.cookie ~= "" then
    lines[#lines + 1] = "Cookie: " .. req.cookie
  end
  sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n")
  local status = sock:receive("*l")
  local headers = {}
  while status and status:match("^HTTP/1%.%d 200 ") do
    local line = sock:receive("*l")
    if not line or line == "" then
      break
    end
    local name, value = line:match("^([^:]+):%s*(.*)$")
    if name then
      headers[name:lower()] = value
    end
  end
  sock:close()
  local decision, uri = headers["x-portal-gate-decision"], headers["x-accel-redirect"]
  if decision and uri then
    keep(req.k, decision, uri, function(name) return headers[name:lower()] end)
  end
end

local function refresh_soon(k, d)
  if d.ends - ngx.now() > REFRESH_AHEAD then
    return
  end
  if not ngx.shared.portal_gate:add(k .. "#refresh", true, REFRESH_AHEAD) then
    return -- another request of this key started it
  end
  ngx.timer.at(0, refresh, {
    k = k, uri = ngx.var.request_uri, host = ngx.var.host, scheme = ngx.var.scheme,
    ua = ngx.var.http_user_agent or "", cookie = ngx.var.http_cookie or "",
    addr = ngx.var.remote_addr, app = ngx.var.portal_gate_app, secret = ngx.var.portal_gate_secret,
  })
end

-- access_by_lua: replay the app's answer, or let the request go to the app.
function M.access()
  local k = key()
  if not k then
    return
  end
  ngx.var.portal_gate_key = k
  local d = parsed:get(k)
  if not d or d.ends <= ngx.now() then
    local kept = ngx.shared.portal_gate:get(k)
    if not kept then
      return
    end
    d = parse(kept)
    if d then
      parsed:set(k, d, math.max(d.ends - ngx.now(), 0.001))
    end
  end
  if not d or not record(d) then
    ngx.shared.portal_gate:delete(k)
    parsed:delete(k)
    return -- the app answers (and decides again)
  end
  refresh_soon(k, d)
  -- (a variable: it outlives the internal redirect, where ngx.ctx does not)
  ngx.var.portal_gate_headers = d.headers
  return ngx.exec(d.uri)
end

-- header_filter_by_lua in the accelerated files' location: a replay's headers, or keeping the
-- decision of an answer the app just gave.
function M.header_filter()
  local replayed = ngx.var.portal_gate_headers
  if replayed ~= nil and replayed ~= "" then
    for name, value in replayed:gmatch("([^:\n]+): ([^\n]*)") do
      ngx.header[name] = value
    end
    return
  end
  local decision = ngx.var.upstream_http_x_portal_gate_decision
  local k = ngx.var.portal_gate_key
  local uri = ngx.var.upstream_http_x_accel_redirect
  if decision and uri and k and k ~= "" and ngx.status == ngx.HTTP_OK then
    keep(k, decision, uri, function(name) return ngx.var[variable(name)] end)
  end
end

return M
