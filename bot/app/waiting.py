"""The lock queue's use cases: an `/apply` that finds a stack locked by another pull request
waits in line for it (`bot.core.lockqueue`, on the state branch beside the lock), and a freed
lock goes to the first in line.

`join` puts the asking pull request in the line of the lock it found held and returns its
place; the comment says where it stands and behind whom. `hand_over` runs after a pull
request's locks are freed (merged and applied, closed, `/unlock`, the sweeper): for each freed
lock whose line is not empty, the first live entry leaves the line and its command runs as the
person who asked (`run`: the comment handler's path, with every rule a comment meets), in
the job that freed the lock; the others in that line are told their new place, as is
everyone in a line someone left (`tell_places`). A pull request that is no longer open is skipped (closing one
takes it out of every line anyway). The apply that runs is pinned to the pull request's
preview like any `/apply`: when what it would change moved meanwhile (the first pull
request's apply changed the live objects), it is not applied, the preview is posted anew,
and earlier approvals stop counting for the stacks that moved. A merged pull request's entry is
its merge's apply waiting (`bot.app.queued_merges`), run when it is merged rather than open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from bot.app.services import Access
from bot.core.lock import Lock
from bot.core.lockqueue import DEFAULT_WAIT, Waiting
from bot.core.ports import Clock, StateBackend
from bot.core.render import queue as queue_text
from bot.core.reporter import Reporter
from bot.core.runplan import Request

log = logging.getLogger("shipmate.bot")

RunQueued = Callable[[Access, str, Waiting], None]
# Told that locks (`project/workspace` keys) of a repository's backend were freed.
Freed = Callable[[Access, str, StateBackend, Iterable[str]], None]


def join(backend: StateBackend, clock: Clock, holder: Lock, pull_request: int, actor: str,
         comment_id: int | None, command: str, expiry: timedelta = DEFAULT_WAIT, *,
         merge_commit: str = "", stacks: tuple[str, ...] = ()) -> int:
    """Put `pull_request` (its `/apply`, or with `merge_commit` its merge's apply of `stacks`)
    in the line of `holder`'s lock for `expiry` at most; its 1-based place."""
    now = clock.now()
    entry = Waiting(pull_request, actor, comment_id, now, now + expiry, command, merge_commit, stacks)
    return backend.join_queue(holder.project, holder.workspace, entry)


def hand_over(access: Access, repo: str, backend: StateBackend, keys: Iterable[str], run: RunQueued,
              reporter: Reporter) -> None:
    """Give each freed lock (`project/workspace` keys; a key whose lock is still held changes
    hands later) to the first in its line; everyone else in those lines is told their place."""
    for key in sorted(set(keys)):
        project, _, workspace = key.partition("/")
        entry = backend.next_in_queue(project, workspace)
        if entry is None:
            tell_places(repo, backend, (key,), reporter)
            continue
        pr = access.host.pull_request(repo, entry.pull_request)
        if (pr.state != "open" and not entry.is_merge) or (entry.is_merge and not pr.merged):
            log.info("%s: #%d was first in line for %s but is %s", repo, entry.pull_request, key, pr.state)
            continue
        log.info("%s: %s is free; #%d's %s runs for @%s", repo, key, entry.pull_request,
                 f"merge {entry.merge_commit[:7]}" if entry.is_merge else entry.command, entry.actor)
        turn = queue_text.merge_turn if entry.is_merge else queue_text.turn
        reporter.waiting(Request(repo, entry.pull_request), key, turn(entry.actor, key))
        run(access, repo, entry)
        tell_places(repo, backend, (key,), reporter)


def tell_places(repo: str, backend: StateBackend, keys: Iterable[str], reporter: Reporter) -> None:
    """Tell each pull request waiting for the locks `keys` its place and who holds the lock now."""
    holders = {lock.key: lock for lock in backend.list_locks()}
    for key in sorted(set(keys)):
        holder = holders.get(key)
        if holder is None:
            continue
        project, _, workspace = key.partition("/")
        for place, entry in enumerate(backend.queue(project, workspace).waiting, start=1):
            said = queue_text.merge_waiting if entry.is_merge else queue_text.waiting
            reporter.waiting(Request(repo, entry.pull_request), key, said(entry.actor, holder, place))
