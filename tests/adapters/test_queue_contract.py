"""The EventQueue contract, run against both adapters: SQLite (a file in a temp dir) and Redis
(a real redis-server started on a free port). Time is a manual clock, so leases and backoffs
are exercised without sleeping."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.adapters.github.webhooks import delivery_key, make_delivery
from bot.adapters.queue import RetryPolicy
from bot.adapters.queue.redis import RedisQueue
from bot.adapters.queue.sqlite import SqliteQueue
from bot.core.events import CheckDrift, Delivery, PullRequestEvent, SweepLocks, delivery_of
from bot.core.ports import EventQueue
from tests.conftest import ManualClock

RETRY = RetryPolicy(max_attempts=3, base_seconds=10, cap_seconds=60)
MakeQueue = Callable[[], EventQueue]


def pr_delivery(delivery_id: str, number: int, clock: ManualClock, repo: str = "acme/config") -> Delivery:
    body = {
        "action": "synchronize",
        "repository": {"full_name": repo, "default_branch": "main"},
        "pull_request": {
            "number": number, "user": {"login": "dev"},
            "head": {"sha": "a" * 40, "ref": "feature", "repo": {"full_name": repo}},
            "base": {"ref": "main", "sha": "b" * 40, "repo": {"full_name": repo}},
        },
    }
    return make_delivery(delivery_id, "pull_request", json.dumps(body).encode(), clock.now())


@pytest.fixture(params=["sqlite", "redis"])
def make_queue(request: pytest.FixtureRequest, tmp_path: Path, manual_clock: ManualClock) -> Iterator[MakeQueue]:
    """Opens a queue on the same storage each call (a second call = a restarted process)."""
    opened: list[EventQueue] = []
    if request.param == "sqlite":
        def make() -> EventQueue:
            queue = SqliteQueue(tmp_path / "data" / "queue.sqlite3", clock=manual_clock, retry=RETRY)
            opened.append(queue)
            return queue
    else:
        url = request.getfixturevalue("redis_url")
        prefix = f"test:{uuid.uuid4().hex}:"

        def make() -> EventQueue:
            queue = RedisQueue.from_url(url, prefix=prefix, clock=manual_clock, retry=RETRY)
            opened.append(queue)
            return queue
    yield make
    for queue in opened:
        try:
            queue.close()
        except Exception:
            pass


def test_put_dedupes_by_delivery_id(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    delivery = pr_delivery("d1", 1, manual_clock)
    assert queue.put(delivery) is True
    assert queue.put(delivery) is False
    assert queue.put(pr_delivery("d1", 2, manual_clock)) is False  # same ID, other content
    assert queue.stats().pending == 1


def test_claim_returns_the_delivery_intact(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    delivery = pr_delivery("d1", 7, manual_clock)
    queue.put(delivery)
    job = queue.claim("w1", 30)
    assert job is not None
    assert job.delivery == delivery and job.delivery.body == delivery.body
    assert job.delivery.parsed == delivery.parsed  # the event parsed at intake, not parsed again
    assert isinstance(job.delivery.parsed, PullRequestEvent) and job.delivery.parsed.number == 7
    assert (job.key, job.attempts, job.worker_id) == ("acme/config#7", 1, "w1")
    assert job.key == delivery_key(delivery)
    assert job.lease_until.timestamp() == pytest.approx(manual_clock.now().timestamp() + 30)
    assert queue.stats().running == 1
    assert queue.claim("w2", 30) is None


def test_the_queue_orders_by_the_key_the_intake_computed(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    queue.put(pr_delivery("d1", 1, manual_clock), "acme/config#1")
    queue.put(pr_delivery("d2", 2, manual_clock), "acme/config#1")  # the intake's word, not a re-parse
    job = queue.claim("w1", 30)
    assert job is not None and (job.delivery.id, job.key) == ("d1", "acme/config#1")
    assert queue.claim("w2", 30) is None  # d2 waits behind d1: same key
    queue.complete(job)
    second = queue.claim("w2", 30)
    assert second is not None and (second.delivery.id, second.key) == ("d2", "acme/config#1")


def test_events_the_bot_made_come_back_typed(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    sweep = SweepLocks("locks:Acme/Config:1", "Acme/Config", 42)
    drift = CheckDrift("drift:acme/config:2026-03-02T06:00:00Z", "acme/config", None, "2026-03-02T06:00:00Z")
    assert queue.put(delivery_of(sweep, manual_clock.now())) is True
    assert queue.put(delivery_of(drift, manual_clock.now())) is True
    assert queue.put(delivery_of(sweep, manual_clock.now())) is False  # another replica, same slot
    job = queue.claim("w1", 30)
    assert job is not None and job.delivery.parsed == sweep
    assert (job.key, job.delivery.event, job.delivery.body) == ("acme/config", "sweep_locks", b"")
    assert queue.claim("w2", 30) is None  # one repository's scheduled jobs run one at a time
    queue.complete(job)
    second = queue.claim("w2", 30)
    assert second is not None and second.delivery.parsed == drift and second.delivery.event == "check_drift"


def test_a_delivery_must_come_parsed(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    with pytest.raises(ValueError, match="no parsed event"):
        queue.put(Delivery("raw", "push", "", b"{}", manual_clock.now()))
    assert queue.stats().pending == 0


def test_one_key_in_order_different_keys_in_parallel(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    for delivery_id, number in [("a1", 1), ("a2", 1), ("b1", 2), ("a3", 1), ("c1", 3)]:
        queue.put(pr_delivery(delivery_id, number, manual_clock))
    first = [queue.claim(f"w{i}", 30) for i in range(4)]
    assert [j.delivery.id if j else None for j in first] == ["a1", "b1", "c1", None]
    a1 = first[0]
    assert a1 is not None and queue.complete(a1)
    a2 = queue.claim("w1", 30)
    assert a2 is not None and a2.delivery.id == "a2"
    assert queue.claim("w1", 30) is None
    assert queue.complete(a2)
    a3 = queue.claim("w1", 30)
    assert a3 is not None and a3.delivery.id == "a3"


def test_expired_lease_is_claimed_again_and_the_stale_claim_refused(
    make_queue: MakeQueue, manual_clock: ManualClock
) -> None:
    queue = make_queue()
    queue.put(pr_delivery("a1", 1, manual_clock))
    queue.put(pr_delivery("a2", 1, manual_clock))
    crashed = queue.claim("w1", 10)
    assert crashed is not None
    manual_clock.advance(9)
    assert queue.claim("w2", 10) is None  # a1 still leased, a2 waits behind it
    manual_clock.advance(2)
    again = queue.claim("w2", 10)
    assert again is not None and again.delivery.id == "a1" and again.attempts == 2
    assert queue.complete(crashed) is False
    assert queue.fail(crashed, "late", retry=True) is False
    assert queue.extend(crashed, 10) is False
    assert queue.complete(again) is True
    nxt = queue.claim("w2", 10)
    assert nxt is not None and nxt.delivery.id == "a2"


def test_lease_expired_but_not_reclaimed_can_still_complete(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    queue.put(pr_delivery("a1", 1, manual_clock))
    slow = queue.claim("w1", 5)
    manual_clock.advance(6)
    assert slow is not None and queue.complete(slow) is True
    assert queue.claim("w2", 5) is None
    assert queue.stats().done == 1


def test_extend_keeps_the_job(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    queue.put(pr_delivery("a1", 1, manual_clock))
    job = queue.claim("w1", 10)
    assert job is not None
    for _ in range(3):
        manual_clock.advance(8)
        assert queue.extend(job, 10)
        assert queue.claim("w2", 10) is None
    assert queue.complete(job)
    assert queue.stats().running == 0


def test_retry_with_backoff_then_give_up(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    queue.put(pr_delivery("a1", 1, manual_clock))
    queue.put(pr_delivery("a2", 1, manual_clock))
    job = queue.claim("w1", 30)
    assert job is not None and queue.fail(job, "github 502", retry=True)
    stats = queue.stats()
    assert (stats.pending, stats.delayed, stats.running) == (2, 1, 0)
    manual_clock.advance(9)
    assert queue.claim("w1", 30) is None  # backoff 10 s; a2 keeps waiting behind a1
    manual_clock.advance(2)
    job = queue.claim("w1", 30)
    assert job is not None and (job.delivery.id, job.attempts) == ("a1", 2)
    assert queue.fail(job, "github 502", retry=True)
    manual_clock.advance(19)
    assert queue.claim("w1", 30) is None  # backoff doubled: 20 s
    manual_clock.advance(2)
    job = queue.claim("w1", 30)
    assert job is not None and job.attempts == 3
    assert queue.fail(job, "github 502", retry=True)  # the last attempt: dead-lettered
    assert (queue.stats().failed, queue.stats().dead) == (0, 1)
    nxt = queue.claim("w1", 30)
    assert nxt is not None and nxt.delivery.id == "a2"


def test_retry_waits_at_least_the_delay_asked_for(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    queue.put(pr_delivery("a1", 1, manual_clock))
    job = queue.claim("w1", 30)
    assert job is not None and job.max_attempts == 3 and not job.exhausted
    assert queue.fail(job, "HTTP 429", retry=True, delay=45)  # Retry-After: 45 beats the 10 s backoff
    manual_clock.advance(44)
    assert queue.claim("w1", 30) is None
    manual_clock.advance(2)
    again = queue.claim("w1", 30)
    assert again is not None and again.attempts == 2


def test_expired_leases_count_as_attempts_then_the_job_is_dead(
    make_queue: MakeQueue, manual_clock: ManualClock
) -> None:
    """A delivery that kills its worker every time: each expired lease used an attempt; past
    the last one the job is handed out once to report it dead, then the key's next job runs."""
    queue = make_queue()
    queue.put(pr_delivery("poison", 1, manual_clock))
    queue.put(pr_delivery("next", 1, manual_clock))
    runs = []
    for _ in range(3):
        job = queue.claim("w1", 10)
        assert job is not None and job.delivery.id == "poison" and not job.exhausted
        runs.append(job.attempts)
        manual_clock.advance(11)  # the worker died: its lease runs out
    assert runs == [1, 2, 3]
    report = queue.claim("w2", 10)
    assert report is not None and report.delivery.id == "poison" and report.exhausted
    record = queue.job(report.id)
    assert record is not None and "expired" in record.last_error
    assert queue.bury(report, "dead-lettered after 3 attempts")
    stats = queue.stats()
    assert (stats.dead, stats.running, stats.pending) == (1, 0, 1)
    nxt = queue.claim("w2", 10)
    assert nxt is not None and nxt.delivery.id == "next"
    dead = queue.jobs(["dead"])
    assert [(r.delivery_id, r.state, r.attempts) for r in dead] == [("poison", "dead", 4)]
    assert dead[0].last_error == "dead-lettered after 3 attempts"


