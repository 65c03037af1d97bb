--[[
  presence-subscribe: a broker says a device session subscribed to, or unsubscribed from, a topic filter
  (EMQX 5 session.subscribed / session.unsubscribed). Events arrive late, out of order and repeated, so
  every filter keeps the time and client ID of its last event, and an event older than that changes
  nothing. An event of a session that ended before the connection on record began (another client ID,
  or the same one after a clean start) changes nothing either.

  KEYS[1]  presence hash "<ns>:{<pk>/<dn>}:presence"
  ARGV[1]  client ID
  ARGV[2]  event time, ms
  ARGV[3]  "s" subscribed | "u" unsubscribed
  ARGV[4]  the topic filter ($share/<group>/ and $queue/ prefixes already taken off)
  ARGV[5]  most filters kept per device (unsubscribed ones included, until they are pushed out)
  ARGV[6]  channel to PUBLISH the device id on when a filter of the current session is added ("": none;
           "" on a Redis Cluster, where PresenceStore SPUBLISHes after a "subscribed" result)
  ARGV[7]  device id "<pk>/<dn>" (the message)
  ARGV[8]  time to keep a record of a device that is not connected, ms

  Fields   sf  JSON object: filter -> [event time ms, client ID, 1 subscribed | 0 unsubscribed]
           (st, c, ca, cs: see presence-connect-1.lua)

  Returns  "subscribed" | "unsubscribed" | "repeat" | "stale" | "full" (too many filters; nothing kept)
]]
local cur = redis.call('HMGET', KEYS[1], 'st', 'c', 'ca', 'cs', 'sf')
local ts = tonumber(ARGV[2])
local ca = tonumber(cur[3])
local on = ARGV[3] == 's' and 1 or 0
if ca and ts < ca and (cur[2] ~= ARGV[1] or cur[4] ~= '0') then return 'stale' end
local filters = cur[5] and cjson.decode(cur[5]) or {}
local e = filters[ARGV[4]]
if e then
  if e[1] > ts then return 'stale' end
  if e[1] == ts and e[2] == ARGV[1] and e[3] == on then return 'repeat' end
else
  local count, victim, victimTs = 0, nil, nil
  for f, v in pairs(filters) do
    count = count + 1
    -- pushed out first: the oldest unsubscribed filter or filter of another session
    if (v[3] == 0 or v[2] ~= ARGV[1]) and (victimTs == nil or v[1] < victimTs) then victim, victimTs = f, v[1] end
  end
  if count >= tonumber(ARGV[5]) then
    if victim == nil then return 'full' end
    filters[victim] = nil
  end
end
filters[ARGV[4]] = {ts, ARGV[1], on}
redis.call('HSET', KEYS[1], 'sf', cjson.encode(filters))
if cur[1] ~= '1' then redis.call('PEXPIRE', KEYS[1], ARGV[8]) end
if on == 1 then
  if cur[1] == '1' and cur[2] == ARGV[1] and ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
  return 'subscribed'
end
return 'unsubscribed'
