"""Drift checks: preview the default branch's head against what is live, per stack.

A stack is checked once it has a release (a stack never applied has nothing to drift
from). Each check is recorded on the state branch at `drift/<project>/<workspace>.yaml`
(`StateBackend.write_drift`: counts, the changed resources, and for each updated one its changed
fields, masked and cut short, under `diffs`) and summed up in the `shipmate/drift` status of
the default branch's head commit. A stack drifts when its preview has any change: the live objects
were edited, or the default branch holds changes that were never applied. Each drifted stack
also gets an issue on the repository, kept up to date and closed once it is back in line
(`bot.app.drift_issues`), and a pull request writing the live values that map back into its
config (`bot.app.drift_pulls`); their numbers are kept in the drift record (`issue`,
`pullRequest`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.app import builder, drift_issues
from bot.app.runner import StackRunner
from bot.app.services import Services, Tree
from bot.app.stacks import StackOps
from bot.core import mask
from bot.core.adoption import Adoption
from bot.core.affected import StackRef
from bot.core.clock import rfc3339
from bot.core.errors import ConfigError
from bot.core.events import IssueClosed
from bot.core.fieldowners import FieldOwner
from bot.core.outcome import REPOSITORY, StackOutcome, drift_names
from bot.core.preview.model import Action, ChangeSet, FieldDiff
from bot.core.render import statuses
from bot.core.runplan import Request

log = logging.getLogger("shipmate.drift")

MAX_FIELDS = 50  # changed fields recorded per drifted resource
MAX_VALUE = 200  # characters of each value


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
    result: StackOutcome, commit: str, checked_at: str, secrets: Iterable[str] = ()
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
                "unchanged": counts.unchanged, **({"replace": counts.replace} if counts.replace else {})},
        changes=[{"id": s.id, "action": str(s.action)} for s in result.changeset.changed_steps()],
    )
    diffs = {s.id: [_field(d) for d in s.diffs[:MAX_FIELDS]] for s in result.changeset.changed_steps()
             if s.diffs and s.action in (Action.UPDATE, Action.REPLACE)}
    if diffs:
        out["diffs"] = diffs
    return out


def _field(diff: FieldDiff) -> dict[str, Any]:
    """One changed field of a drifted resource (masked with the preview), values as compact
    JSON cut at `MAX_VALUE` characters: what the dashboard shows of the drift."""
    return {"path": diff.dotted, "kind": str(diff.kind), "before": _value(diff.before), "after": _value(diff.after)}


def _value(value: Any) -> str:
    shown = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return shown if len(shown) <= MAX_VALUE else shown[: MAX_VALUE - 1] + "…"


def check_drift(services: Services, repo: str, installation_id: int | None = None) -> DriftSummary:
    """Check every applied stack of `repo`'s default branch and record the results."""
    access = services.access(repo, installation_id)
    reporter = services.reporter(access)
    branch = access.host.default_branch(repo)
    tree = services.base_tree(access, repo, branch)
    try:
        trusted = services.policy_tree(access, repo).settings()
    except ConfigError as exc:
        log.warning("%s: drift check skipped: %s", repo, exc)
        reporter.drift_refused(Request(repo, None, tree.sha), "shipmate.yaml is invalid")
        return DriftSummary(repo, tree.sha, (), (), ("shipmate.yaml",))
    selection = builder.select(tree, None)
    if selection.error is not None:
        reporter.drift_refused(Request(repo, None, tree.sha), "the stacks cannot be read")
        return DriftSummary(repo, tree.sha, (), (), (REPOSITORY,))
    ops = services.ops(access, repo, trusted)
    applied = [s for s in selection.stacks if ops.backend.latest(s.project, s.workspace) is not None]
    plan = builder.drift(repo, tree, applied, trusted.backend.branch)
    result = StackRunner(ops, tree, trusted).run(plan)  # reported below, once recorded
    checked_at = rfc3339(services.clock.now())
    view = ops.backend.view()
    for ref, outcome in zip(applied, result.stacks, strict=True):
        record = report(outcome, tree.sha, checked_at, result.secrets)
        previous = view.drift(ref.project, ref.workspace)
        adopt = _adopt(ops, tree, ref, outcome, result.secrets) if trusted.drift.pull_requests else None
        issue = drift_issues.hand_back(access.host, repo, branch, tree.sha, checked_at, outcome,
                                       previous, record, result.secrets,
                                       owners=_who_changed(ops, tree, ref, outcome), adopt=adopt) \
            if trusted.drift.issues else drift_issues.kept_of(previous)
        ops.backend.write_drift(ref.project, ref.workspace, {**record, **issue})
    reporter.finished(plan, result)
    checked, drifted, failed = drift_names(result)
    out = DriftSummary(repo, tree.sha, tuple(checked), tuple(drifted), tuple(failed))
    log.info("%s@%s drift: %s", repo, tree.sha[:7], out.status[1] if checked else "no applied stacks")
    return out


def _who_changed(ops: StackOps, tree: Tree, ref: StackRef,
                 outcome: StackOutcome) -> Callable[[], Mapping[str, tuple[FieldOwner, ...]]]:
    """Reads who set the drifted stack's live fields, when asked (the stack loaded again)."""
    def read() -> Mapping[str, tuple[FieldOwner, ...]]:
        if outcome.changeset is None:
            return {}
        return ops.who_changed(ops.load(tree.reader, ref.path), outcome.changeset)

    return read


def _adopt(ops: StackOps, tree: Tree, ref: StackRef, outcome: StackOutcome,
           hidden: Iterable[str]) -> Callable[[], Adoption]:
    """Works out, when asked, what of the stack's drift maps back into its config."""
    def work() -> Adoption:
        changes = outcome.changeset if outcome.changeset is not None else ChangeSet()
        return ops.adopt(tree.reader, ref.path, changes, hidden)

    return work


def issue_closed(services: Services, event: IssueClosed) -> None:
    """A drift issue closed by someone (not Shipmate, not after `/apply` on it): recorded in
    the stack's drift record as dismissed (who, when, which difference). Other issues: nothing."""
    access = services.access(event.repo, event.installation_id)
    if event.sender.lower() == access.host.bot_login().lower():
        return
    try:
        trusted = services.policy_tree(access, event.repo).settings()
    except ConfigError:
        return
    backend = access.backends(event.repo, trusted.backend.branch)
    found = drift_issues.stack_of(backend.view(), event.number)
    if found is None:
        return
    project, workspace, record = found
    backend.write_drift(project, workspace, drift_issues.dismissed(record, event.sender, rfc3339(services.clock.now())))
    log.info("%s: drift issue #%d of %s/%s closed by %s: recorded", event.repo, event.number, project, workspace,
             event.sender)
