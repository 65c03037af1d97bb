--[[
  call-begin: check the target device's registry record, its presence and its downlink rate limit and, when
  it is registered, enabled, connected and under the limit, record the pending call. One round trip from the
  api per call.

  KEYS[1]  presence hash of the device        "<ns>:{<pk>/<dn>}:presence"
  KEYS[2]  call hash of the new message ID    "<ns>:{<tag>}:call:<id>"  (same cluster slot as KEYS[1])
  KEYS[3]  the device's rate-limit key        "<ns>:{<pk>/<dn>}:rate"   (same slot; see rate-limit-1.lua)
  KEYS[4]  the device's registry record       "<ns>:{<pk>/<dn>}:device" (same slot; field e: "1" enabled)
  ARGV[1]  device id "<pk>/<dn>"
  ARGV[2]  owning instance (api pod) id: names the reply channel the answer is sent to
  ARGV[3]  call timeout, ms
  ARGV[4]  retention of the outcome after the deadline, ms
  ARGV[5]  topic kind: "s" (system topics) or "e" (custom topics)
  ARGV[6]  the device's emission interval, ms (1000 / calls per second); "0": no limit
  ARGV[7]  burst: calls the device may get at once
  ARGV[8]  "1": the device must be registered and enabled (RRPC_DEVICE_REGISTRY=on); "0": presence only
  ARGV[9]  trace context of the call's publish span, "<traceparent>[\n<tracestate>]"; "": none
           (stored as field "tc"; call-claim returns it to the ingest: docs/tracing.md)
  ARGV[10] owner: the id of the API key that makes the call (outcome reads check it)
  ARGV[11] "1": the request topic must match one of the session's subscriptions (RRPC_TRACK_SUBSCRIPTIONS)
  ARGV[12] subscribe grace, ms: a device connected less long ago that has no matching filter is waited for
  ARGV[13] the request topic (ARGV[11] "1" only)

  Returns  {1, deadline_ms, now_ms}   pending call recorded (and one token taken from the device's limit)
           {2, "OFFLINE" | "HALFCONN"} device not connected; nothing recorded
           {3}                         this message ID is in use already; the caller draws another
           {4, retry_after_ms}         over the device's rate limit; nothing recorded
           {5, "DEVICE_NOT_FOUND" | "DEVICE_DISABLED"}  not registered, or disabled; nothing recorded
           {6, "NOT_SUBSCRIBED"}       no filter of the session matches the request topic; nothing recorded
           {6, "WAIT", ms}             no match yet, but the device connected less than the grace ago
]]
if ARGV[8] == '1' then
  local enabled = redis.call('HGET', KEYS[4], 'e')
  if not enabled then return {5, 'DEVICE_NOT_FOUND'} end
  if enabled ~= '1' then return {5, 'DEVICE_DISABLED'} end
end
local p = redis.call('HMGET', KEYS[1], 'st', 'da', 'ka', 'cl')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if p[1] ~= '1' then
  if p[1] == '0' and p[4] ~= '1' and p[2] and p[3] and now - tonumber(p[2]) < tonumber(p[3]) * 1000 then
    return {2, 'HALFCONN'}
  end
  return {2, 'OFFLINE'}
end
-- Subscriptions (fields sf, c, ca: see presence-subscribe-1.lua): MQTT matching of the request topic.
if ARGV[11] == '1' then
  local s = redis.call('HMGET', KEYS[1], 'sf', 'c', 'ca')
  local function levels(str)
    local out, i = {}, 1
    while true do
      local j = string.find(str, '/', i, true)
      if not j then
        out[#out + 1] = string.sub(str, i)
        return out
      end
      out[#out + 1] = string.sub(str, i, j - 1)
      i = j + 1
    end
  end
  local topic = levels(ARGV[13])
  local function matches(filter)
    local f = levels(filter)
    for i = 1, #f do
      if f[i] == '#' then return i == #f end
      if i > #topic or (f[i] ~= '+' and f[i] ~= topic[i]) then return false end
    end
    return #f == #topic
  end
  local found = false
  if s[1] then
    for filter, v in pairs(cjson.decode(s[1])) do
      if v[3] == 1 and v[2] == s[2] and matches(filter) then
        found = true
        break
      end
    end
  end
  if not found then
    local left = (tonumber(s[3]) or 0) + tonumber(ARGV[12]) - now
    if left > 0 then return {6, 'WAIT', left} end
    return {6, 'NOT_SUBSCRIBED'}
  end
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {3}
end
local interval = tonumber(ARGV[6])
if interval > 0 then
  -- GCRA, as rate-limit-1.lua: the theoretical arrival time may run at most `burst` intervals ahead.
  local exact = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
  local tat = tonumber(redis.call('GET', KEYS[3]) or '0')
  if tat < exact then tat = exact end
  local ahead = tat + interval - exact
  local allowance = interval * tonumber(ARGV[7])
  if ahead > allowance then
    return {4, math.ceil(ahead - allowance)}
  end
  redis.call('SET', KEYS[3], string.format('%.3f', tat + interval), 'PX', math.max(1, math.ceil(ahead)))
end
local deadline = now + tonumber(ARGV[3])
-- One HSET for the whole record; the trace context (docs/tracing.md) only when the call is traced.
if ARGV[9] ~= '' then
  redis.call('HSET', KEYS[2], 'd', ARGV[1], 'p', ARGV[2], 's', 'P', 't', now, 'dl', deadline, 'k', ARGV[5], 'o', ARGV[10], 'tc', ARGV[9])
else
  redis.call('HSET', KEYS[2], 'd', ARGV[1], 'p', ARGV[2], 's', 'P', 't', now, 'dl', deadline, 'k', ARGV[5], 'o', ARGV[10])
end
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[4]))
return {1, deadline, now}
