"""Lua scripts of the Redis backend: each runs as one atomic round trip.

Process liveness: every server process keeps a key ``<prefix>proc:<id>`` alive
with a short expiry; counts and members of processes whose key expired (a
crash, a kill) are ignored and pruned.
"""

from __future__ import annotations

# KEYS: id counter, history list.  ARGV: entry JSON without id, size, bus,
# bus message head (JSON object text without its closing brace).
# The entry and the bus message get the id spliced in, so the frame is encoded
# once in Python and never re-encoded by Lua (cjson would alter numbers).
APPEND_AND_PUBLISH = """
local id = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], '{"id":' .. id .. ',' .. string.sub(ARGV[1], 2))
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4] .. ',"i":' .. id .. ',"f":' .. ARGV[1] .. '}')
end
return id
"""

# KEYS: connection counts hash.  ARGV: process id, limit, ttl, process key prefix.
ADD_CONNECTION = """
redis.call('SET', ARGV[4] .. ARGV[1], '1', 'EX', tonumber(ARGV[3]))
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if fields[i] == ARGV[1] or redis.call('EXISTS', ARGV[4] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
if total >= tonumber(ARGV[2]) then
  return 0
end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1
"""

# KEYS: connection counts hash.  ARGV: process id.
REMOVE_CONNECTION = """
local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if left <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return left
"""

# KEYS: connection counts hash.  ARGV: process key prefix.
COUNT_CONNECTIONS = """
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if redis.call('EXISTS', ARGV[1] .. fields[i]) == 1 then
    total = total + tonumber(fields[i + 1])
  else
    redis.call('HDEL', KEYS[1], fields[i])
  end
end
return total
"""

# KEYS: members hash, channel set.  ARGV: socket id, channel.
REMOVE_MEMBER = """
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
end
return 1
"""
