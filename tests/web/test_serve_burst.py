"""Burst and crash: signed deliveries (10% duplicates, shuffled) posted over HTTP to a real
`shipmate serve` process, which is killed with SIGKILL in the middle and started again.

What is checked, and why it is the right claim: the queue marks a job done only after its
handler returned, so a job whose handler was running at the kill runs again after restart
(at-least-once). The handler records its effect keyed by delivery ID, so the effect of every
distinct delivery is recorded exactly once, and the re-runs are bounded by the jobs that
were in flight at the kill (at most one per worker). No delivery is lost, none is recorded
twice, and the events of one pull request take effect in the order GitHub sent them.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from bot.adapters.github.webhooks import delivery_key, make_delivery
from bot.adapters.queue.redis import RedisQueue
from bot.adapters.queue.sqlite import SqliteQueue
from bot.core.ports import EventQueue
from tests.conftest import ManualClock
from tests.web import recording_handler
from tests.web.helpers import SECRET, ServerProcess, comment, encode, headers, pull_request, push

WORKERS = 4
REPOS = ("acme/config", "acme/platform", "Acme/Apps")


def deliveries(count: int, seed: int) -> list[tuple[str, str, bytes]]:
    """`count` posts: 90% distinct deliveries, 10% redeliveries of them, shuffled."""
    rng = random.Random(seed)
    distinct: list[tuple[str, str, bytes]] = []
    for i in range(count - count // 10):
        repo = rng.choice(REPOS)
        number = rng.randint(1, 30)
        sha = f"{i:040x}"
        kind = i % 10
        if kind < 6:
            event, body = "pull_request", pull_request(repo, number, sha, rng.choice(["opened", "synchronize"]))
        elif kind < 9:
            event, body = "issue_comment", comment(repo, number, 10_000 + i, f"/preview #{i}")
        else:
            event, body = "push", push(repo, rng.choice(["refs/heads/main", "refs/heads/dev"]), sha)
        distinct.append((event, str(uuid.UUID(int=rng.getrandbits(128))), encode(body)))
    posts = distinct + [rng.choice(distinct) for _ in range(count // 10)]
    rng.shuffle(posts)
    return posts


class Poster:
    """Posts deliveries one after another; when the server dies, waits for the next one and
    posts the same delivery again, as GitHub's redelivery would."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.changed = threading.Condition()
        self.sent = 0
        self.answers: list[tuple[str, int, str]] = []  # (delivery id, status, body status)
        self.connection_errors = 0

    def replace_server(self, server: ServerProcess) -> None:
        with self.changed:
            self.server = server
            self.changed.notify_all()

    def post_all(self, posts: list[tuple[str, str, bytes]]) -> None:
        conn: http.client.HTTPConnection | None = None
        for event, delivery_id, body in posts:
            while True:
                server = self.server
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
                    conn.request("POST", "/webhooks/github", body=body, headers=headers(event, delivery_id, body))
                    response = conn.getresponse()
                    answer = json.loads(response.read())
                    self.answers.append((delivery_id, response.status, answer["status"]))
                    break
                except (OSError, http.client.HTTPException):
                    self.connection_errors += 1
                    if conn is not None:
                        conn.close()
                    conn = None
                    with self.changed:  # the server was killed: wait for its successor
                        self.changed.wait_for(lambda s=server: self.server is not s, timeout=60)
            with self.changed:
                self.sent += 1
                self.changed.notify_all()
        if conn is not None:
            conn.close()


