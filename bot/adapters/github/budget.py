"""GitHub's budget for content-creating requests, kept on Shipmate's side of the wire.

GitHub allows an installation about 80 content-creating requests (POST, PATCH, PUT, DELETE:
comments, statuses, reactions) a minute and 500 an hour; beyond that it answers 403 "You have
exceeded a secondary rate limit" with `Retry-After`, and an integration that keeps going may
be blocked for longer. A burst of pull requests would cross that line, so every write spends
a slot of both windows first (`WriteBudget.spend`):

- a free slot in both windows: the write goes at once;
- none, but one frees up within `max_wait` seconds (a minute: the minute's limit never sends
  a job back): the writer waits for it. Every job of a burst ends in writes, so a worker
  freed early would only start another job that waits for the same slots; waiting repeats
  no work, and a result's status is not lost;
- none for longer (the hour's budget is spent): `TransientError` with `retry_after` set to
  when a slot frees, so the job goes back to the queue and runs again then, without holding
  a worker meanwhile.

GitHub's own 403 and 429 answers still reach the queue's retry axis the same way
(`bot.adapters.github.host`), for writes other tools made on the same installation.

The windows slide: a slot is used for one window length after its write, plus `SLACK`
seconds for the time the request takes to reach GitHub (whose window starts when it
arrives, a little later than ours). The slots live in a `WriteLedger`: this process's
(`MemoryLedger`), or, beside a Redis queue, the fleet's (`bot.adapters.queue.redis_ledger`),
so several replicas share one budget per installation as GitHub counts it. Written here
rather than taken from a rate-limiting library: it is a sliding log and a wait, with the
clock and sleep injectable for tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from bot.core.errors import TransientError
from bot.core.ports import WriteLedger
from bot.metrics import ShipmateMetrics

MINUTE = 60.0
HOUR = 3600.0
PER_MINUTE = 80
PER_HOUR = 500
MAX_WAIT = 60.0
SLACK = 1.0  # seconds: GitHub counts a write from its arrival, after ours


class MemoryLedger:
    """The write budget's slots in this process (`WriteLedger`): the budget of one replica."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._spent: dict[str, deque[float]] = {}  # by key: times of the last hour's writes, oldest first

    def take(self, key: str, per_minute: int, per_hour: int, slack: float) -> float:
        with self._lock:
            now = self._clock()
            spent = self._spent.setdefault(key, deque())
            while spent and now - spent[0] >= HOUR + slack:
                spent.popleft()
            wait = 0.0
            if len(spent) >= per_hour:
                wait = spent[len(spent) - per_hour] + HOUR + slack - now
            in_minute = sum(1 for t in spent if now - t < MINUTE + slack) if len(spent) >= per_minute else 0
            if in_minute >= per_minute:
                wait = max(wait, spent[len(spent) - per_minute] + MINUTE + slack - now)
            if wait <= 0:
                spent.append(now)
                return 0.0
            return wait

    def spent_within(self, key: str, seconds: float) -> int:
        """Writes taken for `key` in the last `seconds` (up to an hour)."""
        with self._lock:
            now = self._clock()
            return sum(1 for t in self._spent.get(key, ()) if now - t < seconds)


class WriteBudget:
    """Slots for content-creating requests in a sliding minute and hour, kept in a
    `WriteLedger` (this process's, or the fleet's on Redis) under `key` (the installation)."""

    def __init__(
        self,
        per_minute: int = PER_MINUTE,
        per_hour: int = PER_HOUR,
        *,
        max_wait: float = MAX_WAIT,
        ledger: WriteLedger | None = None,
        key: str = "github",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        metrics: ShipmateMetrics | None = None,
    ) -> None:
        if per_minute < 1 or per_hour < 1:
            raise ValueError("a write budget needs at least one write a minute and an hour")
        self.per_minute = per_minute
        self.per_hour = per_hour
        self.max_wait = max_wait
        self.key = key
        self.ledger: WriteLedger = ledger if ledger is not None else MemoryLedger(clock)
        self._sleep = sleep
        self._metrics = metrics

    def spend(self, what: str) -> None:
        """Take a slot for the write `what` (waiting up to `max_wait`), or raise TransientError
        saying when to try again."""
        waited = 0.0
        while True:
            wait = self.ledger.take(self.key, self.per_minute, self.per_hour, SLACK)
            if wait <= 0:
                break
            if waited + wait > self.max_wait:
                if self._metrics is not None:
                    self._metrics.github_write_waits.inc(result="deferred")
                raise TransientError(
                    f"GitHub: {what}: Shipmate's write budget is used up ({self.per_minute} a minute, "
                    f"{self.per_hour} an hour); trying again in {math.ceil(wait)} s",
                    retry_after=wait,
                )
            self._sleep(wait)
            waited += wait
        if waited and self._metrics is not None:
            self._metrics.github_write_waits.inc(result="waited")
            self._metrics.github_write_wait_seconds.inc(waited)

    def spent_within(self, seconds: float) -> int:
        """Writes made in the last `seconds` (up to an hour), when the ledger is this process's."""
        if isinstance(self.ledger, MemoryLedger):
            return self.ledger.spent_within(self.key, seconds)
        raise TypeError("the fleet's ledger is counted where it is kept")
