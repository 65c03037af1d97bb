--[[
  batch-record: store one device's result in a batch, once, and count it. The last result ends the batch.
  A second driver re-running a batch after a worker died never counts an item twice.

  KEYS[1]  batch hash          "<ns>:{b:<id>}:batch"
  KEYS[2]  batch results hash  "<ns>:{b:<id>}:results"   item index → result JSON
  ARGV[1]  item index
  ARGV[2]  rrpcCode of the result (the counter it adds to)
  ARGV[3]  result JSON

  The results hash is given the batch hash's remaining lifetime when it is first written.

  Returns  {1, done, total}  recorded
           {0, done, total}  this item had a result already
]]
local total = tonumber(redis.call('HGET', KEYS[1], 'total') or '0')
if redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[3]) == 0 then
  return {0, tonumber(redis.call('HGET', KEYS[1], 'done') or '0'), total}
end
if redis.call('PTTL', KEYS[2]) == -1 then
  local left = redis.call('PTTL', KEYS[1])
  if left > 0 then redis.call('PEXPIRE', KEYS[2], left) else redis.call('PEXPIRE', KEYS[2], 86400000) end
end
redis.call('HINCRBY', KEYS[1], 'c:' .. ARGV[2], 1)
local done = redis.call('HINCRBY', KEYS[1], 'done', 1)
if done >= total then
  local t = redis.call('TIME')
  redis.call('HSET', KEYS[1], 'st', 'DONE', 'fa', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
return {1, done, total}
