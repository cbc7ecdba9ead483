"""Three replicas' schedulers sharing one Redis (queue, job state, repository book): every
job runs once per period across them, one replica dies holding a run and another takes the
period over when its lease expires.

The replicas tick every job as their `BackgroundScheduler` would (every `check_seconds`),
in turn, against the sandbox's GitHub simulator and a real redis-server; time is a manual
clock, so ten minutes of schedule pass without sleeping.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.queue.redis import RedisQueue
from bot.adapters.queue.redis_jobs import RedisJobState, RedisRepositoryBook, connect
from bot.cli.sandbox import REPO, Sandbox
from bot.scheduler import Scheduler, check_seconds
from tests.conftest import ManualClock

pytestmark = pytest.mark.e2e

START = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday; acme's drift schedule is "0 6 * * *"
LEASE = 30.0
MINUTES = 10


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("replicas"), serve=False) as sandbox:
        yield sandbox


def test_each_job_runs_once_per_period_across_three_replicas(box: Sandbox, redis_url: str, tmp_path: Path) -> None:
    clock = ManualClock(START.isoformat())
    prefix = f"test:{uuid.uuid4().hex}:"
    client = connect(redis_url)
    queue = RedisQueue.from_url(redis_url, prefix=prefix + "queue:", clock=clock)
    state = RedisJobState(client, prefix=prefix + "jobs:", clock=clock)
    book = RedisRepositoryBook(client, key=prefix + "repositories")
    book.remember(REPO, None)  # served through a webhook by some replica
    own = [connect(redis_url) for _ in range(3)]  # each replica its own connection
    replicas = [
        Scheduler(box.services, queue, RedisJobState(mine, prefix=prefix + "jobs:", clock=clock),
                  RedisRepositoryBook(mine, key=prefix + "repositories"), poll_repositories=[REPO],
                  lease_seconds=LEASE, clock=clock, holder=name)
        for name, mine in zip(("a", "b", "c"), own, strict=True)
    ]
    alive = list(replicas)
    ran: Counter[tuple[str, int]] = Counter()
    by: dict[tuple[str, int], str] = {}
    dead_run = None
    step = check_seconds(60.0)
    assert step == 15.0 and check_seconds(300.0) == 15.0
    try:
        # The drift job last looked at New Year: this morning's 06:00 check is due once.
        setup = state.begin("drift", None, "setup", LEASE)
        assert setup is not None and state.write(setup, "drift-state", REPO, "2026-01-01T00:00:00Z")
        assert state.finish(setup)
        for tick in range(int(MINUTES * 60 / step)):
            if tick == 12:  # 12:03:00: c begins the poll of its period and dies holding it
                c = replicas[2]
                dead_run = c.state.begin("poll", c.period("poll"), c.holder, LEASE)
                assert dead_run is not None
                alive.remove(c)
            turn = alive[tick % len(alive):] + alive[: tick % len(alive)]
            for replica in turn:
                for job in ("poll", "locks", "drift"):
                    if replica.tick(job):
                        ran[(job, replica.period(job))] += 1
                        by[(job, replica.period(job))] = replica.holder
            clock.advance(step)
        assert dead_run is not None
        polls = {period for job, period in ran if job == "poll"}
        first = int(START.timestamp() // 60)
        assert sorted(polls) == list(range(first, first + MINUTES))  # every minute, the dead one's too
        assert set(ran.values()) == {1}  # and each once, across the three replicas
        sweeps = sorted(period for job, period in ran if job == "locks")
        assert sweeps == list(range(int(START.timestamp() // 300), int(START.timestamp() // 300) + MINUTES // 5))
        assert len([period for job, period in ran if job == "drift"]) == MINUTES
        # The period c died in was taken over by a survivor once c's lease expired (30 s).
        assert by[("poll", dead_run.period or 0)] in ("a", "b")
        assert set(by.values()) == {"a", "b", "c"}  # c ran some periods before it died
        assert state.write(dead_run, "poll-state", REPO, {}) is False  # c's run is fenced off
        assert REPO in state.read("poll-state")
        queued = Counter(record.event for record in queue.jobs(["pending"], limit=1000))
        assert queued["sweep_locks"] == MINUTES // 5  # one per five-minute slot
        assert queued["check_drift"] == 1  # 06:00 today, once
    finally:
        queue.close()
        for each in (client, *own):
            each.close()
