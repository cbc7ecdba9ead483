"""Drift checks: preview the default branch's head against what is live, per stack.

A stack is checked once it has a release (a stack never applied has nothing to drift
from). Each check is recorded on the state branch at `drift/<project>/<workspace>.yaml`
(`StateBackend.write_drift`) and summed up in the `shipmate/drift` status of the default
branch's head commit. A stack drifts when its preview has any change: the live objects
were edited, or the default branch holds changes that were never applied.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.app import summary
from bot.app.previews import preview, select
from bot.app.services import DRIFT_STATUS, RUN_LEASE_SECONDS, Services
from bot.core import mask
from bot.core.clock import rfc3339
from bot.core.errors import ConfigError
from bot.core.preview.model import StackResult
from bot.core.render import statuses

log = logging.getLogger("shipmate.drift")


@dataclass(frozen=True)
class DriftSummary:
    repo: str
    commit: str
    checked: tuple[str, ...]  # project/stack
    drifted: tuple[str, ...]
    failed: tuple[str, ...]

    @property
    def status(self) -> tuple[str, str]:
        return statuses.drift(self.checked, self.drifted, self.failed)


def report(
    result: StackResult, commit: str, checked_at: str, secrets: Iterable[str] = ()
) -> dict[str, Any]:
    """What is written to `drift/<project>/<workspace>.yaml` for one stack (errors masked)."""
    out: dict[str, Any] = {
        "checkTime": checked_at,
        "commit": commit,
        "stack": result.stack,
    }
    if result.error is not None or result.changeset is None:
        out.update(drifted=None, error=mask.mask_text(result.error or "no change set", secrets))
        return out
    counts = result.changeset.counts()
    out.update(
        drifted=result.changeset.has_changes,
        counts={"create": counts.create, "update": counts.update, "delete": counts.delete,
                "unchanged": counts.unchanged},
        changes=[{"id": s.id, "action": str(s.action)} for s in result.changeset.changed_steps()],
    )
    return out


def check_drift(services: Services, repo: str, installation_id: int | None = None) -> DriftSummary:
    """Check every applied stack of `repo`'s default branch and record the results."""
    access = services.access(repo, installation_id)
    host = access.host
    branch = host.default_branch(repo)
    tree = services.base_tree(access, repo, branch)
    try:
        trusted = services.policy_tree(access, repo).settings()
    except ConfigError as exc:
        summary.status(host, repo, tree.sha, DRIFT_STATUS, "error", "shipmate.yaml is invalid")
        log.warning("%s: drift check skipped: %s", repo, exc)
        return DriftSummary(repo, tree.sha, (), (), ("shipmate.yaml",))
    selection = select(tree, None)
    if selection.error is not None:
        summary.status(host, repo, tree.sha, DRIFT_STATUS, "error", "the stacks cannot be read")
        return DriftSummary(repo, tree.sha, (), (), ("(repository)",))
    ops = services.ops(access, repo, trusted, lease_seconds=RUN_LEASE_SECONDS)
    applied = [s for s in selection.stacks if ops.backend.latest(s.project, s.workspace) is not None]
    previewed = preview(ops, tree, applied, trusted)
    checked_at = rfc3339(services.clock.now())
    checked, drifted, failed = [], [], []
    for ref, result in zip(applied, previewed.results, strict=True):
        name = f"{ref.project}/{ref.name}"
        checked.append(name)
        entry = report(result, tree.sha, checked_at, previewed.secrets)
        if entry["drifted"] is None:
            failed.append(name)
        elif entry["drifted"]:
            drifted.append(name)
        ops.backend.write_drift(ref.project, ref.workspace, entry)
    out = DriftSummary(repo, tree.sha, tuple(checked), tuple(drifted), tuple(failed))
    if checked:
        summary.status(host, repo, tree.sha, DRIFT_STATUS, *out.status)
    log.info("%s@%s drift: %s", repo, tree.sha[:7], out.status[1] if checked else "no applied stacks")
    return out
