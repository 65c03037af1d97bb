--[[
  rate-limit: take tokens from a rate limit (GCRA, the "generic cell rate algorithm": one number per
  limit, no timers). Allows `burst` calls at once and then one call every `interval` ms on average.
  One key per limit; every api pod shares it, so the limit holds for the whole cluster. A pod may take
  several tokens at once (a lease it then spends locally), so a busy limit costs far less than one round
  trip per call.

  KEYS[1]  the limit's key, e.g. "<ns>:{k:<key id>}:rate" (API key) or "<ns>:{<pk>/<dn>}:rate" (device,
           same cluster slot as the device's presence hash: call-begin-4.lua takes that one itself)
  ARGV[1]  emission interval, ms (1000 / calls per second; may be fractional)
  ARGV[2]  burst: how many calls may be made at once (>= 1)
  ARGV[3]  tokens wanted (default 1); fewer may be granted

  Stores   the theoretical arrival time (ms, a float as a string), expiring when it is reached: an idle
           limit leaves nothing behind.
  Returns  {granted, 0}         granted (1..wanted) tokens are taken
           {0, retry_after_ms}  refused; nothing is taken; one token would pass retry_after_ms later
]]
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3] or '1')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allowance = interval * burst
-- k tokens fit while tat + k * interval - now <= allowance
local fit = math.floor((allowance - (tat - now)) / interval + 1e-9)
if fit < 1 then
  return {0, math.ceil(tat + interval - now - allowance)}
end
local granted = math.min(wanted, fit)
local next_tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.max(1, math.ceil(next_tat - now)))
return {granted, 0}
