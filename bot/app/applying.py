"""Applying a set of stacks for the bot: all locks first, then each stack, every failure
recorded on its stack (`StackRun`) rather than raised, and the `shipmate/apply` status text.

Used by `/apply` (locks kept for the pull request) and by the apply on merge (locks freed).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.app.fanout import fan_out
from bot.app.results import run_of
from bot.app.services import Tree, secrets_of
from bot.app.stacks import Provenance, StackOps
from bot.core.affected import StackRef
from bot.core.config.settings import RepoSettings
from bot.core.errors import ShipmateError, retry_kind
from bot.core.lock import LockHeld
from bot.core.outcome import StackRun

log = logging.getLogger("shipmate.bot")


def apply_stacks(
    ops: StackOps,
    tree: Tree,
    stacks: Sequence[StackRef],
    trusted: RepoSettings,
    provenance: Provenance,
    owner: str,
    *,
    keep_lock: bool,
) -> tuple[list[StackRun], set[str]]:
    """Apply each stack at `tree`; every permanent failure is recorded on its stack (a lock
    held by someone else included). A temporary error (the state branch or the code host
    unavailable) is raised, so the queue tries the job again rather than a stack being shown
    as failed for good. Stacks run `ops.parallel` at a time (`bot.app.fanout`), results in
    the order of `stacks`."""
    def one(ref: StackRef) -> tuple[StackRun, frozenset[str]]:
        try:
            loaded = ops.load(tree.reader, ref.path)
        except ShipmateError as exc:
            return StackRun.refused(ref.project, ref.name, ref.workspace, str(exc)), frozenset()
        secrets = frozenset(secrets_of(loaded, trusted))
        try:
            return run_of(ops.apply(loaded, provenance, owner=owner, keep_lock=keep_lock)), secrets
        except Exception as exc:
            if retry_kind(exc) == "temporary" and not isinstance(exc, LockHeld):
                # The state branch or the code host is unavailable for now: the stack's release
                # (if any) was ended and its lock kept as it was; the job is tried again.
                raise
            if not isinstance(exc, ShipmateError):  # a client error of a runtime: logged in full
                log.exception("apply of %s at %s failed", ref.path, tree.sha[:7])
                return StackRun.refused(ref.project, ref.name, ref.workspace, f"{type(exc).__name__}: {exc}"), secrets
            return StackRun.refused(ref.project, ref.name, ref.workspace, str(exc)), secrets

    done = fan_out(stacks, one, parallel=ops.parallel, key=lambda ref: (ref.project, ref.workspace))
    return [run for run, _ in done], {s for _, secrets in done for s in secrets}


def apply_status(runs: Sequence[StackRun], verb: str) -> tuple[str, str]:
    """(state, description) of the `shipmate/apply` status for these runs."""
    n = len(runs)
    bad = [r for r in runs if not r.ok]
    if bad:
        names = ", ".join(r.name for r in bad)
        return "failure", f"{len(bad)} of {n} stack{'s' if n != 1 else ''} failed: {names}"
    if n:
        revisions = ", ".join(f"{r.name} r{r.revision}" for r in runs)
        return "success", f"{n} stack{'s' if n != 1 else ''} {verb}: {revisions}"
    return "success", "no stacks to apply"
