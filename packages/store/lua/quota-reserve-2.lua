--[[
  quota-reserve: an API key takes a holding (a job, or a batch's devices) against its caps, or is refused.
  Holdings past their latest end are dropped first (and their amounts given back), so a holding whose
  release was never made (a worker that died, say) frees its share by itself.

  KEYS[1]  the key's usage totals   "<ns>:{k:<keyId>}:usage"  HASH jobs, devices, bytes
  KEYS[2]  the key's holdings       "<ns>:{k:<keyId>}:held"   ZSET "<kind>|<id>|<jobs>|<devices>|<bytes>" by latest end, ms
  ARGV[1]  the holding (member of KEYS[2]; its amounts are the last three fields)
  ARGV[2]  the holding's latest end, ms since the epoch
  ARGV[3]  cap on jobs     ("0": none)
  ARGV[4]  cap on devices  ("0": none)
  ARGV[5]  cap on bytes    ("0": none)

  Returns  {1}                                       taken (or held already: a retry changes nothing)
           {0, "jobs"|"devices"|"bytes", used, cap, retry_after_ms}   over that cap; nothing changed
]]
local function amounts(member)
  local j, d, b = string.match(member, '|(%d+)|(%d+)|(%d+)$')
  return tonumber(j or '0'), tonumber(d or '0'), tonumber(b or '0')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local names = {'jobs', 'devices', 'bytes'}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)) do
  local gone = {amounts(m)}
  for i = 1, 3 do
    -- Only non-zero amounts: a Lua -0 reaches Redis as "-0", which HINCRBY refuses.
    if gone[i] > 0 then redis.call('HINCRBY', KEYS[1], names[i], -gone[i]) end
  end
  redis.call('ZREM', KEYS[2], m)
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {1} end
local want = {amounts(ARGV[1])}
local used = redis.call('HMGET', KEYS[1], 'jobs', 'devices', 'bytes')
for i = 1, 3 do
  local cap = tonumber(ARGV[2 + i])
  local have = tonumber(used[i] or '0')
  if cap > 0 and want[i] > 0 and have + want[i] > cap then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local retry = 1000
    if first[2] then retry = math.max(1000, tonumber(first[2]) - now) end
    return {0, names[i], have, cap, math.min(retry, 60000)}
  end
end
for i = 1, 3 do
  if want[i] > 0 then redis.call('HINCRBY', KEYS[1], names[i], want[i]) end
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
-- Both keys live as long as the longest holding.
local ttl = tonumber(ARGV[2]) - now
for _, key in ipairs({KEYS[1], KEYS[2]}) do
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, math.max(1, ttl)) end
end
return {1}
