"""The composition root picks where the scheduled jobs' state and the repository book live:
in Redis beside a Redis queue (shared by the replicas), in the data directory beside SQLite."""

from __future__ import annotations

import json
from pathlib import Path

import redis

from bot.adapters.clock import SystemClock
from bot.adapters.localfs.datafiles import JsonRepositoryBook
from bot.adapters.localfs.jobstate import LocalJobState
from bot.adapters.queue.redis_jobs import RedisJobState, RedisRepositoryBook
from bot.settings import Settings
from bot.wiring import build_book, build_job_state


def test_sqlite_keeps_them_in_the_data_directory(tmp_path: Path) -> None:
    settings = Settings.from_env({"SHIPMATE_DATA_DIR": str(tmp_path)})
    assert isinstance(build_book(settings), JsonRepositoryBook)
    state = build_job_state(settings, SystemClock())
    assert isinstance(state, LocalJobState)
    run = state.begin("poll", None, "here", 60)
    assert run is not None and state.write(run, "poll-state", "acme/config", {"branch:main": "a" * 40})
    assert json.loads((tmp_path / "poll-state.json").read_text()) == {"acme/config": {"branch:main": "a" * 40}}


def test_redis_shares_them_and_adopts_the_local_book(tmp_path: Path, redis_url: str) -> None:
    url = redis_url.rsplit("/", 1)[0] + "/2"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        # A replica that served repositories with SQLite before moving to Redis.
        (tmp_path / "repositories.json").write_text(json.dumps({"acme/config": 12, "acme/web": None}))
        settings = Settings.from_env({"SHIPMATE_DATA_DIR": str(tmp_path), "SHIPMATE_QUEUE": url})
        book = build_book(settings)
        assert isinstance(book, RedisRepositoryBook)
        assert book.repositories() == {"acme/config": 12, "acme/web": None}
        other = build_book(Settings.from_env({"SHIPMATE_DATA_DIR": str(tmp_path / "other"), "SHIPMATE_QUEUE": url}))
        other.remember("acme/api", None)
        assert book.repositories() == {"acme/api": None, "acme/config": 12, "acme/web": None}
        state = build_job_state(settings, SystemClock())
        assert isinstance(state, RedisJobState)
        assert state.begin("locks", 1, "a", 60) is not None
        assert build_job_state(settings, SystemClock()).begin("locks", 1, "b", 60) is None  # one run at a time
    finally:
        client.flushdb()
        client.close()
