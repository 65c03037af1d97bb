--[[
  device-reseal: replace a device's sealed secret with the same secret sealed under the current key, only if the
  record still holds the sealed secret that was read (a rotation or a delete in between wins).

  KEYS[1]  the device's registry record   "<ns>:{<pk>/<dn>}:device"
  ARGV[1]  the sealed secret that was read
  ARGV[2]  the same secret, sealed under the current key

  Returns  1  re-sealed
           0  the record changed (or is gone) since it was read; nothing changed
]]
if redis.call('HGET', KEYS[1], 's') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 's', ARGV[2])
return 1
