"""The JobState contract, run against both adapters: the data directory with this process's
leases (`LocalJobState`) and Redis (`RedisJobState`, a real redis-server started on a free
port); and the repository book on Redis. Time is a manual clock, so leases expire without
sleeping."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.localfs.jobstate import LocalJobState
from bot.adapters.queue.redis_jobs import RedisJobState, RedisRepositoryBook, connect
from bot.core.ports import JobState
from tests.conftest import ManualClock

LEASE = 30.0


@pytest.fixture(params=["local", "redis"])
def state(request: pytest.FixtureRequest, tmp_path: Path, manual_clock: ManualClock) -> Iterator[JobState]:
    if request.param == "local":
        yield LocalJobState(tmp_path / "data", manual_clock)
        return
    client = connect(request.getfixturevalue("redis_url"))
    try:
        yield RedisJobState(client, prefix=f"test:{uuid.uuid4().hex}:", clock=manual_clock)
    finally:
        client.close()


def test_a_period_runs_once(state: JobState) -> None:
    run = state.begin("poll", 7, "a", LEASE)
    assert run is not None and (run.job, run.period, run.holder) == ("poll", 7, "a")
    assert state.begin("poll", 7, "b", LEASE) is None  # a live lease: one run at a time
    assert state.begin("poll", 8, "b", LEASE) is None  # even of the next period
    assert state.begin("locks", 7, "b", LEASE) is not None  # another job is another lease
    assert state.finish(run) is True
    assert state.begin("poll", 7, "b", LEASE) is None  # the period ran
    assert state.begin("poll", 6, "b", LEASE) is None  # and so did every earlier one
    later = state.begin("poll", 8, "b", LEASE)
    assert later is not None and later.token > run.token


def test_a_dead_holder_is_taken_over_and_fenced_off(state: JobState, manual_clock: ManualClock) -> None:
    stalled = state.begin("drift", 1, "a", LEASE)
    assert stalled is not None
    assert state.write(stalled, "drift-state", "acme/config", "2026-03-02T06:00:00Z") is True
    manual_clock.advance(LEASE - 1)
    assert state.renew(stalled, LEASE) is True  # renewed: still its run
    manual_clock.advance(LEASE - 1)
    assert state.begin("drift", 1, "b", LEASE) is None
    manual_clock.advance(2)  # the lease expired: any replica takes the period over
    taker = state.begin("drift", 1, "b", LEASE)
    assert taker is not None and taker.token > stalled.token
    assert state.write(taker, "drift-state", "acme/config", "2026-03-02T07:00:00Z") is True
    # The stalled run wakes up: each of its writes is refused, it cannot finish the period.
    assert state.write(stalled, "drift-state", "acme/config", "2026-03-02T06:30:00Z") is False
    assert state.renew(stalled, LEASE) is False
    assert state.finish(stalled) is False
    assert state.read("drift-state") == {"acme/config": "2026-03-02T07:00:00Z"}
    assert state.finish(taker) is True
    assert state.write(taker, "drift-state", "acme/config", "late") is False  # a finished run writes nothing
    assert state.begin("drift", 1, "c", LEASE) is None


def test_a_run_outside_the_schedule_always_begins_and_fences(state: JobState) -> None:
    scheduled = state.begin("poll", 3, "a", LEASE)
    assert scheduled is not None
    now = state.begin("poll", None, "operator", LEASE)
    assert now is not None and now.period is None and now.token > scheduled.token
    assert state.write(scheduled, "poll-state", "acme/config", {}) is False
    assert state.finish(now) is True
    assert state.begin("poll", 3, "b", LEASE) is not None  # a run now does not count as the period's


def test_documents_hold_json_per_key(state: JobState) -> None:
    assert state.read("poll-state") == {}
    run = state.begin("poll", None, "a", LEASE)
    assert run is not None
    heads = {"branch:main": "a" * 40, "pr:3": "b" * 40}
    assert state.write(run, "poll-state", "acme/config", heads)
    assert state.write(run, "poll-state", "acme/other", {})
    assert state.read("poll-state") == {"acme/config": heads, "acme/other": {}}
    assert state.read("drift-state") == {}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 5), st.booleans()), max_size=30))
def test_tokens_only_grow_and_periods_never_run_twice(steps: list[tuple[str, int, bool]]) -> None:
    # Replicas a, b, c ask for periods in any order and finish or abandon their runs (the
    # lease then expires): a period finishes at most once, and each token is greater.
    clock = ManualClock()
    with tempfile.TemporaryDirectory() as tmp:
        state = LocalJobState(Path(tmp), clock)
        tokens: list[int] = []
        finished: list[int] = []
        for holder, period, finishes in steps:
            run = state.begin("locks", period, holder, LEASE)
            if run is None:
                clock.advance(LEASE + 1)
                continue
            tokens.append(run.token)
            if finishes:
                assert state.finish(run)
                finished.append(period)
            else:
                clock.advance(LEASE + 1)
        assert tokens == sorted(set(tokens))
        assert len(finished) == len(set(finished)) and finished == sorted(finished)


def test_the_repository_book_is_shared(redis_url: str) -> None:
    client, other = connect(redis_url), redis.Redis.from_url(redis_url)
    key = f"test:{uuid.uuid4().hex}:repositories"
    try:
        a, b = RedisRepositoryBook(client, key=key), RedisRepositoryBook(other, key=key)
        a.remember("acme/config", None)
        b.remember("acme/web", 42)
        b.remember("acme/config", 7)  # an App installation named later wins
        a.remember("acme/config", None)  # a token event does not erase it
        assert a.repositories() == b.repositories() == {"acme/config": 7, "acme/web": 42}
    finally:
        client.close()
        other.close()
