--[[
  quota-release: an API key gives a holding back (its job finished, its batch is done). Safe to repeat.

  KEYS[1]  the key's usage totals   "<ns>:{k:<keyId>}:usage"
  KEYS[2]  the key's holdings       "<ns>:{k:<keyId>}:held"
  ARGV[1]  the holding, as quota-reserve-2.lua took it

  Returns  1  given back
           0  not held (given back already, or past its latest end)
]]
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
local amounts = {string.match(ARGV[1], '|(%d+)|(%d+)|(%d+)$')}
for i, name in ipairs({'jobs', 'devices', 'bytes'}) do
  -- Only non-zero amounts: a Lua -0 reaches Redis as "-0", which HINCRBY refuses.
  if amounts[i] and amounts[i] ~= '0' then redis.call('HINCRBY', KEYS[1], name, '-' .. amounts[i]) end
end
if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
return 1
