"""Who holds which project+workspace lock during a run: lock owners and the `LockSession`.

Owners are named here and nowhere else:

| owner | for |
|---|---|
| `pr:owner/repo#7` | everything done for a pull request: its `/apply` and `/destroy` keep their locks until it merges or closes, and its merge's apply takes them over |
| `push:owner/repo@0123456789ab` | a push that no pull request explains |
| `action:owner/repo@<run id>` | the GitHub Action's `destroy` |
| `cli:user@host:pid` | one `shipmate` command |

A `LockSession` is the set of locks one run holds, for one owner on one state backend.
`acquire_all` takes the locks of every stack of the run before anything changes, in sorted
order (two runs never wait on each other crosswise); if one is held by someone else it gives
back the locks it took (not those the owner held before) and refuses with the holder and how
to free it. The stack use cases then take the session's lock for their project+workspace
instead of acquiring it again (which cost a state-branch commit and a token bump per stack),
keep it current when they renew it, and tell the session when they let it go.

Thread-safe: the stacks of a run may execute concurrently (`bot.app.fanout`).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterable

from bot.core.errors import PolicyDenied
from bot.core.lock import Lock, LockHeld
from bot.core.ports import StateBackend


def pull_request_owner(repo: str, number: int) -> str:
    """The lock owner of everything done for a pull request: `pr:owner/repo#7`."""
    return f"pr:{repo.lower()}#{number}"


def push_owner(repo: str, sha: str) -> str:
    """The lock owner of a push's apply when no pull request explains it."""
    return f"push:{repo.lower()}@{sha[:12]}"


def action_owner(repo: str, run_id: str) -> str:
    """The lock owner of one GitHub Actions run."""
    return f"action:{repo.lower()}@{run_id or 'local'}"


def cli_owner(user: str) -> str:
    """The lock owner of one `shipmate` command: user, host and process."""
    return f"cli:{user}@{socket.gethostname()}:{os.getpid()}"


class LockSession:
    """The locks `owner` holds on `backend` during one run (see the module docstring)."""

    def __init__(
        self,
        backend: StateBackend,
        owner: str,
        lease_seconds: float,
        *,
        pull_request: int | None = None,
        run_id: str = "",
    ) -> None:
        self.backend = backend
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.pull_request = pull_request
        self.run_id = run_id
        self._held: dict[str, Lock] = {}
        self._guard = threading.Lock()

    def acquire_all(self, keys: Iterable[tuple[str, str]]) -> tuple[Lock, ...]:
        """Take the lock of every (project, workspace), in sorted order, before anything
        changes; PolicyDenied names a live other holder (the locks taken here given back)."""
        wanted = sorted(set(keys))
        held_before = {lock.key for lock in self.backend.list_locks() if lock.owner == self.owner}
        taken: list[Lock] = []
        try:
            for project, workspace in wanted:
                taken.append(self._acquire(project, workspace))
        except LockHeld as exc:
            for lock in taken:
                if lock.key not in held_before:
                    self.let_go(lock)
            holder = exc.holder
            where = f" (comment `/unlock` on #{holder.pull_request} to free it)" if holder.pull_request else ""
            raise PolicyDenied(f"{exc}{where}") from None
        return tuple(taken)

    def lock(self, project: str, workspace: str) -> Lock:
        """The session's lock of project+workspace, taken now if it does not hold it yet
        (`LockHeld` when someone else does)."""
        with self._guard:
            held = self._held.get(f"{project}/{workspace}")
        return held if held is not None else self._acquire(project, workspace)

    def renewed(self, lock: Lock) -> None:
        """Remember a lock the holder renewed (its lease and token are the current ones)."""
        with self._guard:
            self._held[lock.key] = lock

    def let_go(self, lock: Lock) -> None:
        """Release `lock` and forget it."""
        with self._guard:
            self._held.pop(lock.key, None)
        self.backend.release_lock(lock)

    def forget(self, lock: Lock) -> None:
        """Stop tracking `lock` without releasing it (a release that ended with it)."""
        with self._guard:
            self._held.pop(lock.key, None)

    @property
    def held(self) -> tuple[Lock, ...]:
        with self._guard:
            return tuple(sorted(self._held.values(), key=lambda lock: lock.key))

    def _acquire(self, project: str, workspace: str) -> Lock:
        lock = self.backend.acquire_lock(project, workspace, self.owner, self.lease_seconds, self.pull_request,
                                         run_id=self.run_id)
        self.renewed(lock)
        return lock
