"""GitHub's write budget on Redis: one ledger for every replica of a Redis queue
(`WriteLedger`, used by `bot.adapters.github.budget.WriteBudget`).

GitHub counts content-creating requests per installation, not per process, so replicas that
each kept their own budget would together write several times its limit. Here each budget key
(`shipmate:github-writes:<installation>`) is a sorted set of the writes of the last hour,
scored by Redis's own clock (`TIME`, so the replicas' clocks do not matter), and one Lua script
takes a slot or says how long until one frees, atomically for the whole fleet.
"""

from __future__ import annotations

import uuid

import redis

_TAKE = """
local key = KEYS[1]
local per_minute, per_hour = tonumber(ARGV[1]), tonumber(ARGV[2])
local minute, hour, slack = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - hour - slack)
local total = redis.call('ZCARD', key)
local wait = 0
if total >= per_hour then
  local e = redis.call('ZRANGE', key, total - per_hour, total - per_hour, 'WITHSCORES')
  wait = tonumber(e[2]) + hour + slack - now
end
if total >= per_minute and redis.call('ZCOUNT', key, '(' .. (now - minute - slack), '+inf') >= per_minute then
  local e = redis.call('ZRANGE', key, total - per_minute, total - per_minute, 'WITHSCORES')
  local w = tonumber(e[2]) + minute + slack - now
  if w > wait then wait = w end
end
if wait <= 0 then
  redis.call('ZADD', key, now, ARGV[6])
  redis.call('EXPIRE', key, math.ceil(hour + slack) + 60)
  return '0'
end
return tostring(wait)
"""

MINUTE = 60.0
HOUR = 3600.0


class RedisWriteLedger:
    """`WriteLedger` on a Redis server; every replica of one fleet uses the same prefix."""

    def __init__(self, client: redis.Redis, *, prefix: str = "shipmate:github-writes:") -> None:
        self._prefix = prefix
        self._take = client.register_script(_TAKE)

    def take(self, key: str, per_minute: int, per_hour: int, slack: float) -> float:
        answer = self._take(keys=[self._prefix + key],
                            args=[per_minute, per_hour, MINUTE, HOUR, slack, uuid.uuid4().hex])
        text = answer.decode() if isinstance(answer, bytes) else str(answer)
        return max(0.0, float(text))