def test_a_report_claim_that_expires_too_is_dead_lettered_by_the_claim(
    make_queue: MakeQueue, manual_clock: ManualClock
) -> None:
    queue = make_queue()
    queue.put(pr_delivery("poison", 1, manual_clock))
    queue.put(pr_delivery("next", 1, manual_clock))
    for _ in range(4):  # three runs and the report claim all die
        assert queue.claim("w1", 10) is not None
        manual_clock.advance(11)
    nxt = queue.claim("w1", 10)
    assert nxt is not None and nxt.delivery.id == "next" and nxt.attempts == 1
    (dead,) = queue.jobs(["dead"])
    assert dead.delivery_id == "poison" and "3 attempts ended without an outcome" in dead.last_error
    assert queue.stats().dead == 1


def test_dead_letters_are_kept_listed_requeued_and_dropped(
    make_queue: MakeQueue, manual_clock: ManualClock
) -> None:
    from datetime import timedelta

    queue = make_queue()
    for delivery_id, number in [("bug", 1), ("later", 1), ("other", 2)]:
        queue.put(pr_delivery(delivery_id, number, manual_clock))
    bug = queue.claim("w1", 30)
    assert bug is not None and bug.delivery.id == "bug"
    assert queue.bury(bug, "TypeError: incident abc123")
    assert queue.bury(bug, "twice") is False  # the claim is spent
    listed = queue.jobs(["pending", "running", "dead"])
    assert [(r.delivery_id, r.state) for r in listed] == [("bug", "dead"), ("later", "pending"), ("other", "pending")]
    assert queue.job(bug.id) == listed[0] and listed[0].last_error == "TypeError: incident abc123"
    assert queue.job(10_000) is None
    manual_clock.advance(30 * 24 * 3600)
    queue.purge(manual_clock.now() - timedelta(days=7))
    assert queue.job(bug.id) is not None  # dead letters outlive the retention
    # requeue: back in line after the key's open jobs, with fresh attempts
    new_id = queue.requeue(bug.id)
    assert new_id is not None and new_id != bug.id
    assert queue.requeue(bug.id) is None and queue.job(bug.id) is None
    assert queue.put(pr_delivery("bug", 1, manual_clock)) is False  # its delivery ID is still known
    order = []
    while (job := queue.claim("w1", 30)) is not None:
        order.append((job.delivery.id, job.attempts))
        if job.delivery.id == "bug":  # a requeued job keeps the event parsed at intake
            assert job.delivery.parsed == bug.delivery.parsed and job.delivery.body == bug.delivery.body
        assert queue.complete(job)
    assert sorted(order) == [("bug", 1), ("later", 1), ("other", 1)]
    assert [d for d, _ in order if d in ("bug", "later")] == ["later", "bug"]
    stats = queue.stats()
    assert (stats.dead, stats.done) == (0, 3)


