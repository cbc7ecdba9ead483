"""Who holds which project+workspace lock during a run: lock owners and the `LockSession`.

Owners are named here and nowhere else:

| owner | for |
|---|---|
| `pr:owner/repo#7` | everything done for a pull request: its `/apply` and `/destroy` keep their locks until it merges or closes, and its merge's apply takes them over |
| `push:owner/repo@0123456789ab` | a push that no pull request explains |
| `action:owner/repo@<run id>` | the GitHub Action's `destroy` |
| `cli:user@host:pid` | one `shipmate` command |

A `LockSession` is the set of locks one run holds, for one owner on one state backend, and
the one place locks are taken, handed over and given back:

- `acquire_all` takes the locks of every stack of the run before anything changes, in sorted
  order (two runs never wait on each other crosswise); if one is held by someone else it
  gives back the locks it took (not those the owner held before) and refuses with the holder
  and how to free it. `lock` takes one stack's lock when the run did not take them all first
  (a merge's apply: a stack some other pull request holds fails, the others go on).
- `take_over` takes over the locks the owner already holds (a merged pull request's, kept
  since its `/apply`) without ever letting them go, so nobody can slip in between the merge
  and its apply; taking them again bumps their fencing token, so a straggling writer of the
  earlier run is refused.
- The stack use cases take the session's lock for their project+workspace instead of
  acquiring it again (one state-branch commit and token bump less per stack), keep it current
  when they renew it, and tell the session when a finished release freed it.
- `close` ends the run: the locks stay held for the owner (`keep`) or every one still held is
  given back, and a pull request's other locks with them.

Thread-safe: the stacks of a run may execute concurrently (`bot.app.fanout`).

With `metrics`, every lock asked for is counted (acquired, or held by someone else) and timed
(`shipmate_lock_acquire_seconds`: a state-branch write), and a lock this session took and gave
back is observed for how long it was held (`shipmate_lock_hold_seconds`); locks the session
keeps for its owner are not, since their hold goes on after the run.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterable

from bot.core.lock import Lock, LockedOut, LockHeld
from bot.core.ports import StateBackend
from bot.metrics import ShipmateMetrics


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
        metrics: ShipmateMetrics | None = None,
    ) -> None:
        self.backend = backend
        self.metrics = metrics
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.pull_request = pull_request
        self.run_id = run_id
        self._held: dict[str, Lock] = {}
        self._before: set[str] = set()  # keys the owner held before this run
        self._since: dict[str, float] = {}  # monotonic time each lock was taken in this run
        self._guard = threading.Lock()

    def acquire_all(self, keys: Iterable[tuple[str, str]]) -> tuple[Lock, ...]:
        """Take the lock of every (project, workspace), in sorted order, before anything
        changes; LockedOut (a PolicyDenied) names a live other holder (the locks taken here given back)."""
        wanted = sorted(set(keys))
        held_before = {lock.key for lock in self.backend.list_locks() if lock.owner == self.owner}
        with self._guard:
            self._before |= held_before
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
            raise LockedOut(f"{exc}{where}", holder) from None
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
        self._gave_back(lock.key)

    def forget(self, lock: Lock) -> None:
        """Stop tracking `lock` without releasing it (a release that ended with it)."""
        with self._guard:
            self._held.pop(lock.key, None)
        self._gave_back(lock.key)

    def take_over(self, keys: Iterable[tuple[str, str]]) -> tuple[Lock, ...]:
        """Take over the locks the owner holds already (see the module docstring): those of
        `keys` (project, workspace) are taken again in sorted order, which bumps their fencing
        token so a straggling writer of the earlier run is refused; the others are left for
        `close`. Returns every lock the owner held before."""
        before = tuple(lock for lock in self.backend.list_locks() if lock.owner == self.owner)
        with self._guard:
            self._before |= {lock.key for lock in before}
        wanted = set(keys)
        for lock in sorted(before, key=lambda held: held.key):
            if (lock.project, lock.workspace) in wanted:
                self._acquire(lock.project, lock.workspace)
        return before

    def abandon(self) -> None:
        """After an error the run raises (to be tried again): give back the locks this run
        took, keep those the owner held before it (a pull request's, for the retry)."""
        with self._guard:
            mine = [lock for key, lock in self._held.items() if key not in self._before]
        for lock in mine:
            self.let_go(lock)

    def close(self, *, keep: bool) -> tuple[Lock, ...]:
        """End the run: with `keep` the held locks stay the owner's; otherwise every lock still
        held is released, and so are the pull request's other locks when the session is a pull
        request's. Returns the locks released here."""
        if keep:
            return ()
        if self.pull_request is not None:  # one write frees all of them
            with self._guard:
                keys = list(self._held)
                self._held.clear()
            freed = self.backend.release_pull_request_locks(self.pull_request)
            for key in keys:
                self._gave_back(key)
            return freed
        freed = self.held
        for lock in freed:
            self.let_go(lock)
        return freed

    @property
    def held(self) -> tuple[Lock, ...]:
        with self._guard:
            return tuple(sorted(self._held.values(), key=lambda lock: lock.key))

    def _acquire(self, project: str, workspace: str) -> Lock:
        started = time.monotonic()
        try:
            lock = self.backend.acquire_lock(project, workspace, self.owner, self.lease_seconds, self.pull_request,
                                             run_id=self.run_id)
        except LockHeld:
            self._asked(started, "held")
            raise
        self._asked(started, "acquired")
        self.renewed(lock)
        with self._guard:
            self._since.setdefault(lock.key, started)
        return lock

    def _asked(self, started: float, result: str) -> None:
        if self.metrics is not None:
            self.metrics.lock_acquisitions.inc(result=result)
            self.metrics.lock_acquire_seconds.observe(time.monotonic() - started)

    def _gave_back(self, key: str) -> None:
        with self._guard:
            since = self._since.pop(key, None)
        if since is not None and self.metrics is not None:
            self.metrics.lock_hold_seconds.observe(time.monotonic() - since)
