"""The embedded event queue: one SQLite database in WAL mode under the data directory.

One table holds every job: the delivery (ID unique, raw body, the typed event parsed at
intake as `bot.core.events.encode_event` writes it), its ordering key, its state
(`pending` → `running` → `done` | `failed` | `dead`, or `dropped` by an operator), attempts,
the retry time, and the current claim (token, worker, lease).

Attempts are counted when a job is claimed, so a lease that expires (the worker died) used
one up. A claim that finds an expired job with every attempt used hands it out once more
only for the worker to report it dead (`Job.exhausted`); if even that claim's lease expires,
the job is dead-lettered in the claim itself. Either way the key's next job becomes the head.
Dead jobs are kept (not purged) until `requeue` or `drop`.

Durability: `put` commits with `synchronous=FULL`, so once it returns the delivery survives
a crash of the process or of the machine; concurrent puts share one commit and one fsync
(group commit). Claims and outcomes commit with `synchronous=NORMAL`, which in WAL mode
survives a crash of the process and is made durable by the next put's fsync; a power cut
can at worst forget that a job finished, and it runs again (at-least-once).

`claim` runs in a `BEGIN IMMEDIATE` transaction, so several threads — or several processes
sharing the file — never hand out the same job twice. A job is marked done only by
`complete`, after its handler returned: a crash in between leaves it `running`, and it is
handed out again when its lease expires.

Jobs queued by the previous version (schema 1) have no `parsed` column: opening such a file
adds the column (schema 2), and those rows, whose `parsed` is NULL, are handed out with
`Delivery.parsed` None; the router parses their raw body once, the old way, as that version
did. Every row the intake writes still holds the raw body, so the previous version can read
the webhooks queued by this one (the poller's and the scheduler's events have no body).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.adapters.clock import SystemClock
from bot.adapters.queue import RetryPolicy
from bot.adapters.queue.stored import key_of, restored, stored_event
from bot.core.events import Delivery
from bot.core.ports import Clock, Job, JobRecord, QueueStats

FILE_NAME = "queue.sqlite3"

SCHEMA_VERSION = 2  # 2 added `parsed`; a schema-1 file is upgraded in place

# `head` is 1 for the oldest unfinished job of each key, the only one of its key that may
# run; finishing a head makes the key's next job the head. Claims look at heads only.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  TEXT    NOT NULL UNIQUE,
    event        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    received_at  TEXT    NOT NULL,
    key          TEXT    NOT NULL,
    parsed       TEXT,
    state        TEXT    NOT NULL DEFAULT 'pending',
    head         INTEGER NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    not_before   REAL    NOT NULL DEFAULT 0,
    token        TEXT,
    worker_id    TEXT,
    lease_until  REAL,
    last_error   TEXT,
    enqueued_at  REAL    NOT NULL,
    finished_at  REAL
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs(seq) WHERE head = 1 AND state = 'pending';
CREATE INDEX IF NOT EXISTS jobs_running ON jobs(lease_until) WHERE state = 'running';
CREATE INDEX IF NOT EXISTS jobs_key_open ON jobs(key, seq) WHERE state IN ('pending', 'running');
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(finished_at) WHERE state IN ('done', 'failed');
CREATE INDEX IF NOT EXISTS jobs_dead ON jobs(seq) WHERE state = 'dead';
"""

# The oldest pending head past its retry time, and the oldest running job whose lease has
# expired (its worker is gone); the claim takes the older of the two.
_READY = "SELECT seq FROM jobs INDEXED BY jobs_ready WHERE head = 1 AND state = 'pending' AND not_before <= ? ORDER BY seq LIMIT 1"
_EXPIRED = "SELECT min(seq) FROM jobs INDEXED BY jobs_running WHERE state = 'running' AND lease_until <= ?"
_OPEN_OF_KEY = "SELECT 1 FROM jobs WHERE key = ? AND state IN ('pending', 'running') LIMIT 1"
_NEXT_HEAD = (
    "UPDATE jobs SET head = 1 WHERE seq = "
    "(SELECT min(seq) FROM jobs WHERE key = ? AND state IN ('pending', 'running'))"
)

# Expired leases whose job has used every attempt, including the one that only reports it.
_EXPIRED_DEAD = (
    "SELECT seq, key FROM jobs INDEXED BY jobs_running WHERE state = 'running' AND lease_until <= ? AND attempts > ?"
)

_COLUMNS = "seq, delivery_id, event, action, body, received_at, parsed, key, attempts, token, worker_id, lease_until"
_RECORD = (
    "seq, delivery_id, event, action, key, state, attempts, coalesce(last_error, ''), enqueued_at, not_before,"
    " lease_until, coalesce(worker_id, ''), finished_at"
)
LISTED_STATES = ("pending", "running", "done", "failed", "dead", "dropped")


