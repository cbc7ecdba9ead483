"""In-memory adapters: real implementations of the ports, for fast tests and experiments.

- `codehost.MemoryCodeHost`: the `CodeHost` port (pull requests, comments, statuses,
  reviews, permissions, branches, commit comments, reactions) with GitHub's edge behaviour;
- `commits.Commits`, `checkouts.MemoryCheckouts` and `reader.MemoryConfigReader`: commits as
  mappings path -> text, checked out by name and read by the rules of a checkout on disk;
- `state.memory_backend`: the `StateBackend` port with the state branch's own rules
  (`bot.core.statebackend`) over a dict of files;
- `runtime.PLUGIN` and `module.MemoryObject`: a `Memory` runtime plug-in over named worlds
  of objects, and the module that generates its resources.

`MemoryAdapters` ties one set together: a code host, its checkouts, a reader per checkout
and one state backend per repository and state branch, all on one clock and `Masker`.
Nothing here does I/O; nothing in the bot imports this package.
"""

from __future__ import annotations

import threading

from bot.adapters.memory.checkouts import MemoryCheckouts
from bot.adapters.memory.codehost import MemoryCodeHost
from bot.adapters.memory.commits import Commits
from bot.adapters.memory.reader import MemoryConfigReader, MemoryReaders
from bot.adapters.memory.state import MemoryStore, memory_backend
from bot.core.mask import Masker
from bot.core.ports import Clock
from bot.core.statebackend import StoreBackend

__all__ = [
    "Commits",
    "MemoryAdapters",
    "MemoryCheckouts",
    "MemoryCodeHost",
    "MemoryConfigReader",
    "MemoryReaders",
    "MemoryStore",
    "memory_backend",
]


class MemoryAdapters:
    """One code host with its checkouts, readers and state backends (see the module docstring)."""

    def __init__(self, clock: Clock, *, login: str = "shipmate[bot]", masker: Masker | None = None) -> None:
        self.clock = clock
        self.masker = masker if masker is not None else Masker()
        self.commits = Commits()
        self.host = MemoryCodeHost(self.commits, login=login, masker=self.masker)
        self.checkouts = MemoryCheckouts(self.commits)
        self.reader = MemoryReaders(self.commits)
        self._backends: dict[tuple[str, str], StoreBackend] = {}
        self._lock = threading.Lock()

    def backend(self, repo: str, branch: str = "shipmate-state") -> StoreBackend:
        """The state backend of `repo` on `branch` (the same one every time)."""
        with self._lock:
            found = self._backends.get((repo, branch))
            if found is None:
                found = memory_backend(self.clock, self.masker, name=branch)
                self._backends[(repo, branch)] = found
            return found
