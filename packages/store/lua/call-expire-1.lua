--[[
  call-expire: the api's last look at a call whose timer ran out. If an answer was stored (its
  notification lost), return it; otherwise mark the call timed out, so later answers count as late.

  KEYS[1]  call hash
  ARGV[1]  retention of the outcome, ms

  Returns  {"S", payload}  answered
           {"T"}           timed out (now or before)
           {"X"}           no such call (expired or never made)
]]
local c = redis.call('HMGET', KEYS[1], 's', 'r')
if not c[1] then return {'X'} end
if c[1] == 'S' then return {'S', c[2]} end
if c[1] == 'P' then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 's', 'T', 'at', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return {'T'}
