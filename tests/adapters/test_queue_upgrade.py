"""Jobs queued by the previous version, which stored the raw body without its typed event,
still run after an upgrade: a schema-1 SQLite file is upgraded in place and a Redis hash
without `parsed` is read as before; both come back with `Delivery.parsed` None, for the
router to parse once."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import redis

from bot.adapters.github.webhooks import parse_event
from bot.adapters.queue.redis import RedisQueue
from bot.adapters.queue.sqlite import SCHEMA_VERSION, SqliteQueue
from bot.core.events import PullRequestEvent
from tests.adapters.test_queue_contract import pr_delivery
from tests.conftest import ManualClock

# The jobs table as the previous version (schema 1) created it.
_SCHEMA_1 = """
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL UNIQUE, event TEXT NOT NULL,
    action TEXT NOT NULL, body BLOB NOT NULL, received_at TEXT NOT NULL, key TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending', head INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0, token TEXT, worker_id TEXT, lease_until REAL, last_error TEXT,
    enqueued_at REAL NOT NULL, finished_at REAL
);
PRAGMA user_version = 1;
"""


def test_a_schema_1_sqlite_queue_is_upgraded_and_its_jobs_parsed_once(tmp_path: Path, manual_clock: ManualClock) -> None:
    old = pr_delivery("queued-before", 3, manual_clock)
    path = tmp_path / "queue.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA_1)
        db.execute(
            "INSERT INTO jobs (delivery_id, event, action, body, received_at, key, head, enqueued_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 1, 0)",
            (old.id, old.event, old.action, old.body, old.received_at.isoformat(), "acme/config#3"),
        )
    queue = SqliteQueue(path, clock=manual_clock)
    try:
        new = pr_delivery("queued-after", 3, manual_clock)
        assert queue.put(new) is True
        first = queue.claim("w1", 30)
        assert first is not None and first.delivery.id == "queued-before" and first.key == "acme/config#3"
        assert first.delivery.parsed is None and first.delivery.body == old.body
        event = parse_event(first.delivery)  # what the router's legacy parser does, once
        assert isinstance(event, PullRequestEvent) and event.number == 3
        queue.complete(first)
        second = queue.claim("w1", 30)
        assert second is not None and second.delivery.parsed == new.parsed  # the new row: typed
    finally:
        queue.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_redis_job_without_a_stored_event_comes_back_unparsed(redis_url: str, manual_clock: ManualClock) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    queue = RedisQueue.from_url(redis_url, prefix=prefix, clock=manual_clock)
    raw = redis.Redis.from_url(redis_url)
    try:
        delivery = pr_delivery("queued-before", 8, manual_clock)
        queue.put(delivery)
        raw.hdel(f"{prefix}job:1", "parsed")  # as the previous version wrote the hash
        job = queue.claim("w1", 30)
        assert job is not None and job.delivery.parsed is None and job.delivery.body == delivery.body
        assert json.loads(job.delivery.body)["pull_request"]["number"] == 8
        assert parse_event(job.delivery) == delivery.parsed
    finally:
        raw.close()
        queue.close()
