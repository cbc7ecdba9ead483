"""The embedded event queue: one SQLite database in WAL mode under the data directory.

One table holds every job: the delivery (ID unique, raw body), its ordering key, its state
(`pending` → `running` → `done` | `failed`), attempts, the retry time, and the current claim
(token, worker, lease). `put` is a single `INSERT ... ON CONFLICT DO NOTHING` committed with
`synchronous=FULL`, so once it returns the delivery survives a crash or power loss.
`claim` runs in a `BEGIN IMMEDIATE` transaction, so several threads — or several processes
sharing the file — never hand out the same job twice. A job is marked done only by
`complete`, after its handler returned: a crash in between leaves it `running`, and it is
handed out again when its lease expires (at-least-once processing).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.queue import RetryPolicy, SystemClock
from bot.core.events import Delivery, delivery_key
from bot.core.ports import Clock, Job, QueueStats

FILE_NAME = "queue.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT    NOT NULL UNIQUE,
    event        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    received_at  TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    state        TEXT    NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   REAL    NOT NULL DEFAULT 0,
    token        TEXT,
    worker_id    TEXT,
    lease_until  REAL,
    last_error   TEXT,
    enqueued_at  REAL    NOT NULL,
    finished_at  REAL
);
CREATE INDEX IF NOT EXISTS jobs_open ON jobs(seq) WHERE state IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS jobs_key_open ON jobs(key, seq) WHERE state IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at) WHERE state IN ('done', 'failed');
"""

# The oldest runnable job whose key has no earlier unfinished job. A `running` job whose
# lease has expired is runnable again (its worker is gone).
_CLAIMABLE = """
SELECT seq FROM jobs AS j
WHERE j.state IN ('pending', 'running')
  AND ((j.state = 'pending' AND j.not_before <= :now)
       OR (j.state = 'running' AND j.lease_until <= :now))
  AND NOT EXISTS (
      SELECT 1 FROM jobs AS e
      WHERE e.key = j.key AND e.seq < j.seq AND e.state IN ('pending', 'running'))
ORDER BY j.seq
LIMIT 1
"""

_COLUMNS = "seq, delivery_id, event, action, body, received_at, key, attempts, token, worker_id, lease_until"


class SqliteQueue:
    """`EventQueue` on a SQLite file; safe for many threads and several processes."""

    def __init__(
        self,
        path: Path | str,
        *,
        clock: Clock | None = None,
        retry: RetryPolicy | None = None,
        busy_timeout_seconds: float = 30.0,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.clock: Clock = clock or SystemClock()
        self.retry = retry or RetryPolicy()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_seconds
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        with self._lock:
            self._db.executescript(_SCHEMA)

    @classmethod
    def in_data_dir(
        cls, data_dir: Path | str, *, clock: Clock | None = None, retry: RetryPolicy | None = None
    ) -> SqliteQueue:
        """The queue file `queue.sqlite3` in Shipmate's data directory."""
        return cls(Path(data_dir) / FILE_NAME, clock=clock, retry=retry)

    # --- helpers ---------------------------------------------------------------------------

    def _now(self) -> float:
        return self.clock.now().timestamp()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """An IMMEDIATE (write-locked) transaction, serialised with the other threads."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _execute(self, sql: str, params: dict[str, object] | tuple[object, ...] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, params)

    @staticmethod
    def _job(row: tuple[object, ...]) -> Job:
        seq, delivery_id, event, action, body, received_at, key, attempts, token, worker, lease = row
        delivery = Delivery(
            id=str(delivery_id),
            event=str(event),
            action=str(action),
            body=bytes(body),  # type: ignore[arg-type]
            received_at=datetime.fromisoformat(str(received_at)),
        )
        return Job(
            id=int(seq),  # type: ignore[call-overload]
            delivery=delivery,
            key=str(key),
            attempts=int(attempts),  # type: ignore[call-overload]
            token=str(token),
            worker_id=str(worker),
            lease_until=datetime.fromtimestamp(float(lease), UTC),  # type: ignore[arg-type]
        )

    # --- EventQueue ------------------------------------------------------------------------

    def put(self, delivery: Delivery) -> bool:
        cursor = self._execute(
            "INSERT INTO jobs (delivery_id, event, action, body, received_at, key, enqueued_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO NOTHING",
            (
                delivery.id,
                delivery.event,
                delivery.action,
                delivery.body,
                delivery.received_at.isoformat(),
                delivery_key(delivery),
                self._now(),
            ),
        )
        return cursor.rowcount == 1

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        now = self._now()
        token = uuid.uuid4().hex
        with self._transaction() as db:
            row = db.execute(_CLAIMABLE, {"now": now}).fetchone()
            if row is None:
                return None
            db.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, token = ?, worker_id = ?,"
                " lease_until = ? WHERE seq = ?",
                (token, worker_id, now + lease_seconds, row[0]),
            )
            full = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE seq = ?", (row[0],)).fetchone()
        return self._job(full)

    def extend(self, job: Job, lease_seconds: float) -> bool:
        cursor = self._execute(
            "UPDATE jobs SET lease_until = ? WHERE seq = ? AND token = ? AND state = 'running'",
            (self._now() + lease_seconds, job.id, job.token),
        )
        return cursor.rowcount == 1

    def complete(self, job: Job) -> bool:
        cursor = self._execute(
            "UPDATE jobs SET state = 'done', finished_at = ?, token = NULL, lease_until = NULL"
            " WHERE seq = ? AND token = ? AND state = 'running'",
            (self._now(), job.id, job.token),
        )
        return cursor.rowcount == 1

    def fail(self, job: Job, error: str, retry: bool) -> bool:
        now = self._now()
        if retry and not self.retry.gives_up(job.attempts):
            cursor = self._execute(
                "UPDATE jobs SET state = 'pending', not_before = ?, last_error = ?, token = NULL,"
                " lease_until = NULL WHERE seq = ? AND token = ? AND state = 'running'",
                (now + self.retry.delay(job.attempts), error, job.id, job.token),
            )
        else:
            cursor = self._execute(
                "UPDATE jobs SET state = 'failed', finished_at = ?, last_error = ?, token = NULL,"
                " lease_until = NULL WHERE seq = ? AND token = ? AND state = 'running'",
                (now, error, job.id, job.token),
            )
        return cursor.rowcount == 1

    def stats(self) -> QueueStats:
        now = self._now()
        with self._lock:
            counts = dict(self._db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
            delayed = self._db.execute(
                "SELECT count(*) FROM jobs WHERE state = 'pending' AND not_before > ?", (now,)
            ).fetchone()[0]
        return QueueStats(
            pending=int(counts.get("pending", 0)),
            delayed=int(delayed),
            running=int(counts.get("running", 0)),
            done=int(counts.get("done", 0)),
            failed=int(counts.get("failed", 0)),
        )

    def ping(self) -> None:
        self._execute("SELECT 1 FROM jobs LIMIT 1").fetchall()

    def purge(self, finished_before: datetime) -> int:
        cursor = self._execute(
            "DELETE FROM jobs WHERE state IN ('done', 'failed') AND finished_at < ?",
            (finished_before.timestamp(),),
        )
        return int(cursor.rowcount)

    def failed_jobs(self, limit: int = 100) -> list[tuple[str, str, int, str]]:
        """Dead jobs for inspection: (delivery ID, event, attempts, last error), newest first."""
        rows = self._execute(
            "SELECT delivery_id, event, attempts, coalesce(last_error, '') FROM jobs"
            " WHERE state = 'failed' ORDER BY seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(str(a), str(b), int(c), str(d)) for a, b, c, d in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
