--[[
  job-create: record a persistent call (a job) for a device and put it in the device's queue, once.
  The api and the worker may both try (the worker only when the api died between queueing and recording);
  the first one records, the second changes nothing.

  KEYS[1]  job hash            "<ns>:{<pk>/<dn>}:job:<id>"
  KEYS[2]  device job queue    "<ns>:{<pk>/<dn>}:jobs"     ZSET of unfinished job IDs by creation order
  KEYS[3]  device job index    "<ns>:{<pk>/<dn>}:jobidx"   ZSET of every job ID (finished too) by creation order
  ARGV[1]  job ID
  ARGV[2]  lifetime of the job's keys, ms: the job hash gets it from the moment it is written, and the queue
           and the index are extended to it (a final transition shortens the job's to its retention)
  ARGV[3..] field, value pairs of the new job (state QUEUED, attempts 0, times and the order are set here)

  Returns  {1, createdAt}  recorded
           {0, createdAt}  already recorded
]]
local existing = redis.call('HGET', KEYS[1], 'ca')
if existing then return {0, tonumber(existing)} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = 1
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  local top = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
  if top[2] and tonumber(top[2]) >= seq then seq = tonumber(top[2]) + 1 end
end
redis.call('HSET', KEYS[1], 'st', 'QUEUED', 'att', 0, 'ca', now, 'ua', now, 'seq', seq, unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('ZADD', KEYS[3], seq, ARGV[1])
for _, key in ipairs({KEYS[2], KEYS[3]}) do
  if redis.call('PTTL', key) < tonumber(ARGV[2]) then redis.call('PEXPIRE', key, ARGV[2]) end
end
return {1, now}
