"""An event handler for the burst tests, selected with SHIPMATE_HANDLER=tests.web.recording_handler:build.

Each call first logs an invocation (its own commit), waits a little (the work), then records
its effect keyed by delivery ID with INSERT OR IGNORE, so a re-run after a crash leaves the
effect as it was. The tests read both tables: every delivery's effect exactly once, and how
many invocations were re-runs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from bot.adapters.github.webhooks import delivery_key
from bot.core.events import Delivery
from bot.settings import Settings

FILE_NAME = "effects.sqlite3"
WORK_SECONDS = 0.01

_SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (n INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS effects (
    n INTEGER PRIMARY KEY AUTOINCREMENT, delivery_id TEXT NOT NULL UNIQUE, key TEXT NOT NULL);
"""


def open_db(data_dir: Path) -> sqlite3.Connection:
    db = sqlite3.connect(data_dir / FILE_NAME, isolation_level=None, timeout=30, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(_SCHEMA)
    return db


def build(settings: Settings):  # type: ignore[no-untyped-def]
    settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    db = open_db(settings.storage.data_dir)
    lock = threading.Lock()

    def handle(delivery: Delivery) -> None:
        with lock:
            db.execute("INSERT INTO invocations (delivery_id) VALUES (?)", (delivery.id,))
        time.sleep(WORK_SECONDS)
        with lock:
            db.execute(
                "INSERT OR IGNORE INTO effects (delivery_id, key) VALUES (?, ?)",
                (delivery.id, delivery_key(delivery)),
            )

    return handle
