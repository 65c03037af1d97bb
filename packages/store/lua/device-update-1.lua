--[[
  device-update: set fields of a registered device's record; an unregistered device stays unregistered (never
  created half by an update racing a delete).

  KEYS[1]  the device's registry record   "<ns>:{<pk>/<dn>}:device"
  ARGV     field, value pairs: "e" enabled ("1" / "0"), "s" sealed secret

  Returns  1  updated
           0  no such device; nothing changed
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
