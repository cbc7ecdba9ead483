"""The lock reconciler: frees locks whose lease expired and locks of closed pull requests.

Webhooks get lost (GitHub does not retry) and a merged pull request whose push was never
processed would otherwise keep its locks for weeks, which is the most reported lock bug of
comparable tools. A lock of a closed pull request is freed once it is older than a grace
period and none of its project+workspaces has a release still running, so the apply of a
merge (it takes the lock over under the same owner) is never cut short. The pull request is told which locks were freed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.app.services import Services
from bot.app.waiting import Freed
from bot.core.config.settings import RepoSettings
from bot.core.errors import ConfigError
from bot.core.lock import Lock
from bot.core.ports import StateBackend
from bot.core.runplan import Request

log = logging.getLogger("shipmate.locks")

CLOSED_GRACE = timedelta(minutes=10)


@dataclass(frozen=True)
class Swept:
    expired: tuple[Lock, ...] = ()
    closed: tuple[Lock, ...] = ()


def sweep_locks(
    services: Services, repo: str, installation_id: int | None = None, grace: timedelta = CLOSED_GRACE,
    freed: Freed | None = None,
) -> Swept:
    """Free `repo`'s expired locks and the locks of its closed pull requests (which leave
    every lock's line); `freed` hands each freed lock to the first in its line."""
    access = services.access(repo, installation_id)
    host = access.host
    try:
        trusted = services.policy_tree(access, repo).settings()
    except ConfigError:
        trusted = RepoSettings()
    backend = access.backends(repo, trusted.backend.branch)
    expired = backend.sweep_expired_locks()
    now = services.clock.now()
    closed: list[Lock] = []
    left: list[str] = []
    by_number: dict[int, list[Lock]] = {}
    for lock in backend.list_locks():
        if lock.pull_request is not None:
            by_number.setdefault(lock.pull_request, []).append(lock)
    for number, locks in sorted(by_number.items()):
        if any(now - lock.acquire_time < grace or _running(backend, lock) for lock in locks):
            continue
        if host.pull_request(repo, number).state == "open":
            continue
        released = backend.release_pull_request_locks(number)
        left.extend(backend.leave_queues(number))
        if released:
            closed.extend(released)
            services.reporter(access).unlocked(Request(repo, number), released, "The pull request is closed")
    if expired or closed:
        log.info("%s: freed %d expired lock(s) and %d lock(s) of closed pull requests",
                 repo, len(expired), len(closed))
    if freed is not None and (expired or closed or left):
        freed(access, repo, backend, [*(lock.key for lock in (*expired, *closed)), *left])
    return Swept(tuple(expired), tuple(closed))


def _running(backend: StateBackend, lock: Lock) -> bool:
    latest = backend.latest(lock.project, lock.workspace)
    return latest is not None and not latest.phase.terminal
