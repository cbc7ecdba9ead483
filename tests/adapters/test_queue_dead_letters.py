"""Dead letters and retries by error kind, on both real queues.

- A delivery that kills its worker process (SIGKILL in a child process running a real
  `WorkerPool`) used to come back after every lease expiry, forever, holding up the later
  events of its pull request. Now each expired lease is an attempt; past the last one the job
  is dead-lettered, reported once, shown in the metrics, and the key's next job runs.
- A temporary error is retried after at least its `Retry-After`; a permanent one is reported
  at once and never retried; a bug (TypeError) gets one attempt and an incident id that the
  log holds next to the traceback.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.queue import RetryPolicy
from bot.adapters.queue.redis import RedisQueue
from bot.adapters.queue.sqlite import SqliteQueue
from bot.app.workers import JobFailure, WorkerPool
from bot.core.errors import ConfigError, TransientError
from bot.core.events import Delivery
from bot.core.ports import EventQueue
from bot.metrics import ShipmateMetrics
from tests.adapters.test_queue_contract import pr_delivery
from tests.conftest import ManualClock

ROOT = Path(__file__).resolve().parents[2]


class Reporter:
    def __init__(self) -> None:
        self.succeeded_ids: list[str] = []
        self.failures: list[JobFailure] = []

    def succeeded(self, delivery: Delivery) -> None:
        self.succeeded_ids.append(delivery.id)

    def failed(self, failure: JobFailure) -> None:
        self.failures.append(failure)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_delivery_that_kills_its_worker_is_dead_lettered(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, manual_clock: ManualClock
) -> None:
    if backend == "sqlite":
        spec = str(tmp_path / "queue.sqlite3")
        queue: EventQueue = SqliteQueue(spec)
    else:
        prefix = f"poison:{uuid.uuid4().hex}:"
        url = request.getfixturevalue("redis_url")
        spec = f"{url}#{prefix}"
        queue = RedisQueue.from_url(url, prefix=prefix)
    queue.put(pr_delivery("poison-1", 7, manual_clock))
    queue.put(pr_delivery("after-poison", 7, manual_clock))  # same pull request: waits behind it
    out = tmp_path / "out"
    out.mkdir()
    exits = []
    for _ in range(8):  # each process is a restart of the server after the previous one died
        child = subprocess.run(
            [sys.executable, "-m", "tests.adapters.poison_worker", spec, str(out), "--until", "after-poison"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )
        exits.append(child.returncode)
        if child.returncode == 0:
            break
        assert child.returncode == -9, child.stderr  # killed by the poison, nothing else
    runs = (out / "runs.txt").read_text().splitlines()
    assert len(runs) == 3, runs  # max attempts 3: three runs, not one per restart forever
    assert exits == [-9, -9, -9, 0]
    assert (out / "done.txt").read_text().split() == ["after-poison"]
    [reported] = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert reported["delivery"] == "poison-1" and reported["kind"] == "stopped" and reported["attempts"] == 3
    stats = queue.stats()
    assert (stats.dead, stats.pending, stats.running, stats.done) == (1, 0, 0, 1)
    [dead] = queue.jobs(["dead"])
    assert dead.delivery_id == "poison-1" and "worker stopped" in dead.last_error
    metrics = (out / "metrics.txt").read_text()
    assert 'shipmate_jobs_dead_lettered_total{event="pull_request",reason="stopped"} 1' in metrics
    assert 'shipmate_queue_jobs{state="dead"} 1' in metrics
    queue.close()


@pytest.fixture(params=["sqlite", "redis"])
def clocked(request: pytest.FixtureRequest, tmp_path: Path, manual_clock: ManualClock) -> Iterator[EventQueue]:
    retry = RetryPolicy(max_attempts=4, base_seconds=2, cap_seconds=300)
    q: EventQueue
    if request.param == "sqlite":
        q = SqliteQueue(tmp_path / "queue.sqlite3", clock=manual_clock, retry=retry)
    else:
        q = RedisQueue.from_url(request.getfixturevalue("redis_url"), prefix=f"k:{uuid.uuid4().hex}:",
                                clock=manual_clock, retry=retry)
    yield q
    q.close()


def run_one(pool: WorkerPool, queue: EventQueue) -> bool:
    job = queue.claim("w0", 60)
    if job is None:
        return False
    pool.run(job)
    return True


def test_temporary_errors_wait_for_retry_after(clocked: EventQueue, manual_clock: ManualClock) -> None:
    queue = clocked
    queue.put(pr_delivery("busy", 1, manual_clock))
    answers: list[Exception | None] = [
        TransientError("GitHub: HTTP 502: Server Error"),
        TransientError("GitHub: HTTP 429: API rate limit exceeded", retry_after=30),
        ConnectionResetError("connection reset by peer"),
        None,
    ]
    reporter = Reporter()
    metrics = ShipmateMetrics()

    def handle(delivery: Delivery) -> None:
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    pool = WorkerPool(queue, handle, clock=manual_clock, reporter=reporter, metrics=metrics)
    waits = []
    while answers:
        waited = 0
        while not run_one(pool, queue):
            manual_clock.advance(1)
            waited += 1
        waits.append(waited)
    # backoff 2 s after the 502; the 429's Retry-After: 30 beats the 4 s backoff; then 8 s
    assert waits == [0, 2, 30, 8]
    assert reporter.failures == [] and reporter.succeeded_ids == ["busy"]
    assert queue.stats().done == 1
    assert metrics.jobs_failed.value(event="pull_request", retry="true") == 3


def test_temporary_errors_on_every_attempt_end_dead_and_reported(
    clocked: EventQueue, manual_clock: ManualClock
) -> None:
    queue = clocked
    queue.put(pr_delivery("down", 1, manual_clock))
    queue.put(pr_delivery("next", 1, manual_clock))
    reporter = Reporter()
    metrics = ShipmateMetrics()

    def handle(delivery: Delivery) -> None:
        if delivery.id == "down":
            raise TransientError("GitHub: HTTP 503: Service Unavailable")

    pool = WorkerPool(queue, handle, clock=manual_clock, reporter=reporter, metrics=metrics)
    for _ in range(40):
        run_one(pool, queue)
        manual_clock.advance(10)
    [failure] = reporter.failures
    assert (failure.kind, failure.attempts, failure.delivery.id) == ("exhausted", 4, "down")
    assert "HTTP 503" in failure.error
    assert reporter.succeeded_ids == ["next"]
    assert queue.stats().dead == 1
    assert metrics.dead_letters.value(event="pull_request", reason="exhausted") == 1


def test_a_config_error_is_reported_at_once_and_never_retried(
    clocked: EventQueue, manual_clock: ManualClock
) -> None:
    queue = clocked
    queue.put(pr_delivery("bad", 1, manual_clock))
    reporter = Reporter()
    calls = []

    def handle(delivery: Delivery) -> None:
        calls.append(delivery.id)
        raise ConfigError("shipmate.yaml:3:1: apply: unknown key 'mode'")

    pool = WorkerPool(queue, handle, clock=manual_clock, reporter=reporter)
    assert run_one(pool, queue)
    manual_clock.advance(3600)
    assert not run_one(pool, queue)
    assert calls == ["bad"]
    [failure] = reporter.failures
    assert failure.kind == "permanent" and not failure.dead_letter and "shipmate.yaml:3:1" in failure.error
    stats = queue.stats()
    assert (stats.failed, stats.dead) == (1, 0)


def test_a_bug_gets_one_attempt_and_an_incident_id_in_the_log(
    clocked: EventQueue, manual_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    queue = clocked
    queue.put(pr_delivery("buggy", 1, manual_clock))
    reporter = Reporter()
    metrics = ShipmateMetrics()
    calls = []

    def handle(delivery: Delivery) -> None:
        calls.append(delivery.id)
        _ = "port " + 8080  # type: ignore[operator]

    pool = WorkerPool(queue, handle, clock=manual_clock, reporter=reporter, metrics=metrics)
    with caplog.at_level(logging.ERROR, logger="shipmate.workers"):
        assert run_one(pool, queue)
    manual_clock.advance(3600)
    assert not run_one(pool, queue)
    assert calls == ["buggy"]  # a bug is not retried five times
    [failure] = reporter.failures
    assert failure.kind == "bug" and len(failure.incident) == 12
    [record] = [r for r in caplog.records if failure.incident in r.getMessage()]
    assert "Traceback" in record.getMessage() and "TypeError" in record.getMessage()
    [dead] = queue.jobs(["dead"])
    assert failure.incident in dead.last_error
    assert metrics.dead_letters.value(event="pull_request", reason="bug") == 1
