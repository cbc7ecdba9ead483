"""The scheduled jobs' state on Redis, shared by every replica of a Redis queue.

`RedisJobState` implements the `JobState` port, `RedisRepositoryBook` the `RepositoryBook`
port. Why a lease with a fencing token per job rather than a key per run: the jobs are
catch-up jobs (a poll compares with the heads seen last, a drift check with the last look),
so what matters is that one replica at a time runs a job and that its memory never goes
back in time. A key per period alone would let a run that stalled past its period overwrite
what a later run remembered; the lease lets a replica take a job over when its holder died
(the lease expired), and the token, taken from a counter that only grows, fences off the
stalled run's writes. The last period run (`done:<job>`) makes every period run once across
the fleet however many replicas fire for it.

Keys under the prefix (default `shipmate:jobs:`), each operation one Lua script:

- `lease:<job>` hash: the current run's `token`, `holder`, `period` and lease `until`
  (POSIX seconds of the state's clock); deleted when the run finishes;
- `token:<job>`: the fencing counter; `done:<job>`: the last period run;
- `doc:<document>` hash: key → JSON (`poll-state`: repository → heads seen, `drift-state`:
  repository → last look).

The repositories the bot has served are the hash `shipmate:repositories` (repository → App
installation, "" for the token's), written by every replica's router and read by each
scheduler round. Leases compare times from the replicas' clocks: keep them synchronised, as
the queue's leases need anyway.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import redis

from bot.adapters.clock import SystemClock
from bot.core.ports import Clock, JobRun

_BEGIN = """
local p, job = ARGV[1], ARGV[2]
local lease = p .. 'lease:' .. job
if ARGV[3] ~= '' then
  local u = redis.call('HGET', lease, 'until')
  if u and tonumber(u) > tonumber(ARGV[5]) then return 0 end
  local done = redis.call('GET', p .. 'done:' .. job)
  if done and tonumber(done) >= tonumber(ARGV[3]) then return 0 end
end
local token = redis.call('INCR', p .. 'token:' .. job)
redis.call('DEL', lease)
redis.call('HSET', lease, 'token', token, 'holder', ARGV[4], 'period', ARGV[3], 'until', ARGV[6])
return token
"""

_CURRENT = """
local function current(p, job, token)
  return redis.call('HGET', p .. 'lease:' .. job, 'token') == token
end
"""

_RENEW = _CURRENT + """
if not current(ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('HSET', ARGV[1] .. 'lease:' .. ARGV[2], 'until', ARGV[4])
return 1
"""

_FINISH = _CURRENT + """
local p, job = ARGV[1], ARGV[2]
if not current(p, job, ARGV[3]) then return 0 end
redis.call('DEL', p .. 'lease:' .. job)
if ARGV[4] ~= '' then
  local done = redis.call('GET', p .. 'done:' .. job)
  if not done or tonumber(done) < tonumber(ARGV[4]) then redis.call('SET', p .. 'done:' .. job, ARGV[4]) end
end
return 1
"""

_WRITE = _CURRENT + """
if not current(ARGV[1], ARGV[2], ARGV[3]) then return 0 end
redis.call('HSET', ARGV[1] .. 'doc:' .. ARGV[4], ARGV[5], ARGV[6])
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisJobState:
    """`JobState` on a Redis server; every replica of one fleet uses the same prefix."""

    def __init__(self, client: redis.Redis, *, prefix: str = "shipmate:jobs:", clock: Clock | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.clock: Clock = clock or SystemClock()
        self._begin = client.register_script(_BEGIN)
        self._renew = client.register_script(_RENEW)
        self._finish = client.register_script(_FINISH)
        self._write = client.register_script(_WRITE)

    def _now(self) -> float:
        return self.clock.now().timestamp()

    def begin(self, job: str, period: int | None, holder: str, lease_seconds: float) -> JobRun | None:
        now = self._now()
        token = int(self._begin(args=[self.prefix, job, "" if period is None else period, holder, repr(now),
                                      repr(now + lease_seconds)]))
        return JobRun(job, period, holder, token) if token else None

    def renew(self, run: JobRun, lease_seconds: float) -> bool:
        return bool(self._renew(args=[self.prefix, run.job, run.token, repr(self._now() + lease_seconds)]))

    def finish(self, run: JobRun) -> bool:
        return bool(self._finish(args=[self.prefix, run.job, run.token, "" if run.period is None else run.period]))

    def read(self, document: str) -> dict[str, Any]:
        raw = self.client.hgetall(self.prefix + "doc:" + document)
        return {_text(key): json.loads(value) for key, value in sorted(raw.items())}

    def write(self, run: JobRun, document: str, key: str, value: Any) -> bool:
        encoded = json.dumps(value, sort_keys=True)
        return bool(self._write(args=[self.prefix, run.job, run.token, document, key, encoded]))


class RedisRepositoryBook:
    """The `RepositoryBook` port as one Redis hash shared by the replicas: repository → App
    installation ("" for none). Each replica writes a repository once, and again only when
    its installation changes."""

    def __init__(self, client: redis.Redis, *, key: str = "shipmate:repositories") -> None:
        self.client = client
        self.key = key
        self._written: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def remember(self, repo: str, installation_id: int | None) -> None:
        with self._lock:
            if repo in self._written and (installation_id is None or self._written[repo] == installation_id):
                return
            self._written[repo] = installation_id
        if installation_id is None:
            self.client.hsetnx(self.key, repo, "")  # an installation another event named stays
        else:
            self.client.hset(self.key, repo, str(installation_id))

    def repositories(self) -> dict[str, int | None]:
        raw = self.client.hgetall(self.key)
        known = {_text(repo): (int(_text(value)) if _text(value) else None) for repo, value in raw.items()}
        return dict(sorted(known.items()))


def connect(url: str) -> redis.Redis:
    """A client for `redis://[:password@]host:port/db` (`rediss://` for TLS, `unix://`)."""
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
