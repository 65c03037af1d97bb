--[[
  call-claim: take a device's answer for a call. One round trip from the ingest per answer.
  The answer counts only when it comes from the call's own device, while the call is pending, and first.
  The outcome is stored under the message ID and the owning api pod is notified on its reply channel;
  the payload travels in the notification, so the pod needs no further read.

  KEYS[1]  call hash "<ns>:{<tag>}:call:<id>"
  ARGV[1]  device id "<pk>/<dn>" taken from the topic the answer arrived on
  ARGV[2]  answer payload (bytes)
  ARGV[3]  reply channel prefix "<ns>:reply:"
  ARGV[4]  message ID
  ARGV[5]  retention of the outcome, ms
  ARGV[6]  "" normally; on brokers that cannot mark the platform's own requests (MQTT 3.1.1), the id of
           the ingest instance: the first copy of a custom-topic call this instance sees is the request itself
  ARGV[7]  "p": notify the pod here with PUBLISH (single Redis); "s": Redis Cluster, where a script may not
           publish to another slot's shard channel: return the pod and let the caller SPUBLISH
  ARGV[8]  "t": append the call's stored trace context ("tc") to a "matched" reply after a newline;
           "" (or absent): do not (docs/tracing.md)

  Returns  "matched"    stored, pod notified ("matched:<pod id>" with ARGV[7] = "s": stored, caller notifies;
                        with ARGV[8] = "t" and a stored trace context: followed by "\n<trace context>")
           "unknown"    no such call (never made, or expired)
           "rejected"   the answer came from another device than the call's target
           "own"        the platform's own request, heard back on a custom topic
           "duplicate"  the call was answered already (first answer wins)
           "late"       the call's deadline has passed
]]
local c = redis.call('HMGET', KEYS[1], 'd', 'p', 's', 'dl', 'k')
if not c[1] then return 'unknown' end
if c[1] ~= ARGV[1] then return 'rejected' end
if ARGV[6] ~= '' and c[5] == 'e' then
  local seen = 'e:' .. ARGV[6]
  if redis.call('HSETNX', KEYS[1], seen, '1') == 1 then return 'own' end
end
if c[3] == 'S' then return 'duplicate' end
if c[3] ~= 'P' then return 'late' end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now > tonumber(c[4]) then return 'late' end
redis.call('HSET', KEYS[1], 's', 'S', 'r', ARGV[2], 'at', now)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
-- trace context (docs/tracing.md)
local traced = ''
if ARGV[8] == 't' then
  local tc = redis.call('HGET', KEYS[1], 'tc')
  if tc then traced = '\n' .. tc end
end
if ARGV[7] == 's' then return 'matched:' .. c[2] .. traced end
redis.call('PUBLISH', ARGV[3] .. c[2], ARGV[4] .. ' ' .. ARGV[2])
return 'matched' .. traced
