--[[
  device-create: register a device unless it is registered already (a registered device is never overwritten).

  KEYS[1]  the device's registry record   "<ns>:{<pk>/<dn>}:device"
  ARGV[1]  the sealed device secret (see @rrpc/crypto SecretBox)
  ARGV[2]  created at, ms since the epoch

  Returns  1  registered now
           0  registered already; nothing changed
]]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 's', ARGV[1], 'e', '1', 'c', ARGV[2])
return 1
