"""The scheduled jobs' state for one process: documents as JSON files in the data directory,
leases and fencing tokens in memory.

`LocalJobState` implements the `JobState` port for a bot with the embedded SQLite queue,
which serves one process: the only runs that must exclude each other are that process's, so
the leases, fencing tokens and the last period run of each job live in memory (a restart
in the middle of a period may run that period again, which every job tolerates: they only
enqueue deliveries whose IDs the queue dedupes). The documents are `<document>.json`
(`poll-state.json`, `drift-state.json`), rewritten atomically, as before replicas shared them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.adapters.localfs.datafiles import JsonFile
from bot.core.ports import Clock, JobRun


@dataclass
class _Lease:
    token: int
    until: datetime


class LocalJobState:
    """The `JobState` port in the data directory (documents) and this process (runs)."""

    def __init__(self, data_dir: Path, clock: Clock) -> None:
        self.data_dir = data_dir
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, int] = {}
        self._leases: dict[str, _Lease] = {}
        self._done: dict[str, int] = {}
        self._files: dict[str, JsonFile] = {}

    def _file(self, document: str) -> JsonFile:
        with self._lock:
            if document not in self._files:
                self._files[document] = JsonFile(self.data_dir / f"{document}.json")
            return self._files[document]

    def _current(self, run: JobRun) -> bool:
        lease = self._leases.get(run.job)
        return lease is not None and lease.token == run.token

    def begin(self, job: str, period: int | None, holder: str, lease_seconds: float) -> JobRun | None:
        now = self.clock.now()
        with self._lock:
            if period is not None:
                lease = self._leases.get(job)
                if lease is not None and lease.until > now:
                    return None
                if self._done.get(job, period - 1) >= period:
                    return None
            token = self._tokens.get(job, 0) + 1
            self._tokens[job] = token
            self._leases[job] = _Lease(token, now + timedelta(seconds=lease_seconds))
            return JobRun(job, period, holder, token)

    def renew(self, run: JobRun, lease_seconds: float) -> bool:
        with self._lock:
            if not self._current(run):
                return False
            self._leases[run.job] = _Lease(run.token, self.clock.now() + timedelta(seconds=lease_seconds))
            return True

    def finish(self, run: JobRun) -> bool:
        with self._lock:
            if not self._current(run):
                return False
            del self._leases[run.job]
            if run.period is not None:
                self._done[run.job] = max(run.period, self._done.get(run.job, run.period))
            return True

    def read(self, document: str) -> dict[str, Any]:
        return self._file(document).read()

    def write(self, run: JobRun, document: str, key: str, value: Any) -> bool:
        file = self._file(document)
        with self._lock:  # the fence and the write together: no newer run can begin between
            if not self._current(run):
                return False

            def change(data: dict[str, Any]) -> None:
                data[key] = value

            file.update(change)
            return True
