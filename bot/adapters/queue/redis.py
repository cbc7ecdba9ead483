"""The event queue on Redis, for several Shipmate replicas sharing one queue.

Every operation is one Lua script, so it is atomic on the server:

- `put`: `SET seen:<delivery> NX EX <retention>` dedupes; the job is a hash `job:<seq>` (the
  raw delivery, its ordering key and `parsed`, the typed event parsed at intake); its
  sequence number is appended to the list `key:<ordering key>`, whose head is the only job
  of that key that may run.
- A key whose head is runnable sits in the sorted set `ready` scored by the head's sequence
  (oldest first across keys); a head waiting out a retry backoff sits in `delayed` scored by
  its retry time; a running head sits in `running` scored by its lease expiry.
- `claim` first moves due `delayed` keys and expired `running` jobs back to `ready`, then pops
  the oldest ready key and leases its head under a fresh token. Attempts count claims, so an
  expired lease used one up; an expired job past its last attempt is handed out once more,
  only for the worker to report it dead (`Job.exhausted`), and if that lease expires too the
  claim dead-letters it and makes the key's next job ready.
- `complete`/`fail`/`bury` check the token (a stale claim is refused), pop the head and make
  the key's next job ready.
- Open jobs (pending, running) sit in the sorted set `open`, dead letters in `dead` (their
  hashes never expire), the latest failed ones in the list `failed`; `shipmate queue` reads
  these, `requeue` and `drop` change them.

Times come from the queue's clock (POSIX seconds), so replicas need synchronised clocks, as
leases anywhere do. Finished jobs and delivery marks expire after the retention. The scripts
compute key names, so use a single Redis server (or Sentinel), not Redis Cluster.

Jobs queued by the previous version have no `parsed` field in their hash: they are handed
out with `Delivery.parsed` None, and the router parses their raw body once, the old way.
Every hash the intake writes still holds the raw body, so the previous version can read the
webhooks queued by this one (the poller's and the scheduler's events have no body).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis

from bot.adapters.clock import SystemClock
from bot.adapters.queue import DEFAULT_RETENTION_SECONDS, RetryPolicy
from bot.adapters.queue.stored import key_of, restored, stored_event
from bot.core.events import Delivery
from bot.core.ports import Clock, Job, JobRecord, QueueStats

_PUT = """
local p = ARGV[1]
if not redis.call('SET', p .. 'seen:' .. ARGV[2], '1', 'NX', 'EX', ARGV[9]) then return 0 end
local seq = redis.call('INCR', p .. 'seq')
redis.call('HSET', p .. 'job:' .. seq, 'delivery_id', ARGV[2], 'event', ARGV[3], 'action', ARGV[4],
  'body', ARGV[5], 'received_at', ARGV[6], 'key', ARGV[7], 'state', 'pending', 'attempts', 0,
  'token', '', 'enqueued_at', ARGV[8], 'parsed', ARGV[10])
if redis.call('RPUSH', p .. 'key:' .. ARGV[7], seq) == 1 then
  redis.call('ZADD', p .. 'ready', seq, ARGV[7])
end
redis.call('HINCRBY', p .. 'counts', 'pending', 1)
redis.call('ZADD', p .. 'open', seq, seq)
return seq
"""

# Moves due delayed keys and expired leases back to `ready` (or dead-letters an expired job
# past its report-only attempt), then leases the oldest ready head.
# ARGV = prefix, now, token, worker, lease until, max attempts, dead-letter message.
_CLAIM = """
local p = ARGV[1]
local now = tonumber(ARGV[2])
local maxa = tonumber(ARGV[6])
for _, k in ipairs(redis.call('ZRANGEBYSCORE', p .. 'delayed', '-inf', now)) do
  redis.call('ZREM', p .. 'delayed', k)
  local head = redis.call('LINDEX', p .. 'key:' .. k, 0)
  if head then redis.call('ZADD', p .. 'ready', head, k) end
