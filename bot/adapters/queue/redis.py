"""The event queue on Redis, for several Shipmate replicas sharing one queue.

Every operation is one Lua script, so it is atomic on the server:

- `put`: `SET seen:<delivery> NX EX <retention>` dedupes; the job is a hash `job:<seq>`; its
  sequence number is appended to the list `key:<ordering key>`, whose head is the only job
  of that key that may run.
- A key whose head is runnable sits in the sorted set `ready` scored by the head's sequence
  (oldest first across keys); a head waiting out a retry backoff sits in `delayed` scored by
  its retry time; a running head sits in `running` scored by its lease expiry.
- `claim` first moves due `delayed` keys and expired `running` jobs back to `ready`, then pops
  the oldest ready key and leases its head under a fresh token.
- `complete`/`fail` check the token (a stale claim is refused), pop the head and make the
  key's next job ready.

Times come from the queue's clock (POSIX seconds), so replicas need synchronised clocks, as
leases anywhere do. Finished jobs and delivery marks expire after the retention. The scripts
compute key names, so use a single Redis server (or Sentinel), not Redis Cluster.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import redis

from bot.adapters.queue import DEFAULT_RETENTION_SECONDS, RetryPolicy, SystemClock
from bot.core.events import Delivery, delivery_key
from bot.core.ports import Clock, Job, QueueStats

_PUT = """
local p = ARGV[1]
if not redis.call('SET', p .. 'seen:' .. ARGV[2], '1', 'NX', 'EX', ARGV[9]) then return 0 end
local seq = redis.call('INCR', p .. 'seq')
redis.call('HSET', p .. 'job:' .. seq, 'delivery_id', ARGV[2], 'event', ARGV[3], 'action', ARGV[4],
  'body', ARGV[5], 'received_at', ARGV[6], 'key', ARGV[7], 'state', 'pending', 'attempts', 0,
  'token', '', 'enqueued_at', ARGV[8])
if redis.call('RPUSH', p .. 'key:' .. ARGV[7], seq) == 1 then
  redis.call('ZADD', p .. 'ready', seq, ARGV[7])
end
redis.call('HINCRBY', p .. 'counts', 'pending', 1)
return seq
"""

# Moves due delayed keys and expired leases back to `ready`, then leases the oldest ready head.
_CLAIM = """
local p = ARGV[1]
local now = tonumber(ARGV[2])
for _, k in ipairs(redis.call('ZRANGEBYSCORE', p .. 'delayed', '-inf', now)) do
  redis.call('ZREM', p .. 'delayed', k)
  local head = redis.call('LINDEX', p .. 'key:' .. k, 0)
  if head then redis.call('ZADD', p .. 'ready', head, k) end
end
for _, s in ipairs(redis.call('ZRANGEBYSCORE', p .. 'running', '-inf', now)) do
  redis.call('ZREM', p .. 'running', s)
  local job = p .. 'job:' .. s
  redis.call('HSET', job, 'state', 'pending')
  redis.call('HINCRBY', p .. 'counts', 'running', -1)
  redis.call('HINCRBY', p .. 'counts', 'pending', 1)
  redis.call('ZADD', p .. 'ready', s, redis.call('HGET', job, 'key'))
end
local popped = redis.call('ZPOPMIN', p .. 'ready')
if #popped == 0 then return false end
local s = redis.call('LINDEX', p .. 'key:' .. popped[1], 0)
local job = p .. 'job:' .. s
redis.call('HSET', job, 'state', 'running', 'token', ARGV[3], 'worker_id', ARGV[4], 'lease_until', ARGV[5])
redis.call('HINCRBY', job, 'attempts', 1)
redis.call('ZADD', p .. 'running', ARGV[5], s)
redis.call('HINCRBY', p .. 'counts', 'pending', -1)
redis.call('HINCRBY', p .. 'counts', 'running', 1)
return {s, redis.call('HMGET', job, 'delivery_id', 'event', 'action', 'body', 'received_at', 'key', 'attempts')}
"""

# A claim is current while the token matches and the job is running, or pending after its
# lease expired without anyone re-claiming it (the token is cleared when a retry is scheduled).
_CURRENT = """
local function current(p, s, token)
  local job = p .. 'job:' .. s
  local fields = redis.call('HMGET', job, 'token', 'state', 'key')
  if fields[1] ~= token or token == '' then return nil end
  if fields[2] ~= 'running' and fields[2] ~= 'pending' then return nil end
  return job, fields[2], fields[3]
end
"""

_EXTEND = _CURRENT + """
local p = ARGV[1]
local job, state, k = current(p, ARGV[2], ARGV[3])
if not job then return 0 end
if state == 'pending' then
  redis.call('ZREM', p .. 'ready', k)
  redis.call('HSET', job, 'state', 'running')
  redis.call('HINCRBY', p .. 'counts', 'pending', -1)
  redis.call('HINCRBY', p .. 'counts', 'running', 1)
