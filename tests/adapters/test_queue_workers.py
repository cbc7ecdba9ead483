"""The worker pool over real queues: per-key order, parallelism across keys, retries, lease
renewal and graceful stop."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.clock import SystemClock
from bot.adapters.github.webhooks import delivery_key, make_delivery
from bot.adapters.queue import RetryPolicy
from bot.adapters.queue.redis import RedisQueue
from bot.adapters.queue.sqlite import SqliteQueue
from bot.app.workers import WorkerPool, is_temporary
from bot.core.errors import (
    MAX_RETRY_AFTER_SECONDS,
    ConfigError,
    PolicyDenied,
    StateConflict,
    TransientError,
    retry_delay,
    retry_kind,
)
from bot.core.events import Delivery
from bot.core.ports import EventQueue
from bot.metrics import ShipmateMetrics
from tests.conftest import ManualClock

NO_BACKOFF = RetryPolicy(max_attempts=3, base_seconds=0, cap_seconds=0)
WAIT = 20  # seconds a test waits for something that normally takes milliseconds


def delivery(delivery_id: str, number: int, repo: str = "acme/config") -> Delivery:
    body = {
        "action": "synchronize", "repository": {"full_name": repo},
        "pull_request": {"number": number, "user": {"login": "dev"},
                         "head": {"sha": "a" * 40, "ref": "f", "repo": {"full_name": repo}},
                         "base": {"ref": "main", "sha": "b" * 40, "repo": {"full_name": repo}}},
    }
    return make_delivery(delivery_id, "pull_request", json.dumps(body).encode(), ManualClock().now())


@pytest.fixture(params=["sqlite", "redis"])
def queue(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventQueue]:
    q: EventQueue
    if request.param == "sqlite":
        q = SqliteQueue(tmp_path / "queue.sqlite3", retry=NO_BACKOFF)
    else:
        import uuid

        q = RedisQueue.from_url(request.getfixturevalue("redis_url"), prefix=f"w:{uuid.uuid4().hex}:", retry=NO_BACKOFF)
    yield q
    q.close()


def test_keys_in_order_and_in_parallel(queue: EventQueue) -> None:
    expected: dict[str, list[str]] = {}
    for i in range(60):
        d = delivery(f"d{i:02}", i % 4)
        queue.put(d)
        expected.setdefault(delivery_key(d), []).append(d.id)
    lock = threading.Lock()
    running: set[str] = set()
    seen: dict[str, list[str]] = {}
    overlap: list[str] = []
    most_at_once = 0
    all_done = threading.Event()

    def handle(d: Delivery) -> None:
        nonlocal most_at_once
        key = delivery_key(d)
        with lock:
            if key in running:
                overlap.append(key)
            running.add(key)
            most_at_once = max(most_at_once, len(running))
        threading.Event().wait(0.003)  # long enough for other keys' jobs to start meanwhile
        with lock:
            running.discard(key)
            seen.setdefault(key, []).append(d.id)
            if sum(map(len, seen.values())) == 60:
                all_done.set()

    pool = WorkerPool(queue, handle, workers=4, poll_seconds=0.01, clock=SystemClock())
    pool.start()
    assert all_done.wait(WAIT)
    assert pool.stop(WAIT)
    assert overlap == []
    assert seen == expected
    assert most_at_once > 1  # different pull requests did run side by side


def test_two_keys_run_at_the_same_time(queue: EventQueue) -> None:
    queue.put(delivery("a", 1))
    queue.put(delivery("b", 2))
    both_inside = threading.Barrier(2, timeout=WAIT)  # breaks (and fails) unless both run together
    finished: list[str] = []
    done = threading.Event()

    def handle(d: Delivery) -> None:
        both_inside.wait()
        finished.append(d.id)
        if len(finished) == 2:
            done.set()

    pool = WorkerPool(queue, handle, workers=2, poll_seconds=0.01, clock=SystemClock())
    pool.start()
    assert done.wait(WAIT)
    assert pool.stop(WAIT)
    assert sorted(finished) == ["a", "b"]


def test_temporary_errors_are_retried_permanent_ones_are_not(queue: EventQueue) -> None:
    queue.put(delivery("flaky", 1))
    queue.put(delivery("broken", 2))
    calls: dict[str, int] = {}
    metrics = ShipmateMetrics()
    settled = threading.Event()

    def handle(d: Delivery) -> None:
        calls[d.id] = calls.get(d.id, 0) + 1
        if d.id == "broken":
            raise ConfigError("workspaces/dev.yaml:3:1: modules: unknown module 'x'")
        if calls[d.id] < 3:
            raise ConnectionError("github.com reset the connection")
        settled.set()

    pool = WorkerPool(queue, handle, workers=2, poll_seconds=0.01, metrics=metrics, clock=SystemClock())
    pool.start()
    assert settled.wait(WAIT)
    assert pool.stop(WAIT)
    assert calls == {"flaky": 3, "broken": 1}
    stats = queue.stats()
    assert (stats.done, stats.failed, stats.pending) == (1, 1, 0)
    assert metrics.jobs_failed.value(event="pull_request", retry="true") == 2
    assert metrics.jobs_failed.value(event="pull_request", retry="false") == 1
    assert metrics.jobs_processed.value(event="pull_request") == 1
    assert metrics.job_seconds.count(event="pull_request") == 4


def test_gives_up_after_the_last_attempt(queue: EventQueue) -> None:
    queue.put(delivery("down", 1))
    queue.put(delivery("next", 1))
    calls: list[str] = []
    done = threading.Event()

    def handle(d: Delivery) -> None:
        calls.append(d.id)
        if d.id == "down":
            raise TimeoutError("api timed out")
        done.set()

    pool = WorkerPool(queue, handle, workers=1, poll_seconds=0.01, clock=SystemClock())
    pool.start()
    assert done.wait(WAIT)
    assert pool.stop(WAIT)
    assert calls == ["down", "down", "down", "next"]
    assert (queue.stats().failed, queue.stats().dead) == (0, 1)


def test_classification() -> None:
    assert is_temporary(StateConflict("lost the race"))
    assert is_temporary(TransientError("GitHub: HTTP 502", retry_after=3))
    assert is_temporary(ConnectionResetError("reset by peer")) and is_temporary(TimeoutError("read timed out"))
    assert not is_temporary(PolicyDenied("read permission"))
    assert not is_temporary(ConfigError("bad"))
    assert retry_kind(ConfigError("bad")) == "permanent"
    assert retry_kind(TypeError("unsupported operand")) == "bug"
    assert retry_kind(KeyError("x")) == "bug"
    assert TransientError("slow down", retry_after=10**9).retry_after == MAX_RETRY_AFTER_SECONDS
    assert retry_delay(TransientError("429", retry_after=30), 4.0) == 30.0
    assert retry_delay(TransientError("502"), 4.0) == 4.0


def test_running_jobs_keep_their_lease(tmp_path: Path, manual_clock: ManualClock) -> None:
    queue = SqliteQueue(tmp_path / "queue.sqlite3", clock=manual_clock)
    queue.put(delivery("long", 1))
    other_claims: list[object] = []

    def handle(d: Delivery) -> None:  # a handler that takes three leases' worth of time
        for _ in range(3):
            manual_clock.advance(8)
            pool.maintain_once()
            other_claims.append(queue.claim("intruder", 10))

    pool = WorkerPool(queue, handle, workers=1, lease_seconds=10, clock=manual_clock)
    job = queue.claim("w0", 10)
    assert job is not None
    pool.run(job)
    assert other_claims == [None, None, None]
    assert queue.stats().done == 1
    queue.close()


def test_graceful_stop_lets_the_handler_finish(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queue.sqlite3")
    queue.put(delivery("slow", 1))
    entered, release = threading.Event(), threading.Event()
    finished: list[str] = []

    def handle(d: Delivery) -> None:
        entered.set()
        release.wait(WAIT)
        finished.append(d.id)

    pool = WorkerPool(queue, handle, workers=2, poll_seconds=0.01, clock=SystemClock())
    pool.start()
    pool.alive()
    assert entered.wait(WAIT)
    assert pool.in_flight == 1
    stopper = threading.Thread(target=pool.stop, args=(WAIT,))
    stopper.start()
    release.set()
    stopper.join(WAIT)
    assert finished == ["slow"]
    assert queue.stats().done == 1
    with pytest.raises(RuntimeError, match="not running"):
        pool.alive()
    queue.close()
