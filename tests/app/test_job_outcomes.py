"""How a job ends is told on its pull request, through the real bot handler (`Outcomes`)
over the GitHub simulator, with the queue's manual clock instead of sleeps:

- GitHub answering 502, then 429 with `Retry-After`, then normally: the job is retried after
  the backoff and after the `Retry-After`, and succeeds; no error is posted. So is a preview
  whose state-branch fetch failed.
- A bug (TypeError) in a handler: one attempt, a comment naming an incident id that the log
  holds with the traceback, the pending status set to error, the job dead-lettered.
- A config error: no retry, the error comment at once, the status final.
- A delivery whose workers all died: reported dead with an error comment and status.
- A handler that returns but leaves a status pending: the status is made final.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.adapters.github.webhooks import make_delivery
from bot.adapters.queue import RetryPolicy
from bot.adapters.queue.sqlite import SqliteQueue
from bot.app.outcomes import Outcomes
from bot.app.router import EventRouter
from bot.app.workers import WorkerPool
from bot.cli.sandbox import REPO, REPO_NAME, REPO_OWNER, Sandbox
from bot.core.errors import ConfigError
from bot.core.events import Delivery, PullRequestEvent
from tests.conftest import ManualClock
from tests.e2e.world import Edit, bodies, comments, open_pr, replace, statuses

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("outcomes"), serve=False) as sandbox:
        yield sandbox


@pytest.fixture
def queue(tmp_path: Path, manual_clock: ManualClock) -> Iterator[SqliteQueue]:
    q = SqliteQueue(tmp_path / "queue.sqlite3", clock=manual_clock,
                    retry=RetryPolicy(max_attempts=3, base_seconds=10, cap_seconds=300))
    yield q
    q.close()


def opened(box: Sandbox, title: str, edits: dict[str, Edit] | None = None) -> tuple[int, str, Delivery]:
    """Open a pull request; its `pull_request` delivery, as the webhook intake would queue it."""
    before = len(box.recorder.received)
    edits = edits or {f"docs/{title.lower().replace(' ', '-')}.md": "text\n"}
    pr = open_pr(box, "bob", edits, title=title)
    box.skip()
    [item] = [r for r in box.recorder.received[before:] if r.headers["X-GitHub-Event"] == "pull_request"]
    delivery = make_delivery(item.headers["X-GitHub-Delivery"], "pull_request", item.body,
                             ManualClock().now())
    return pr.number, pr.head.sha, delivery


def drain(pool: WorkerPool, queue: SqliteQueue, clock: ManualClock, limit: int = 400) -> list[int]:
    """Run jobs as they come due, moving the clock a second at a time; the seconds waited
    before each run."""
    waits, waited = [], 0
    for _ in range(limit):
        job = queue.claim("w0", 60)
        if job is None:
            if queue.stats().depth == 0:
                return waits
            clock.advance(1)
            waited += 1
            continue
        waits.append(waited)
        waited = 0
        pool.run(job)
    raise AssertionError("the queue did not drain")


def custom(box: Sandbox, handle: Callable[[PullRequestEvent], None]) -> Outcomes:
    router = EventRouter()
    router.on(PullRequestEvent, handle)
    return Outcomes(router, box.services)


def set_pending(box: Sandbox, event: PullRequestEvent) -> None:
    host = box.services.access(event.repo).host
    host.set_status(event.repo, event.head_sha, "shipmate/preview", "pending", "previewing the changed stacks")


def test_github_5xx_and_429_are_retried_after_their_delays(
    box: Sandbox, queue: SqliteQueue, manual_clock: ManualClock
) -> None:
    number, head, delivery = opened(box, "Retry docs")
    box.github.inject_fault(rf"/pulls/{number}/files$", 502, method="GET")
    box.github.inject_fault(rf"/pulls/{number}/files$", 429, method="GET", retry_after=45)
    queue.put(delivery)
    pool = WorkerPool(queue, box.bot.handler, clock=manual_clock)
    assert isinstance(box.bot.handler, Outcomes) and pool.reporter is box.bot.handler
    waits = drain(pool, queue, manual_clock)
    assert waits == [0, 10, 45]  # the 10 s backoff after the 502; the 429's Retry-After: 45 s
    assert [h["status"] for h in box.github.fault_hits()[-2:]] == [502, 429]
    assert queue.stats().done == 1
    [summary] = bodies(box, number)
    assert "No stacks are affected by this change." in summary
    assert statuses(box, head)["shipmate/preview"] == ("success", "no stacks changed")


def test_a_state_branch_that_cannot_be_fetched_retries_the_preview(
    box: Sandbox, queue: SqliteQueue, manual_clock: ManualClock
) -> None:
    """A failed fetch of the state branch during a stack's preview is temporary: the job is
    tried again, rather than the stack being shown as failed for good."""
    number, head, delivery = opened(box, "Warn in prod", {"shop/prod/main.yaml": replace("LOG_LEVEL: info",
                                                                                         "LOG_LEVEL: warn")})
    access = box.services.access(REPO)
    box.services.tree(access, REPO, head)  # both trees are in the checkout cache already:
    box.services.base_tree(access, REPO, "main")  # the next git request is the state branch's
    box.github.inject_fault(r"^/acme/config\.git/", 502)
    queue.put(delivery)
    pool = WorkerPool(queue, box.bot.handler, clock=manual_clock)
    assert drain(pool, queue, manual_clock) == [0, 10]
    assert box.github.fault_hits()[-1]["path"].startswith("/acme/config.git/")
    [summary] = bodies(box, number)
    assert "### `shop` / `prod` · workspace `prod`" in summary and "❌" not in summary
    assert statuses(box, head)["shipmate/preview"][0] == "success"


def test_a_bug_gets_one_attempt_an_incident_comment_and_a_final_status(
    box: Sandbox, queue: SqliteQueue, manual_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    number, head, delivery = opened(box, "Bug docs")
    calls = []

    def buggy(event: PullRequestEvent) -> None:
        calls.append(event.number)
        set_pending(box, event)
        _ = "replicas: " + 3  # type: ignore[operator]

    queue.put(delivery)
    pool = WorkerPool(queue, custom(box, buggy), clock=manual_clock)
    with caplog.at_level(logging.ERROR):
        assert drain(pool, queue, manual_clock) == [0]
    assert calls == [number]  # one attempt, however long we wait
    [comment] = bodies(box, number)
    incident = comment.split("incident `", 1)[1].split("`", 1)[0]
    assert len(incident) == 12 and "TypeError" not in comment
    assert "shipmate queue retry" in comment
    [logged] = [r.getMessage() for r in caplog.records if incident in r.getMessage()]
    assert "Traceback" in logged and "TypeError" in logged
    state, description = statuses(box, head)["shipmate/preview"]
    assert state == "error" and incident in description
    [dead] = queue.jobs(["dead"])
    assert incident in dead.last_error


def test_a_config_error_is_reported_at_once_and_never_retried(
    box: Sandbox, queue: SqliteQueue, manual_clock: ManualClock
) -> None:
    number, head, delivery = opened(box, "Config docs")
    calls = []

    def strict(event: PullRequestEvent) -> None:
        calls.append(event.number)
        set_pending(box, event)
        raise ConfigError("shipmate.yaml:4:3: apply.mode: must be one of comment, merge")

    queue.put(delivery)
    pool = WorkerPool(queue, custom(box, strict), clock=manual_clock)
    assert drain(pool, queue, manual_clock) == [0]
    assert calls == [number]
    [comment] = comments(box, number)
    assert "shipmate.yaml:4:3: apply.mode: must be one of comment, merge" in comment["body"]
    assert "trying again will not fix" in comment["body"]
    state, description = statuses(box, head)["shipmate/preview"]
    assert state == "error" and "shipmate.yaml:4:3" in description
    # The status links to the comment that explains it.
    [status] = [s for s in box.github.statuses(REPO_OWNER, REPO_NAME, head) if s["context"] == "shipmate/preview"]
    assert status["target_url"] == comment["html_url"] and f"/pull/{number}#issuecomment-" in comment["html_url"]
    assert (queue.stats().failed, queue.stats().dead) == (1, 0)


def test_a_delivery_whose_workers_all_died_is_reported_dead(
    box: Sandbox, queue: SqliteQueue, manual_clock: ManualClock
) -> None:
    number, head, delivery = opened(box, "Killer docs")
    box.services.access(REPO).host.set_status(REPO, head, "shipmate/preview", "pending", "previewing")
    queue.put(delivery)
    for _ in range(3):  # three workers claim it and die: their leases run out
        assert queue.claim("doomed", 30) is not None
        manual_clock.advance(31)
    ran = []
    pool = WorkerPool(queue, custom(box, lambda event: ran.append(event.number)), clock=manual_clock)
    assert drain(pool, queue, manual_clock) == [0]
    assert ran == []  # not run a fourth time: only reported
    [comment] = bodies(box, number)
    assert "stopped 3 times before finishing" in comment and "Retry docs" not in comment
    assert statuses(box, head)["shipmate/preview"][0] == "error"
    assert queue.stats().dead == 1


def test_a_status_left_pending_by_a_finished_job_is_made_final(
    box: Sandbox, queue: SqliteQueue, manual_clock: ManualClock
) -> None:
    number, head, delivery = opened(box, "Forgetful docs")
    queue.put(delivery)
    pool = WorkerPool(queue, custom(box, lambda event: set_pending(box, event)), clock=manual_clock)
    drain(pool, queue, manual_clock)
    assert statuses(box, head)["shipmate/preview"] == ("error", "Shipmate ended without a result (see its log)")
    assert bodies(box, number) == []
