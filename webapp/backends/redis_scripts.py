"""Lua scripts of the Redis backend: each runs as one atomic round trip.

Process liveness: every server process keeps a key ``<prefix>proc:<id>`` alive
with a short expiry and its id in the set ``<prefix>procs``. Counts and members
of processes whose key expired (a crash, a kill) are ignored at once; a
surviving process then claims the dead one (only one can) and removes them,
found through the dead process's indexes: ``<prefix>pm:<id>`` (members per
``workspace:channel``) and ``<prefix>pw:<id>`` (workspaces it counted
connections of).
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

# KEYS: members hash, channel set, this process's member index, liveness key.
# ARGV: socket id, member value, channel, index field, ttl, process id.
# A member counts once in its process's index, however often it re-joins.
ADD_MEMBER = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
local mine = ARGV[6] .. '|'
if not old or string.sub(old, 1, #mine) ~= mine then
  redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
end
redis.call('SET', KEYS[4], '1', 'EX', tonumber(ARGV[5]))
return 1
"""

# KEYS: members hash, channel set.
# ARGV: socket id, channel, index field, member index key prefix.
REMOVE_MEMBER = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
end
local index = ARGV[4] .. string.match(old, '^[^|]*')
if redis.call('HINCRBY', index, ARGV[3], -1) <= 0 then
  redis.call('HDEL', index, ARGV[3])
end
return 1
"""

# KEYS: connection counts hash, this process's workspace index.
# ARGV: process id, limit, ttl, process key prefix, workspace id.
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
redis.call('SADD', KEYS[2], ARGV[5])
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

# KEYS: liveness key, process set, tombstone key.  ARGV: process id, ttl,
# whether the process registered before.
# Returns 'alive', or why it must register again: 'forgotten' (Redis lost
# it, as after an empty restart) or 'reaped' (another process took it for dead).
BEAT = """
local known = redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1
redis.call('SET', KEYS[1], '1', 'EX', tonumber(ARGV[2]))
redis.call('SADD', KEYS[2], ARGV[1])
if known or ARGV[3] == '0' then
  return 'alive'
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  return 'reaped'
end
return 'forgotten'
"""

# KEYS: process set.  ARGV: dead process id, process key prefix, tombstone
# prefix, tombstone ttl.  Returns 1 to the one caller that may reap it.
CLAIM_DEAD = """
if redis.call('EXISTS', ARGV[2] .. ARGV[1]) == 1 then
  return 0
end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('SET', ARGV[3] .. ARGV[1], '1', 'EX', tonumber(ARGV[4]))
return 1
"""

# KEYS: members hash, channel set.  ARGV: dead process id, channel.
# Returns the removed members' values.
REAP_CHANNEL = """
local removed = {}
local dead = ARGV[1] .. '|'
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if string.sub(fields[i + 1], 1, #dead) == dead then
    redis.call('HDEL', KEYS[1], fields[i])
    removed[#removed + 1] = fields[i + 1]
  end
end
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
end
return removed
"""
