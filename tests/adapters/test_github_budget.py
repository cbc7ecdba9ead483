"""Shipmate's write budget for GitHub (bot.adapters.github.budget): writes go at once within
it, wait a little for a slot, or go back to the queue with Retry-After when the wait is long;
and a host with the budget keeps a burst under the simulator's secondary rate limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.adapters.github.budget import WriteBudget
from bot.adapters.github.host import Credentials, GitHubHost
from bot.core.errors import TransientError
from bot.metrics import ShipmateMetrics
from fixtures.github_sim import GitHubSim, SimUser


class Clock:
    """Time that passes only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_writes_within_the_budget_go_at_once() -> None:
    clock = Clock()
    budget = WriteBudget(3, 10, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        budget.spend("comment")
    assert clock.slept == [] and budget.spent_within(60) == 3


def test_a_write_waits_for_the_minute_to_free_a_slot() -> None:
    clock, metrics = Clock(), ShipmateMetrics()
    budget = WriteBudget(2, 10, clock=clock, sleep=clock.sleep, max_wait=30, metrics=metrics)
    budget.spend("a")
    clock.now += 45
    budget.spend("b")
    budget.spend("c")  # the first leaves the minute 15 s later
    assert clock.slept == [16.0]  # 15 s, and a second's slack for the way to GitHub
    assert metrics.github_write_waits.value(result="waited") == 1
    assert metrics.github_write_wait_seconds.value() == 16.0


def test_a_long_wait_sends_the_job_back_to_the_queue() -> None:
    clock, metrics = Clock(), ShipmateMetrics()
    budget = WriteBudget(100, 3, clock=clock, sleep=clock.sleep, max_wait=10, metrics=metrics)
    for _ in range(3):
        budget.spend("status")
    with pytest.raises(TransientError, match="write budget is used up") as raised:
        budget.spend("status")
    assert raised.value.retry_after == pytest.approx(3600.0)  # the retry axis waits an hour at most
    assert clock.slept == [] and metrics.github_write_waits.value(result="deferred") == 1
    clock.now += 3601
    budget.spend("status")  # the hour went by


def test_a_host_with_the_budget_never_crosses_githubs_limit(tmp_path: Path) -> None:
    with GitHubSim.start(tmp_path, users=[SimUser("shipmate", "bot-token", "write")], content_per_minute=5) as sim:
        sim.create_repo("acme", "infra", auto_init=True)
        credentials = Credentials(api_url=sim.api_url, token="bot-token", bot_login="shipmate")
        host = GitHubHost(credentials, budget=WriteBudget(5, 500, max_wait=10))
        head = host.branch_head("acme/infra", "main")
        for n in range(5):
            host.set_status("acme/infra", head, f"shipmate/{n}", "success", "done")
        with pytest.raises(TransientError, match="write budget is used up") as ours:
            host.set_status("acme/infra", head, "shipmate/5", "success", "done")
        assert ours.value.retry_after is not None and 50 < ours.value.retry_after <= 61
        assert sim.traffic.refused == 0  # the sixth never reached GitHub

        # Without the budget (SHIPMATE_GITHUB_THROTTLE=false) GitHub refuses it, and the job
        # goes back to the queue for as long as GitHub's Retry-After says.
        unpaced = GitHubHost(credentials, throttle=False)
        with pytest.raises(TransientError, match="secondary rate limit") as theirs:
            unpaced.set_status("acme/infra", head, "shipmate/5", "success", "done")
        assert theirs.value.retry_after is not None and theirs.value.retry_after > 0
        assert sim.traffic.refused == 1


def test_a_token_that_cannot_read_its_user_leaves_pushes_to_the_policy(tmp_path: Path) -> None:
    """A workflow's GITHUB_TOKEN may not read /user: Shipmate then cannot tell its own pushes
    and judges every push by the policy, as before (bot.app.merges)."""
    from bot.app.merges import _own_login

    with GitHubSim.start(tmp_path, users=[SimUser("shipmate", "bot-token", "write")]) as sim:
        credentials = Credentials(api_url=sim.api_url, token="bot-token")
        assert _own_login(GitHubHost(credentials, throttle=False)) == "shipmate"
        sim.inject_fault(r"/user$", 403, message="Resource not accessible by integration")
        assert _own_login(GitHubHost(credentials, throttle=False)) == ""
