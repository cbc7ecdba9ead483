"""The `StateBackend` in memory: the state branch's files in a dict, under the same rules.

`MemoryStore` is a `bot.core.statelayout.Store` whose files live in a mapping path -> bytes,
replaced whole by each transaction (so a snapshot never changes under its reader); every
write is kept as a `StateCommit` (message and changed paths), as the state branch keeps its
commits. `memory_backend` puts the core's `StoreBackend` on it: revision numbering, phase
transitions, locks with fencing tokens and leases, drift records and masking are the very
rules the Git state branch obeys, and the files are byte for byte what it would hold.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

from bot.core.mask import Masker
from bot.core.ports import Clock
from bot.core.statebackend import StoreBackend
from bot.core.statelayout import Done, Snapshot, Write

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StateCommit:
    """One write: its message and the paths it put (or removed)."""

    message: str
    paths: tuple[str, ...]


class MemorySnapshot:
    """The files as they were when the snapshot was taken."""

    def __init__(self, files: Mapping[str, bytes], name: str, version: str = "") -> None:
        self.files = files
        self.name = name
        self.version = version  # how many writes came before it, like a commit id

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)

    def list_dir(self, path: str) -> tuple[str, ...]:
        prefix = f"{path.rstrip('/')}/"
        return tuple(sorted({p[len(prefix):].split("/", 1)[0] for p in self.files if p.startswith(prefix)}))

    def label(self, path: str) -> str:
        return f"{self.name}:{path}"


class MemoryStore:
    """A `Store` in memory; `name` labels its files in messages, like the state branch's name."""

    def __init__(self, name: str = "shipmate-state") -> None:
        self.name = name
        self.description = f"memory {name}"
        self._files: Mapping[str, bytes] = MappingProxyType({})
        self._lock = threading.Lock()
        self.commits: list[StateCommit] = []

    def snapshot(self) -> MemorySnapshot:
        with self._lock:
            return MemorySnapshot(self._files, self.name, str(len(self.commits)))

    def transact(self, fn: Callable[[Snapshot], Write[T] | Done[T]]) -> T:
        with self._lock:  # one writer at a time: a transaction always sees the newest files
            out = fn(MemorySnapshot(self._files, self.name))
            if isinstance(out, Done):
                return out.result
            files = dict(self._files)
            for path, data in out.ordered():
                if data is None:
                    files.pop(path, None)
                else:
                    files[path] = data
            self._files = MappingProxyType(files)
            self.commits.append(StateCommit(out.message, tuple(p for p, _ in out.ordered())))
            return out.result

    def close(self) -> None:
        """Nothing is held."""


def memory_backend(clock: Clock, masker: Masker | None = None, name: str = "shipmate-state") -> StoreBackend:
    """A state backend in memory with the state branch's rules (see the module docstring)."""
    return StoreBackend(MemoryStore(name), clock, masker)
