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

It is also what approvals are pinned to. Each previewed stack keeps its `fingerprint`
(bot.core.fingerprint: `value` and the digests of commit, spec, changes and live state), and
`approvalsFrom: N` when a preview of the same head found another fingerprint than the one
before it (someone changed the objects since): the pull request's first N reviews were given
for what is no longer true and do not count for that stack. A preview of some stacks of the
same head (`/preview -p -s`) keeps the others' entries. `pinned` reads it for `/apply`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bot.core import mask
from bot.core.clock import rfc3339
from bot.core.errors import PolicyDenied, ShipmateError
from bot.core.fingerprint import Fingerprint
from bot.core.outcome import REPOSITORY, RunResult, StackOutcome
from bot.core.ports import Clock, StateBackend
from bot.core.render import refusals

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
    if outcome.fingerprint is not None:
        out["fingerprint"] = outcome.fingerprint.to_dict()
    return out


Key = tuple[str, str, str]  # (project, workspace, stack)


def _key(entry: Mapping[str, Any]) -> Key:
    return str(entry.get("project", "")), str(entry.get("workspace", "")), str(entry.get("stack", ""))


def pinned_to(report: dict[str, Any], previous: Mapping[str, Any] | None,
              reviews: Callable[[], int]) -> dict[str, Any]:
    """`report` with what a record of the same head before it (`previous`) says about
    approvals: a stack whose fingerprint moved gets `approvalsFrom` = the number of reviews
    now (`reviews`, asked at most once); one whose fingerprint held keeps its `approvalsFrom`;
    stacks of the same head this run did not preview keep their entries."""
    if not previous or previous.get("commit") != report["commit"]:
        return report
    before = {_key(e): e for e in previous.get("stacks") or () if isinstance(e, Mapping)}
    count: list[int] = []
    stacks: list[dict[str, Any]] = []
    for entry in report["stacks"]:
        old = before.pop(_key(entry), None)
        new_print, old_print = entry.get("fingerprint"), (old or {}).get("fingerprint")
        if isinstance(new_print, Mapping) and isinstance(old_print, Mapping):
            if new_print.get("value") != old_print.get("value"):
                count = count or [reviews()]
                entry = {**entry, "approvalsFrom": count[0]}
            elif isinstance((old or {}).get("approvalsFrom"), int):
                entry = {**entry, "approvalsFrom": old["approvalsFrom"]}  # type: ignore[index]
        stacks.append(entry)
    kept = [dict(e) for e in before.values()]
    return {**report, "stacks": sorted(stacks + kept, key=_key) if kept else stacks}


@dataclass(frozen=True, slots=True)
class Pinned:
    """What a stack's approvals are for: its previewed fingerprint and the first review that
    counts (0: all of them)."""

    fingerprint: Fingerprint | None
    approvals_from: int = 0


def pinned(backend: StateBackend, pull_request: int, head_sha: str) -> dict[Key, Pinned]:
    """Each stack's pin from the pull request's latest preview; PolicyDenied when none of
    the head is recorded."""
    got = pins(backend, pull_request, head_sha)
    if got is None:
        raise PolicyDenied(refusals.no_preview(head_sha))
    return got


def pins(backend: StateBackend, pull_request: int, head_sha: str) -> dict[Key, Pinned] | None:
    """Each stack's pin from the pull request's latest preview; None when it is not of `head_sha`."""
    record = backend.view().previews(pull_request)
    if not record or record.get("commit") != head_sha:
        return None
    out: dict[Key, Pinned] = {}
    for entry in record.get("stacks") or ():
        if not isinstance(entry, Mapping):
            continue
        printed = entry.get("fingerprint")
        start = entry.get("approvalsFrom")
        out[_key(entry)] = Pinned(Fingerprint.from_dict(printed) if isinstance(printed, Mapping) else None,
                                  start if isinstance(start, int) and start > 0 else 0)
    return out


def record(backend: StateBackend, clock: Clock, pull_request: int, commit: str, result: RunResult,
           reviews: Callable[[], int] | None = None) -> None:
    """Write the run's record when it previewed any stack; a failure to write is logged and
    never fails the preview (the comment already told people). With `reviews` (how many
    reviews the pull request has), approvals are pinned against the record it replaces."""
    stacks = tuple(s for s in result.stacks if s.project != REPOSITORY)
    if not stacks:
        return
    try:
        written = report(pull_request, commit, replace(result, stacks=stacks), rfc3339(clock.now()))
        if reviews is not None:
            written = pinned_to(written, backend.view().previews(pull_request), reviews)
        backend.write_previews(pull_request, written)
    except ShipmateError as exc:
        log.warning("pull request #%d: the preview's record was not written: %s", pull_request, exc)
