--[[
  presence-connect: a broker says a device connected. Events arrive late, out of order and repeated,
  so a connection older than the one on record, or one already ended, changes nothing.

  KEYS[1]  presence hash "<ns>:{<pk>/<dn>}:presence"
  ARGV[1]  client ID
  ARGV[2]  connected_at, ms
  ARGV[3]  keep-alive, s
  ARGV[4]  broker node ("" if unknown)
  ARGV[5]  peer address ("" if unknown)
  ARGV[6]  channel to PUBLISH the device id on when it comes online ("" or absent: none); wakes the
           jobs waiting for this device and synchronous calls waiting with connectTimeoutMs. "" on a Redis
           Cluster: the channel is in another slot, so PresenceStore SPUBLISHes after an "online" result
  ARGV[7]  device id "<pk>/<dn>" (the message)
  ARGV[8]  "0": the connection resumed its session (clean_start false); else a clean start, which drops
           the subscriptions recorded before it (see presence-subscribe-1.lua); absent: "1"

  Fields   st "1"/"0", c client ID, ca connected_at, ka keep-alive, da disconnected_at,
           dca connected_at of the connection that ended at da, r last disconnect reason, n node, ip peer,
           cs "0" session resumed / "1" clean start, cl "1" the last disconnect was clean (see
           presence-disconnect-1.lua), sf subscriptions (see presence-subscribe-1.lua)

  Returns  "online" | "repeat" (same connection again) | "stale" (older or already ended connection)
]]
local cur = redis.call('HMGET', KEYS[1], 'st', 'ca', 'da', 'dca')
local ca = tonumber(ARGV[2])
local curCa = tonumber(cur[2])
if curCa and ca < curCa then return 'stale' end
if cur[4] and tonumber(cur[4]) == ca then return 'stale' end
if cur[3] and ca < tonumber(cur[3]) then return 'stale' end
if curCa == ca and cur[1] == '1' then return 'repeat' end
redis.call('HSET', KEYS[1], 'st', '1', 'c', ARGV[1], 'ca', ARGV[2], 'ka', ARGV[3], 'n', ARGV[4], 'ip', ARGV[5])
redis.call('PERSIST', KEYS[1])
-- Subscriptions: a clean start (or another client ID) ends the old session, and with it its filters;
-- filters whose events are newer than this connection are kept (their webhooks came before this one).
local clean = ARGV[8] ~= '0'
redis.call('HSET', KEYS[1], 'cs', clean and '1' or '0')
local sf = redis.call('HGET', KEYS[1], 'sf')
if sf then
  local filters, changed = cjson.decode(sf), false
  for f, v in pairs(filters) do
    if v[1] < ca and (clean or v[2] ~= ARGV[1]) then
      filters[f] = nil
      changed = true
    end
  end
  if changed then redis.call('HSET', KEYS[1], 'sf', cjson.encode(filters)) end
end
if ARGV[6] and ARGV[6] ~= '' then redis.call('PUBLISH', ARGV[6], ARGV[7]) end
return 'online'
