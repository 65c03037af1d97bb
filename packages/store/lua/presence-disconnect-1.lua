--[[
  presence-disconnect: a broker says a device's connection ended. A disconnect that belongs to an
  older connection than the one on record (including a session taken over by a newer connection)
  never marks the newer one offline; repeats are harmless.

  KEYS[1]  presence hash
  ARGV[1]  client ID
  ARGV[2]  disconnected_at, ms
  ARGV[3]  connected_at of the ended connection, ms ("" when the event does not carry it)
  ARGV[4]  reason
  ARGV[5]  time to keep an offline record, ms
  ARGV[6]  "1": a clean end (normal, kicked, ...): OFFLINE at once; else an abnormal one (keepalive_timeout,
           sock_closed, ...): HALFCONN for one keep-alive period (field cl; see call-begin)

  Returns  "offline" | "repeat" | "stale" | "superseded" (takenover/discarded: a newer session exists)
           | "foreign" (another client ID than the session on record: it changes nothing)
]]
if ARGV[4] == 'takenover' or ARGV[4] == 'discarded' then return 'superseded' end
local cur = redis.call('HMGET', KEYS[1], 'st', 'ca', 'da', 'c')
-- Session binding: only the session on record can end it (a client naming the device with another
-- client ID cannot knock it offline).
if cur[4] and cur[4] ~= ARGV[1] then return 'foreign' end
local da = tonumber(ARGV[2])
local eventCa = tonumber(ARGV[3])
local curCa = tonumber(cur[2])
if curCa then
  if eventCa and eventCa < curCa then return 'stale' end
  if da < curCa then return 'stale' end
end
if cur[1] == '0' and cur[3] and tonumber(cur[3]) >= da then return 'repeat' end
redis.call('HSET', KEYS[1], 'st', '0', 'da', ARGV[2], 'dca', ARGV[3] ~= '' and ARGV[3] or (cur[2] or ''), 'r', ARGV[4], 'cl', ARGV[6] == '1' and '1' or '0')
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 'offline'