def run_burst(tmp_path: Path, queue_setting: str, count: int, seed: int) -> tuple[list[tuple[str, str, bytes]], Poster]:
    data_dir = tmp_path / "data"
    env = {
        "SHIPMATE_WEBHOOK_SECRET": SECRET,
        "SHIPMATE_DATA_DIR": str(data_dir),
        "SHIPMATE_QUEUE": queue_setting,
        "SHIPMATE_WORKERS": str(WORKERS),
        "SHIPMATE_QUEUE_LEASE_SECONDS": "3",
        "SHIPMATE_HANDLER": "tests.web.recording_handler:build",
        "SHIPMATE_REPOSITORIES": "acme/*",
        "SHIPMATE_LOG_LEVEL": "WARNING",
    }
    log = tmp_path / "serve.log"
    posts = deliveries(count, seed)
    poster = Poster(ServerProcess(env, log))
    thread = threading.Thread(target=poster.post_all, args=(posts,))
    thread.start()
    with poster.changed:
        assert poster.changed.wait_for(lambda: poster.sent >= len(posts) // 2, timeout=120)
    first = poster.server
    first.kill()  # SIGKILL: no shutdown, jobs in flight and in the queue
    poster.replace_server(ServerProcess(env, log))
    thread.join(180)
    assert not thread.is_alive()

    distinct = {delivery_id for _, delivery_id, _ in posts}
    db = recording_handler.open_db(data_dir)
    deadline = time.monotonic() + 120
    while db.execute("SELECT count(*) FROM effects").fetchone()[0] < len(distinct):
        assert time.monotonic() < deadline, f"not drained:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)
    assert poster.server.stop() == 0
    db.close()
    return posts, poster


def check(tmp_path: Path, posts: list[tuple[str, str, bytes]], poster: Poster, queue: EventQueue) -> None:
    distinct_order: list[str] = []
    keys: dict[str, str] = {}
    for event, delivery_id, body in posts:
        if delivery_id not in keys:
            distinct_order.append(delivery_id)
            keys[delivery_id] = delivery_key(make_delivery(delivery_id, event, body, ManualClock().now()))

    # every post was answered; each distinct delivery was queued once, redeliveries were no-ops
    assert len(poster.answers) == len(posts)
    queued = Counter(d for d, status, kind in poster.answers if kind == "queued")
    assert all(status == 202 for _, status, kind in poster.answers if kind == "queued")
    assert all(status == 200 for _, status, kind in poster.answers if kind == "duplicate")
    assert {kind for _, _, kind in poster.answers} <= {"queued", "duplicate"}
    assert max(queued.values()) == 1
    # only a delivery whose answer was lost in the kill can be missing here (its retry was a duplicate)
    assert len(distinct_order) - len(queued) <= 1

    db = recording_handler.open_db(tmp_path / "data")
    effects = db.execute("SELECT delivery_id, key FROM effects ORDER BY n").fetchall()
    invocations = Counter(d for (d,) in db.execute("SELECT delivery_id FROM invocations"))
    db.close()

    recorded = [d for d, _ in effects]
    assert sorted(recorded) == sorted(distinct_order)  # every delivery, exactly once
    assert set(invocations) == set(distinct_order)
    reruns = sum(invocations.values()) - len(distinct_order)
    assert 0 <= reruns <= WORKERS  # only the jobs in flight at the kill ran again

    for key in set(keys.values()):  # one pull request's (or ref's) events in the order sent
        sent = [d for d in distinct_order if keys[d] == key]
        effected = [d for d, k in effects if k == key]
        assert effected == sent, key

    stats = queue.stats()
    assert (stats.pending, stats.running, stats.failed) == (0, 0, 0)
    assert stats.done == len(distinct_order)
    print(f"posts={len(posts)} distinct={len(distinct_order)} reruns={reruns} "
          f"connection errors at the kill={poster.connection_errors}")


@pytest.mark.timeout(240)
def test_burst_with_a_crash_on_sqlite(tmp_path: Path) -> None:
    posts, poster = run_burst(tmp_path, "sqlite", count=1000, seed=8)
    queue = SqliteQueue.in_data_dir(tmp_path / "data")
    try:
        check(tmp_path, posts, poster, queue)
    finally:
        queue.close()


@pytest.mark.timeout(240)
def test_burst_with_a_crash_on_redis(tmp_path: Path, redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/5"  # a database of its own on the shared test server
    RedisQueue.from_url(url).client.flushdb()
    posts, poster = run_burst(tmp_path, url, count=300, seed=9)
    queue = RedisQueue.from_url(url)
    try:
        check(tmp_path, posts, poster, queue)
    finally:
        queue.close()
