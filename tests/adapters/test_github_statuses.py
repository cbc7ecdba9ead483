"""Pending commit statuses held back (bot.adapters.github.reporter HeldStatuses): a quick
result replaces its pending status, a slow run shows both in order, and a result never
overtakes the pending status being sent - against the GitHub simulator at 300 ms a request."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.github.host import Credentials, GitHubHost
from bot.adapters.github.reporter import HeldStatuses, PullRequestReporter
from fixtures.github_sim import GitHubSim, SimUser

REPO = "acme/infra"
CONTEXT = "shipmate/preview"


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GitHubSim]:
    with GitHubSim.start(tmp_path, users=[SimUser("shipmate", "bot-token", "write")], latency_ms=300) as running:
        running.create_repo("acme", "infra", auto_init=True)
        yield running


def told(sim: GitHubSim, delay: float) -> tuple[PullRequestReporter, str]:
    host = GitHubHost(Credentials(api_url=sim.api_url, token="bot-token", bot_login="shipmate"), throttle=False)
    head = host.branch_head(REPO, "main")
    return PullRequestReporter(host, pending_delay=delay, held=HeldStatuses()), head


def states(sim: GitHubSim, sha: str) -> list[str]:
    commit = sim.client("bot-token").get_repo(REPO).get_commit(sha)
    return [s.state for s in reversed(list(commit.get_statuses())) if s.context == CONTEXT]


def test_a_quick_result_replaces_its_pending_status(sim: GitHubSim) -> None:
    reporter, head = told(sim, delay=1.0)
    reporter.status(REPO, head, CONTEXT, "pending", "previewing")
    reporter.status(REPO, head, CONTEXT, "success", "no changes")
    time.sleep(1.5)  # past the delay: the held status was dropped, not sent late
    assert states(sim, head) == ["success"]
    assert reporter.held.held() == 0


def test_a_slow_run_shows_pending_then_its_result(sim: GitHubSim) -> None:
    reporter, head = told(sim, delay=0.2)
    reporter.status(REPO, head, CONTEXT, "pending", "previewing")
    time.sleep(0.8)  # the pending status went out
    reporter.status(REPO, head, CONTEXT, "success", "no changes")
    assert states(sim, head) == ["pending", "success"]


def test_a_result_waits_for_the_pending_status_on_its_way(sim: GitHubSim) -> None:
    reporter, head = told(sim, delay=0.1)
    reporter.status(REPO, head, CONTEXT, "pending", "previewing")
    time.sleep(0.2)  # the pending status is being sent (300 ms a request)
    reporter.status(REPO, head, CONTEXT, "failure", "1 stack failed")
    assert states(sim, head) == ["pending", "failure"]  # in order: the result is the latest


def test_without_a_delay_every_status_is_written_at_once(sim: GitHubSim) -> None:
    reporter, head = told(sim, delay=0)
    reporter.status(REPO, head, CONTEXT, "pending", "previewing")
    assert states(sim, head) == ["pending"]
