--[[
  idempotency-begin: the first request with an Idempotency-Key claims it; a retry finds the claim.

  KEYS[1]  idempotency hash    "<ns>:idem:<api key hash>:<key hash>"
  ARGV[1]  fingerprint of the request (method, path and body)
  ARGV[2]  how long an unfinished claim holds, ms (the request's longest possible duration plus a margin)

  Fields   st "P" (in progress) / "D" (done), fp fingerprint, s status, h headers JSON, b body

  Returns  {"new"}                       claimed: run the request, then store its answer
           {"mismatch"}                  the key was used with a different request
           {"pending"}                   the first request is still running
           {"done", status, headers, body}  the stored answer of the first request
]]
local cur = redis.call('HMGET', KEYS[1], 'st', 'fp', 's', 'h', 'b')
if not cur[1] then
  redis.call('HSET', KEYS[1], 'st', 'P', 'fp', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'new'}
end
if cur[2] ~= ARGV[1] then return {'mismatch'} end
if cur[1] ~= 'D' then return {'pending'} end
return {'done', cur[3], cur[4], cur[5]}
