"""The write budget's ledgers (`WriteLedger`): this process's and the fleet's on Redis hold the
same sliding minute and hour; on Redis, every replica spends from one budget."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from bot.adapters.github.budget import SLACK, MemoryLedger, WriteBudget
from bot.adapters.queue.redis_jobs import connect
from bot.adapters.queue.redis_ledger import RedisWriteLedger
from bot.core.errors import TransientError
from bot.core.ports import WriteLedger


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest) -> Callable[[], WriteLedger]:
    """A ledger factory: each call is another replica's view of the same budget."""
    if request.param == "memory":
        shared = MemoryLedger()
        return lambda: shared
    url = request.getfixturevalue("redis_url")
    prefix = f"test-{uuid.uuid4().hex}:"
    return lambda: RedisWriteLedger(connect(url), prefix=prefix)


def test_slots_are_taken_until_the_minute_is_full(make: Callable[[], WriteLedger]) -> None:
    ledger = make()
    assert [ledger.take("inst-1", 2, 10, SLACK) for _ in range(2)] == [0.0, 0.0]
    wait = ledger.take("inst-1", 2, 10, SLACK)
    assert 59 < wait <= 60 + SLACK
    assert ledger.take("inst-2", 2, 10, SLACK) == 0.0  # another installation has its own budget


def test_the_hour_holds_too(make: Callable[[], WriteLedger]) -> None:
    ledger = make()
    assert [ledger.take("k", 100, 3, SLACK) for _ in range(3)] == [0.0] * 3
    assert 3599 < ledger.take("k", 100, 3, SLACK) <= 3600 + SLACK


def test_replicas_spend_from_one_budget(make: Callable[[], WriteLedger]) -> None:
    one, two = make(), make()
    budget_one = WriteBudget(3, 500, ledger=one, key="inst", max_wait=5)
    budget_two = WriteBudget(3, 500, ledger=two, key="inst", max_wait=5)
    budget_one.spend("comment")
    budget_two.spend("status")
    budget_one.spend("status")
    with pytest.raises(TransientError, match="write budget is used up"):
        budget_two.spend("comment")  # the fourth write of the fleet this minute
