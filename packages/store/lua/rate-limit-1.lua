--[[
  rate-limit: take one token from a rate limit (GCRA, the "generic cell rate algorithm": one number per
  limit, no timers). Allows `burst` calls at once and then one call every `interval` ms on average.
  One key per limit; every api pod shares it, so the limit holds for the whole cluster.

  KEYS[1]  the limit's key, e.g. "<ns>:{k:<key id>}:rate" (API key) or "<ns>:{<pk>/<dn>}:rate" (device,
           same cluster slot as the device's presence hash, so call-begin could take it in the same script)
  ARGV[1]  emission interval, ms (1000 / calls per second; may be fractional)
  ARGV[2]  burst: how many calls may be made at once (>= 1)

  Stores   the theoretical arrival time (ms, a float as a string), expiring when it is reached: an idle
           limit leaves nothing behind.
  Returns  {1, 0}               allowed; the token is taken
           {0, retry_after_ms}  refused; nothing is taken; a call made retry_after_ms later would pass
]]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next_tat = tat + interval
local ahead = next_tat - now
local allowance = interval * burst
if ahead > allowance then
  return {0, math.ceil(ahead - allowance)}
end
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.max(1, math.ceil(ahead)))
return {1, 0}