@dataclass(eq=False)
class _PutSlot:
    """One `put` waiting for its group commit."""

    delivery: Delivery
    key: str
    parsed: str
    done: bool = False
    stored: bool = False
    error: BaseException | None = None

    def result(self) -> bool:
        if self.error is not None:
            raise self.error
        return self.stored


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
        self._batch_ready = threading.Condition()
        self._waiting: list[_PutSlot] = []
        self._committing = False
        self._db = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=busy_timeout_seconds
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 1, SCHEMA_VERSION):
                self._db.close()
                raise RuntimeError(f"{self.path}: queue schema version {version} is not {SCHEMA_VERSION}")
            self._db.executescript(_SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
            if "parsed" not in columns:  # a schema-1 file: its rows keep parsed NULL
                self._db.execute("ALTER TABLE jobs ADD COLUMN parsed TEXT")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

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

    def _job(self, row: tuple[Any, ...]) -> Job:
        seq, delivery_id, event, action, body, received_at, parsed, key, attempts, token, worker, lease = row
        delivery = restored(str(delivery_id), str(event), str(action), bytes(body), str(received_at),
                            None if parsed is None else str(parsed))
        return Job(
            id=int(seq),
            delivery=delivery,
            key=str(key),
            attempts=int(attempts),
            token=str(token),
            worker_id=str(worker),
            lease_until=datetime.fromtimestamp(float(lease), UTC),
            max_attempts=self.retry.max_attempts,
        )

    # --- EventQueue ------------------------------------------------------------------------

    def put(self, delivery: Delivery, key: str | None = None) -> bool:
        """Store the delivery durably (fsync) unless its ID is known; group-committed. `key`
        is the ordering key the intake computed (default: that of `delivery.parsed`).

        Concurrent callers share one transaction and one fsync: the first to arrive while
        no commit is running commits everything queued by then, the others wait for it.
        """
        slot = _PutSlot(delivery, key_of(delivery, key), stored_event(delivery))
        with self._batch_ready:
            self._waiting.append(slot)
            while not slot.done and self._committing:
                self._batch_ready.wait()
            if slot.done:
                return slot.result()
            batch, self._waiting = self._waiting, []
            self._committing = True
        error: BaseException | None = None
        stored: list[bool] = []
        try:
            stored = self._insert(batch)
        except BaseException as exc:
            error = exc
        with self._batch_ready:
            for i, item in enumerate(batch):
                item.done, item.error = True, error
                item.stored = stored[i] if error is None else False
            self._committing = False
            self._batch_ready.notify_all()
        return slot.result()

    def _insert(self, batch: list[_PutSlot]) -> list[bool]:
        now = self._now()
        stored = []
        with self._lock:
            self._db.execute("PRAGMA synchronous=FULL")  # this commit fsyncs the WAL
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for item in batch:
                        d = item.delivery
                        head = self._db.execute(_OPEN_OF_KEY, (item.key,)).fetchone() is None
                        cursor = self._db.execute(
                            "INSERT INTO jobs (delivery_id, event, action, body, received_at, parsed, key, head,"
                            " enqueued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO NOTHING",
                            (d.id, d.event, d.action, d.body, d.received_at.isoformat(), item.parsed, item.key,
                             int(head), now),
                        )
                        stored.append(cursor.rowcount == 1)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            finally:
                self._db.execute("PRAGMA synchronous=NORMAL")
        return stored

    def claim(self, worker_id: str, lease_seconds: float) -> Job | None:
        now = self._now()
        token = uuid.uuid4().hex
        with self._transaction() as db:
            for seq, key in db.execute(_EXPIRED_DEAD, (now, self.retry.max_attempts)).fetchall():
                db.execute(
                    "UPDATE jobs SET state = 'dead', head = 0, finished_at = ?, token = NULL, lease_until = NULL,"
                    " last_error = ? WHERE seq = ?",
                    (now, f"dead-lettered: {self.retry.max_attempts} attempts ended without an outcome"
                          " (the worker stopped: killed, crashed or out of memory)", seq),
                )
                db.execute(_NEXT_HEAD, (key,))
            ready = db.execute(_READY, (now,)).fetchone()
            expired = db.execute(_EXPIRED, (now,)).fetchone()
            candidates = [row[0] for row in (ready, expired) if row is not None and row[0] is not None]
            if not candidates:
                return None
            seq = min(candidates)
            db.execute(
                "UPDATE jobs SET last_error = CASE WHEN state = 'running' THEN 'the lease of ' || coalesce(worker_id, '?')"
                " || ' expired (the worker stopped)' ELSE last_error END, state = 'running', attempts = attempts + 1,"
                " token = ?, worker_id = ?, lease_until = ? WHERE seq = ?",
                (token, worker_id, now + lease_seconds, seq),
            )
            full = db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE seq = ?", (seq,)).fetchone()
        return self._job(full)

    def extend(self, job: Job, lease_seconds: float) -> bool:
        cursor = self._execute(
            "UPDATE jobs SET lease_until = ? WHERE seq = ? AND token = ? AND state = 'running'",
            (self._now() + lease_seconds, job.id, job.token),
        )
        return cursor.rowcount == 1

    def complete(self, job: Job) -> bool:
        return self._finish(job, "done", None)

    def fail(self, job: Job, error: str, retry: bool, delay: float = 0.0) -> bool:
        if retry and not self.retry.gives_up(job.attempts):
            wait = max(self.retry.delay(job.attempts), delay)
            cursor = self._execute(
                "UPDATE jobs SET state = 'pending', not_before = ?, last_error = ?, token = NULL,"
                " lease_until = NULL WHERE seq = ? AND token = ? AND state = 'running'",
                (self._now() + wait, error, job.id, job.token),
            )
            return cursor.rowcount == 1
        return self._finish(job, "dead" if retry else "failed", error)

    def bury(self, job: Job, error: str) -> bool:
        return self._finish(job, "dead", error)

    def _finish(self, job: Job, state: str, error: str | None) -> bool:
        """Finish the job if the claim is current, and make its key's next job the head."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET state = ?, head = 0, finished_at = ?, last_error = coalesce(?, last_error),"
                " token = NULL, lease_until = NULL WHERE seq = ? AND token = ? AND state = 'running'",
                (state, self._now(), error, job.id, job.token),
            )
            if cursor.rowcount != 1:
                return False
            db.execute(_NEXT_HEAD, (job.key,))
        return True

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
            dead=int(counts.get("dead", 0)),
        )

    def ping(self) -> None:
        self._execute("SELECT 1 FROM jobs LIMIT 1").fetchall()

    def purge(self, finished_before: datetime) -> int:
        """Forget finished jobs past the retention; dead letters stay until requeued or dropped."""
        cursor = self._execute(
            "DELETE FROM jobs WHERE state IN ('done', 'failed', 'dropped') AND finished_at < ?",
            (finished_before.timestamp(),),
        )
        return int(cursor.rowcount)

    # --- operators (`shipmate queue`) ------------------------------------------------------

    @staticmethod
    def _record(row: tuple[Any, ...]) -> JobRecord:
        seq, delivery_id, event, action, key, state, attempts, error, enqueued, not_before, lease, worker, done = row
        return JobRecord(
            id=int(seq), delivery_id=str(delivery_id), event=str(event), action=str(action), key=str(key),
            state=str(state), attempts=int(attempts), last_error=str(error), enqueued_at=float(enqueued),
            not_before=float(not_before) if not_before else None,
            lease_until=float(lease) if lease is not None else None,
            worker_id=str(worker), finished_at=float(done) if done is not None else None,
        )

    def jobs(self, states: Sequence[str], limit: int = 100) -> list[JobRecord]:
        wanted = [s for s in states if s in LISTED_STATES]
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        rows = self._execute(
            f"SELECT {_RECORD} FROM jobs WHERE state IN ({marks}) ORDER BY seq LIMIT ?", (*wanted, int(limit))
        ).fetchall()
        return [self._record(row) for row in rows]

    def job(self, job_id: int) -> JobRecord | None:
        row = self._execute(f"SELECT {_RECORD} FROM jobs WHERE seq = ?", (int(job_id),)).fetchone()
        return self._record(row) if row is not None else None

    def requeue(self, job_id: int) -> int | None:
        """A dead or failed job goes back at the end of its key's line as a new job (a new
        ID), attempts reset; the delivery ID stays known throughout."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT delivery_id, event, action, body, received_at, parsed, key FROM jobs"
                " WHERE seq = ? AND state IN ('dead', 'failed')",
                (job_id,),
            ).fetchone()
            if row is None:
                return None
            db.execute("DELETE FROM jobs WHERE seq = ?", (job_id,))
            head = db.execute(_OPEN_OF_KEY, (row[6],)).fetchone() is None
            cursor = db.execute(
                "INSERT INTO jobs (delivery_id, event, action, body, received_at, parsed, key, head, enqueued_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*row, int(head), self._now()),
            )
            return int(cursor.lastrowid or 0)

    def drop(self, job_id: int) -> bool:
        """A job that is not running is marked dropped (its delivery ID stays known, so a
        redelivery is still ignored) and its key's next job becomes the head."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT key FROM jobs WHERE seq = ? AND state IN ('pending', 'dead', 'failed')", (job_id,)
            ).fetchone()
            if row is None:
                return False
            db.execute(
                "UPDATE jobs SET state = 'dropped', head = 0, finished_at = ?, token = NULL, lease_until = NULL"
                " WHERE seq = ?",
                (self._now(), job_id),
            )
            db.execute(_NEXT_HEAD, (row[0],))
        return True

    def close(self) -> None:
        with self._lock:
            self._db.close()