end
for _, s in ipairs(redis.call('ZRANGEBYSCORE', p .. 'running', '-inf', now)) do
  redis.call('ZREM', p .. 'running', s)
  local job = p .. 'job:' .. s
  local k = redis.call('HGET', job, 'key')
  redis.call('HINCRBY', p .. 'counts', 'running', -1)
  if tonumber(redis.call('HGET', job, 'attempts')) > maxa then
    redis.call('LPOP', p .. 'key:' .. k)
    redis.call('HSET', job, 'state', 'dead', 'token', '', 'finished_at', ARGV[2], 'last_error', ARGV[7])
    redis.call('HDEL', job, 'lease_until')
    redis.call('ZREM', p .. 'open', s)
    redis.call('ZADD', p .. 'dead', s, s)
    redis.call('HINCRBY', p .. 'counts', 'dead', 1)
    local nexthead = redis.call('LINDEX', p .. 'key:' .. k, 0)
    if nexthead then redis.call('ZADD', p .. 'ready', nexthead, k) end
  else
    local worker = redis.call('HGET', job, 'worker_id') or '?'
    redis.call('HSET', job, 'state', 'pending', 'last_error', 'the lease of ' .. worker .. ' expired (the worker stopped)')
    redis.call('HINCRBY', p .. 'counts', 'pending', 1)
    redis.call('ZADD', p .. 'ready', s, k)
  end
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
return {s, redis.call('HMGET', job, 'delivery_id', 'event', 'action', 'body', 'received_at', 'key', 'attempts',
  'parsed')}
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
redis.call('ZREM', p .. 'open', ARGV[2])
if ARGV[5] == 'dead' then
  redis.call('ZADD', p .. 'dead', ARGV[2], ARGV[2])
else
  redis.call('EXPIRE', job, ARGV[7])
end
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
redis.call('HSET', job, 'state', 'pending', 'token', '', 'last_error', ARGV[5], 'not_before', ARGV[4])
redis.call('HDEL', job, 'lease_until')
redis.call('ZADD', p .. 'delayed', ARGV[4], k)
return 1
"""


# A dead or failed job back at the end of its key's line as a new job: ARGV = prefix, seq, now.
_REQUEUE = """
local p = ARGV[1]
local old = p .. 'job:' .. ARGV[2]
local state = redis.call('HGET', old, 'state')
if state ~= 'dead' and state ~= 'failed' then return 0 end
local k = redis.call('HGET', old, 'key')
local seq = redis.call('INCR', p .. 'seq')
local job = p .. 'job:' .. seq
local f = redis.call('HMGET', old, 'delivery_id', 'event', 'action', 'body', 'received_at', 'parsed')
redis.call('HSET', job, 'delivery_id', f[1], 'event', f[2], 'action', f[3], 'body', f[4], 'received_at', f[5],
  'key', k, 'state', 'pending', 'attempts', 0, 'token', '', 'enqueued_at', ARGV[3], 'parsed', f[6] or '')
redis.call('DEL', old)
redis.call('ZREM', p .. 'dead', ARGV[2])
redis.call('LREM', p .. 'failed', 0, ARGV[2])
redis.call('HINCRBY', p .. 'counts', state, -1)
redis.call('HINCRBY', p .. 'counts', 'pending', 1)
redis.call('ZADD', p .. 'open', seq, seq)
if redis.call('RPUSH', p .. 'key:' .. k, seq) == 1 then
  redis.call('ZADD', p .. 'ready', seq, k)
end
return seq
"""

# Mark a job that is not running dropped: ARGV = prefix, seq, now, retention.
_DROP = """
local p = ARGV[1]
local job = p .. 'job:' .. ARGV[2]
local state = redis.call('HGET', job, 'state')
if state ~= 'pending' and state ~= 'dead' and state ~= 'failed' then return 0 end
if state == 'pending' then
  local k = redis.call('HGET', job, 'key')
  local list = p .. 'key:' .. k
  local head = redis.call('LINDEX', list, 0)
  redis.call('LREM', list, 0, ARGV[2])
  if head == ARGV[2] then
    redis.call('ZREM', p .. 'ready', k)
    redis.call('ZREM', p .. 'delayed', k)
    local nexthead = redis.call('LINDEX', list, 0)
    if nexthead then redis.call('ZADD', p .. 'ready', nexthead, k) end
  end
  redis.call('ZREM', p .. 'open', ARGV[2])
