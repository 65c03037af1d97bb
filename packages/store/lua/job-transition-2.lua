--[[
  job-transition: move a job from one of the expected states to a new one (compare-and-set), so that
  the worker, a second worker re-running a stalled job, and a DELETE from the api never both win.

  KEYS[1]  job hash            "<ns>:{<pk>/<dn>}:job:<id>"
  KEYS[2]  device job queue    "<ns>:{<pk>/<dn>}:jobs"
  ARGV[1]  job ID
  ARGV[2]  expected states, comma-separated ("QUEUED,SENT")
  ARGV[3]  new state
  ARGV[4]  "1" when the new state is final: the job leaves the device queue, drops its request payload (no
           longer needed) and is kept ARGV[6] ms more
  ARGV[5]  change of the attempt count (-1, 0 or 1)
  ARGV[6]  retention of a finished job, ms
  ARGV[7..] field, value pairs to set as well

  Returns  {1, state, attempts, updatedAt}  moved
           {0, state, attempts}             not moved: the job is in another state ("" if it does not exist)
]]
local cur = redis.call('HMGET', KEYS[1], 'st', 'att')
if not cur[1] then return {0, '', 0} end
local expected = false
for s in string.gmatch(ARGV[2], '[^,]+') do
  if s == cur[1] then expected = true end
end
if not expected then return {0, cur[1], tonumber(cur[2])} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local att = tonumber(cur[2]) + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'st', ARGV[3], 'att', att, 'ua', now)
if #ARGV > 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 7)) end
if ARGV[4] == '1' then
  redis.call('HSET', KEYS[1], 'fa', now)
  redis.call('HDEL', KEYS[1], 'pl')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
return {1, ARGV[3], att, now}
