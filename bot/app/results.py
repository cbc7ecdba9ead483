"""A stack use case's result as the value result renderings read (`bot.core.outcome.StackRun`)."""

from __future__ import annotations

from bot.app.stacks import Result
from bot.core.outcome import StackRun


def run_of(result: Result) -> StackRun:
    """What happened to the stack of `result`, ready to render."""
    ident = result.identity
    release = result.release
    outcome = result.outcome
    failed: list[tuple[str, str]] = []
    if outcome is not None:
        failed.extend(sorted(outcome.failed.items()))
        failed.extend((rid, f"skipped: {why}") for rid, why in sorted(outcome.skipped.items()))
    return StackRun(
        project=ident.project,
        stack=ident.stack,
        workspace=ident.workspace,
        ok=result.ok,
        revision=release.revision if release is not None else None,
        phase=str(release.phase) if release is not None else "",
        counts=result.changeset.counts(),
        changes=tuple((s.id, s.action) for s in result.changeset.changed_steps()),
        failed=tuple(failed),
        error=None if result.ok else (result.error or "the operation did not succeed"),
    )