end
redis.call('ZREM', p .. 'dead', ARGV[2])
redis.call('LREM', p .. 'failed', 0, ARGV[2])
redis.call('HINCRBY', p .. 'counts', state, -1)
redis.call('HSET', job, 'state', 'dropped', 'token', '', 'finished_at', ARGV[3])
redis.call('EXPIRE', job, ARGV[4])
return 1
"""

_RECORD_FIELDS = (
    "delivery_id", "event", "action", "key", "state", "attempts", "last_error", "enqueued_at", "not_before",
    "lease_until", "worker_id", "finished_at",
)

DEAD_LETTER_MESSAGE = "dead-lettered: {n} attempts ended without an outcome (the worker stopped: killed, crashed or out of memory)"


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
        self._requeue = client.register_script(_REQUEUE)
        self._drop = client.register_script(_DROP)

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

    def put(self, delivery: Delivery, key: str | None = None) -> bool:
        """Store the delivery unless its ID is known; `key` is the ordering key the intake
        computed (default: that of `delivery.parsed`)."""
        seq = self._put(
            args=[
                self.prefix,
                delivery.id,
                delivery.event,
                delivery.action,
                delivery.body,
                delivery.received_at.isoformat(),
                key_of(delivery, key),
                repr(self._now()),
                self.retention_seconds,
                stored_event(delivery),
            ]
        )
        return int(seq) != 0

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        now = self._now()
        token = uuid.uuid4().hex
        lease_until = now + lease_seconds
        result = self._claim(
            args=[self.prefix, repr(now), token, worker_id, repr(lease_until), self.retry.max_attempts,
                  DEAD_LETTER_MESSAGE.format(n=self.retry.max_attempts)]
        )
        if not result:
            return None
        seq, (delivery_id, event, action, body, received_at, key, attempts, parsed) = result
        return Job(
            id=int(seq),
            delivery=restored(_text(delivery_id), _text(event), _text(action), bytes(body), _text(received_at),
                              None if parsed is None else _text(parsed)),
            key=_text(key),
            attempts=int(attempts),
            token=token,
            worker_id=worker_id,
            lease_until=datetime.fromtimestamp(lease_until, UTC),
            max_attempts=self.retry.max_attempts,
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

    def fail(self, job: Job, error: str, retry: bool, delay: float = 0.0) -> bool:
        if retry and not self.retry.gives_up(job.attempts):
            retry_at = self._now() + max(self.retry.delay(job.attempts), delay)
            return bool(self._retry(args=[self.prefix, job.id, job.token, repr(retry_at), error]))
        return self._finish_as(job, "dead" if retry else "failed", error)

    def bury(self, job: Job, error: str) -> bool:
        return self._finish_as(job, "dead", error)

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
            dead=counts.get("dead", 0),
        )

    def ping(self) -> None:
        self.client.ping()

    def purge(self, finished_before: datetime) -> int:
        """Finished jobs expire on their own after the retention; trims the dead-job index."""
        self.client.ltrim(self.prefix + "failed", 0, 999)
        return 0

    # --- operators (`shipmate queue`) ------------------------------------------------------

    def _records(self, seqs: list[int]) -> list[JobRecord]:
        pipe = self.client.pipeline(transaction=False)
        for seq in seqs:
            pipe.hmget(f"{self.prefix}job:{seq}", _RECORD_FIELDS)
        records = []
        for seq, values in zip(seqs, pipe.execute(), strict=True):
            if values[0] is None:
                continue
            f = dict(zip(_RECORD_FIELDS, (None if v is None else _text(v) for v in values), strict=True))

            def num(name: str, fields: dict[str, str | None] = f) -> float | None:
                value = fields[name]
                return float(value) if value not in (None, "") else None

            records.append(JobRecord(
                id=seq, delivery_id=f["delivery_id"] or "", event=f["event"] or "", action=f["action"] or "",
                key=f["key"] or "", state=f["state"] or "", attempts=int(f["attempts"] or 0),
                last_error=f["last_error"] or "", enqueued_at=num("enqueued_at") or 0.0,
                not_before=num("not_before"), lease_until=num("lease_until"), worker_id=f["worker_id"] or "",
                finished_at=num("finished_at"),
            ))
        return records

    def jobs(self, states: Sequence[str], limit: int = 100) -> list[JobRecord]:
        wanted = set(states)
        seqs: set[int] = set()
        if wanted & {"pending", "running"}:
            seqs.update(int(_text(s)) for s in self.client.zrange(self.prefix + "open", 0, -1))
        if "dead" in wanted:
            seqs.update(int(_text(s)) for s in self.client.zrange(self.prefix + "dead", 0, -1))
        if "failed" in wanted:
            seqs.update(int(s) for s in self.client.lrange(self.prefix + "failed", 0, -1))
        found = [r for r in self._records(sorted(seqs)) if r.state in wanted]
        return found[: int(limit)]

    def job(self, job_id: int) -> JobRecord | None:
        found = self._records([int(job_id)])
        return found[0] if found else None

    def requeue(self, job_id: int) -> int | None:
        seq = int(self._requeue(args=[self.prefix, int(job_id), repr(self._now())]))
        return seq or None

    def drop(self, job_id: int) -> bool:
        return bool(self._drop(args=[self.prefix, int(job_id), repr(self._now()), self.retention_seconds]))

    def close(self) -> None:
        self.client.close()