def test_drop_a_pending_head_lets_the_next_job_run(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    queue.put(pr_delivery("a1", 1, manual_clock))
    queue.put(pr_delivery("a2", 1, manual_clock))
    queue.put(pr_delivery("a3", 1, manual_clock))
    a1 = queue.claim("w1", 30)
    assert a1 is not None
    assert queue.drop(a1.id) is False  # running jobs are not dropped
    assert queue.fail(a1, "github 502", retry=True)  # a1 waits out a backoff
    pending = {r.delivery_id: r for r in queue.jobs(["pending"])}
    assert pending["a1"].not_before is not None and pending["a1"].attempts == 1
    assert queue.drop(pending["a2"].id)  # not the head
    assert queue.drop(a1.id)  # the head, in backoff
    assert queue.job(a1.id) is not None and queue.job(a1.id).state == "dropped"  # type: ignore[union-attr]
    assert queue.put(pr_delivery("a1", 1, manual_clock)) is False
    nxt = queue.claim("w1", 30)
    assert nxt is not None and nxt.delivery.id == "a3"
    assert queue.stats().pending == 0


def test_permanent_failure_finishes_at_once(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    queue.put(pr_delivery("a1", 1, manual_clock))
    queue.put(pr_delivery("a2", 1, manual_clock))
    job = queue.claim("w1", 30)
    assert job is not None and queue.fail(job, "bad config", retry=False)
    nxt = queue.claim("w1", 30)
    assert nxt is not None and nxt.delivery.id == "a2"
    assert queue.stats().failed == 1


def test_survives_a_restart(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    first = make_queue()
    first.put(pr_delivery("a1", 1, manual_clock))
    first.put(pr_delivery("b1", 2, manual_clock))
    running = first.claim("w1", 10)  # the process dies with this job running
    assert running is not None and running.delivery.id == "a1"
    first.close()
    second = make_queue()
    assert second.put(pr_delivery("a1", 1, manual_clock)) is False  # still deduped
    b1 = second.claim("w9", 10)
    assert b1 is not None and b1.delivery.id == "b1"
    assert second.claim("w9", 10) is None
    manual_clock.advance(11)
    again = second.claim("w9", 10)
    assert again is not None and again.delivery.id == "a1" and again.attempts == 2
    assert second.complete(again) and second.complete(b1)
    stats = second.stats()
    assert (stats.pending, stats.running, stats.done) == (0, 0, 2)


def test_ping_and_stats_depth(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    queue.ping()
    for i in range(5):
        queue.put(pr_delivery(f"d{i}", i, manual_clock))
    assert queue.stats().depth == 5


def test_threads_never_share_a_job_or_a_key(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    expected: dict[str, list[str]] = {}
    for i in range(120):
        number = i % 7
        delivery = pr_delivery(f"d{i:03}", number, manual_clock)
        queue.put(delivery)
        expected.setdefault(delivery_key(delivery), []).append(delivery.id)
    lock = threading.Lock()
    busy_keys: set[str] = set()
    seen: dict[str, list[str]] = {}
    problems: list[str] = []

    def work(worker: str) -> None:
        idle = 0
        while idle < 50:
            job = queue.claim(worker, 60)
            if job is None:
                idle += 1
                threading.Event().wait(0.002)
                continue
            idle = 0
            with lock:
                if job.key in busy_keys:
                    problems.append(f"{job.key} ran twice at once")
                busy_keys.add(job.key)
                seen.setdefault(job.key, []).append(job.delivery.id)
            with lock:
                busy_keys.discard(job.key)
            if not queue.complete(job):
                problems.append(f"complete refused for {job.delivery.id}")

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert problems == []
    assert seen == expected
    assert queue.stats().done == 120


def test_concurrent_puts_store_each_delivery_once(make_queue: MakeQueue, manual_clock: ManualClock) -> None:
    queue = make_queue()
    results: list[tuple[str, bool]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def post(n: int) -> None:
        start.wait()
        for i in range(25):  # every thread posts the same 25 deliveries, and 25 of its own
            for delivery_id in (f"shared-{i}", f"own-{n}-{i}"):
                stored = queue.put(pr_delivery(delivery_id, i % 5, manual_clock))
                with lock:
                    results.append((delivery_id, stored))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored_ids = [d for d, stored in results if stored]
    assert len(results) == 8 * 50
    assert sorted(stored_ids) == sorted({d for d, _ in results})  # each ID stored exactly once
    assert queue.stats().pending == 25 + 8 * 25


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "queue.sqlite3"
    SqliteQueue(path).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.close()
    with pytest.raises(RuntimeError, match="schema version 99"):
        SqliteQueue(path)