end
redis.call('HSET', job, 'lease_until', ARGV[4])
redis.call('ZADD', p .. 'running', ARGV[4], ARGV[2])
return 1
"""

# Finish the head of its key: ARGV = prefix, seq, token, now, final state, error, retention.
_FINISH = _CURRENT + """
local p = ARGV[1]
local job, state, k = current(p, ARGV[2], ARGV[3])
if not job then return 0 end
redis.call('ZREM', p .. 'running', ARGV[2])
redis.call('ZREM', p .. 'ready', k)
redis.call('HINCRBY', p .. 'counts', state, -1)
redis.call('LPOP', p .. 'key:' .. k)
local nexthead = redis.call('LINDEX', p .. 'key:' .. k, 0)
if nexthead then redis.call('ZADD', p .. 'ready', nexthead, k) end
redis.call('HSET', job, 'state', ARGV[5], 'token', '', 'finished_at', ARGV[4], 'last_error', ARGV[6])
redis.call('HDEL', job, 'lease_until')
redis.call('EXPIRE', job, ARGV[7])
redis.call('HINCRBY', p .. 'counts', ARGV[5], 1)
if ARGV[5] == 'failed' then redis.call('LPUSH', p .. 'failed', ARGV[2]) end
return 1
"""

# Put the head back after a backoff: ARGV = prefix, seq, token, retry time, error.
_RETRY = _CURRENT + """
local p = ARGV[1]
local job, state, k = current(p, ARGV[2], ARGV[3])
if not job then return 0 end
redis.call('ZREM', p .. 'running', ARGV[2])
redis.call('ZREM', p .. 'ready', k)
redis.call('HINCRBY', p .. 'counts', state, -1)
redis.call('HINCRBY', p .. 'counts', 'pending', 1)
redis.call('HSET', job, 'state', 'pending', 'token', '', 'last_error', ARGV[5])
redis.call('HDEL', job, 'lease_until')
redis.call('ZADD', p .. 'delayed', ARGV[4], k)
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisQueue:
    """`EventQueue` on a Redis server; any number of processes may share one prefix."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "shipmate:queue:",
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        retention_seconds: int = DEFAULT_RETENTION_SECONDS,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.clock: Clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self.retention_seconds = int(retention_seconds)
        self._put = client.register_script(_PUT)
        self._claim = client.register_script(_CLAIM)
        self._extend = client.register_script(_EXTEND)
        self._finish = client.register_script(_FINISH)
        self._retry = client.register_script(_RETRY)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "shipmate:queue:",
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
    ) -> RedisQueue:
        """Connect to `redis://[:password@]host:port/db` (or `rediss://` for TLS)."""
        client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
        return cls(client, prefix=prefix, clock=clock, retry=retry)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    # --- EventQueue ------------------------------------------------------------------------

    def put(self, delivery: Delivery) -> bool:
        seq = self._put(
            args=[
                self.prefix,
                delivery.id,
                delivery.event,
                delivery.action,
                delivery.body,
                delivery.received_at.isoformat(),
                delivery_key(delivery),
                repr(self._now()),
                self.retention_seconds,
            ]
        )
        return int(seq) != 0

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        now = self._now()
        token = uuid.uuid4().hex
        lease_until = now + lease_seconds
        result = self._claim(args=[self.prefix, repr(now), token, worker_id, repr(lease_until)])
        if not result:
            return None
        seq, (delivery_id, event, action, body, received_at, key, attempts) = result
        return Job(
            id=int(seq),
            delivery=Delivery(
                id=_text(delivery_id),
                event=_text(event),
                action=_text(action),
                body=bytes(body),
                received_at=datetime.fromisoformat(_text(received_at)),
            ),
            key=_text(key),
            attempts=int(attempts),
            token=token,
            worker_id=worker_id,
            lease_until=datetime.fromtimestamp(lease_until, UTC),
        )

    def extend(self, job: Job, lease_seconds: float) -> bool:
        lease_until = self._now() + lease_seconds
        return bool(self._extend(args=[self.prefix, job.id, job.token, repr(lease_until)]))

    def _finish_as(self, job: Job, state: str, error: str) -> bool:
        return bool(
            self._finish(
                args=[self.prefix, job.id, job.token, repr(self._now()), state, error, self.retention_seconds]
            )
        )

    def complete(self, job: Job) -> bool:
        return self._finish_as(job, "done", "")

    def fail(self, job: Job, error: str, retry: bool) -> bool:
        if retry and not self.retry.gives_up(job.attempts):
            retry_at = self._now() + self.retry.delay(job.attempts)
            return bool(self._retry(args=[self.prefix, job.id, job.token, repr(retry_at), error]))
        return self._finish_as(job, "failed", error)

    def stats(self) -> QueueStats:
        pipe = self.client.pipeline(transaction=True)
        pipe.hgetall(self.prefix + "counts")
        pipe.zcard(self.prefix + "delayed")
        counts_raw, delayed = pipe.execute()
        counts = {_text(k): int(v) for k, v in counts_raw.items()}
        return QueueStats(
            pending=counts.get("pending", 0),
            delayed=int(delayed),
            running=counts.get("running", 0),
            done=counts.get("done", 0),
            failed=counts.get("failed", 0),
        )

    def ping(self) -> None:
        self.client.ping()

    def purge(self, finished_before: datetime) -> int:
        """Finished jobs expire on their own after the retention; trims the dead-job index."""
        self.client.ltrim(self.prefix + "failed", 0, 999)
        return 0

    def close(self) -> None:
        self.client.close()
