"""What the state branch keeps of a pull request's latest preview, for the dashboard's list
of open pull requests: `previews/<pull request>.yaml`, written once per preview run (every
stack of it in one write), replaced by the next.

    pullRequest: 12
    commit: 3f2a...            # the head the preview ran on
    previewTime: "2024-05-01T12:00:00Z"
    stacks:
    - {project: shop, workspace: dev, stack: dev, status: changes,
       counts: {create: 1, update: 0, delete: 0, unchanged: 3}}
    - {project: shop, workspace: prod, stack: prod, status: failed, error: "..."}

`status` is `changes`, `no-changes` or `failed`; error texts are masked with the run's
secrets (and the backend masks the whole record again before it is written). The comment
on the pull request stays what people read; this record is what a list of many pull
requests can read without reading each one's comments.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.core import mask
from bot.core.clock import rfc3339
from bot.core.errors import ShipmateError
from bot.core.outcome import REPOSITORY, RunResult, StackOutcome
from bot.core.ports import Clock, StateBackend

log = logging.getLogger("shipmate.previews")


def report(pull_request: int, commit: str, result: RunResult, at: str) -> dict[str, Any]:
    """The record of one preview run (see the module docstring)."""
    return {
        "pullRequest": pull_request,
        "commit": commit,
        "previewTime": at,
        "stacks": [_stack(outcome, result.secrets) for outcome in result.stacks],
    }


def _stack(outcome: StackOutcome, secrets: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"project": outcome.project, "workspace": outcome.workspace, "stack": outcome.stack}
    if outcome.error is not None or outcome.changeset is None:
        out.update(status="failed", error=mask.mask_text(outcome.error or "no change set", secrets))
        return out
    counts = outcome.changeset.counts()
    out.update(
        status="changes" if outcome.changeset.has_changes else "no-changes",
        counts={"create": counts.create, "update": counts.update, "delete": counts.delete,
                "unchanged": counts.unchanged, **({"replace": counts.replace} if counts.replace else {})},
    )
    return out


def record(backend: StateBackend, clock: Clock, pull_request: int, commit: str, result: RunResult) -> None:
    """Write the run's record when it previewed any stack; a failure to write is logged and
    never fails the preview (the comment already told people)."""
    stacks = tuple(s for s in result.stacks if s.project != REPOSITORY)
    if not stacks:
        return
    try:
        backend.write_previews(pull_request, report(pull_request, commit, replace(result, stacks=stacks),
                                                    rfc3339(clock.now())))
    except ShipmateError as exc:
        log.warning("pull request #%d: the preview's record was not written: %s", pull_request, exc)
