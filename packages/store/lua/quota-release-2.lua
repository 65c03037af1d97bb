--[[
  quota-release: an API key gives a holding back (its job finished, its batch is done). Safe to repeat.

  KEYS[1]  the key's usage totals   "<ns>:{k:<keyId>}:usage"
  KEYS[2]  the key's holdings       "<ns>:{k:<keyId>}:held"
  ARGV[1]  the holding, as quota-reserve-2.lua took it

  Returns  1  given back
           0  not held (given back already, or past its latest end)
]]
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
local j, d, b = string.match(ARGV[1], '|(%d+)|(%d+)|(%d+)$')
redis.call('HINCRBY', KEYS[1], 'jobs', -tonumber(j or '0'))
redis.call('HINCRBY', KEYS[1], 'devices', -tonumber(d or '0'))
redis.call('HINCRBY', KEYS[1], 'bytes', -tonumber(b or '0'))
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
return 1
