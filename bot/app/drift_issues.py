"""Drift handed back: one issue per drifted stack on the config repository.

The scheduled drift check (`bot.app.drift`) calls `hand_back` for each stack it checked, with
the stack's previous drift record. A stack that drifts gets an issue showing the difference
as a preview does (`bot.core.render.drift_issue`), opened once and edited by every later
check while it stays open; the issue's number is kept in the stack's drift record
(`drift/<project>/<workspace>.yaml`, `issue`), so there is never a second one. A stack back in
line has its open issue closed with a comment. A check that failed leaves the issue as it is.
An issue someone closes by hand, with neither way out taken, is recorded in the drift record
(`dismissed`: who, when, which difference; `bot.app.drift.issue_closed`), and the same
difference is not raised again; a different one opens a new issue. With `drift.issues: false`
in shipmate.yaml no issue is opened, edited or closed; the record keeps what it had (`kept_of`).
Commenting `/apply` on the issue applies the stack from the default branch
(`bot.app.comments`); the other way out is the drift pull request writing the live values that
map back into the config (`bot.app.drift_pulls`, `drift.pullRequests`), which the issue names.
Code-host errors are logged: the drift record and status stand anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from bot.app import drift_pulls
from bot.core.adoption import Adoption
from bot.core.errors import ShipmateError
from bot.core.fieldowners import FieldOwner
from bot.core.fingerprint import digest
from bot.core.outcome import StackOutcome
from bot.core.ports import CodeHost, StateView
from bot.core.render import drift_issue

log = logging.getLogger("shipmate.drift")


def issue_of(record: Mapping[str, Any] | None) -> int | None:
    """The drift issue a stack's drift record names, if any."""
    number = (record or {}).get("issue")
    return number if isinstance(number, int) and not isinstance(number, bool) else None


def stack_of(view: StateView, number: int) -> tuple[str, str, Mapping[str, Any]] | None:
    """The project, workspace and drift record of the stack whose drift issue is `number`."""
    for project, workspace in view.stacks():
        record = view.drift(project, workspace)
        if record is not None and issue_of(record) == number:
            return project, workspace, record
    return None


def difference(record: Mapping[str, Any]) -> str:
    """A digest of the drift a record holds (its changes and changed fields)."""
    return digest({"changes": record.get("changes"), "diffs": record.get("diffs")})


def dismissed(record: Mapping[str, Any], by: str, at: str) -> dict[str, Any]:
    """The record of a drift issue closed by hand (`by`, at `at`) with neither way out taken."""
    issue = issue_of(record)
    return {**record, "dismissed": {"issue": issue, "by": by, "at": at, "difference": difference(record)}}


def kept_of(previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a new drift record keeps of the previous one's issue and pull request: their
    numbers and a dismissal."""
    number = issue_of(previous)
    kept: dict[str, Any] = {"issue": number} if number is not None else {}
    waved = (previous or {}).get("dismissed")
    if isinstance(waved, Mapping):
        kept["dismissed"] = dict(waved)
    pull = drift_pulls.recorded(previous)
    if pull is not None:
        kept["pullRequest"] = pull
    return kept


def hand_back(host: CodeHost, repo: str, branch: str, commit: str, checked_at: str, outcome: StackOutcome,
              previous: Mapping[str, Any] | None, report: Mapping[str, Any],
              secrets: Iterable[str] = (),
              owners: Callable[[], Mapping[str, Sequence[FieldOwner]]] | None = None,
              adopt: Callable[[], Adoption] | None = None) -> dict[str, Any]:
    """Open, update or close the stack's drift issue (and with `adopt`, its drift pull request);
    what its new drift record keeps of them (`report`: the record this check writes)."""
    number = issue_of(previous)
    kept = kept_of(previous)
    waved = kept.get("dismissed")
    if outcome.error is not None or outcome.changeset is None:
        return kept
    try:
        is_open = number is not None and host.issue_state(repo, number) == "open"
        if outcome.changeset.has_changes and not is_open and isinstance(waved, Mapping) \
                and waved.get("difference") == difference(report):
            return kept  # the same drift someone closed the issue of: not raised again
        if outcome.changeset.has_changes:
            return _raise(host, repo, branch, commit, checked_at, outcome, previous, report, secrets,
                          _owners(owners, repo, outcome), _adoption(adopt, repo, outcome),
                          kept if number is not None and is_open else {})
        if number is not None and is_open:
            host.create_comment(repo, number, drift_issue.resolved(f"{outcome.project}/{outcome.stack}", commit))
            host.edit_issue(repo, number, state="closed")
        drift_pulls.close_if_open(host, repo, previous, outcome, commit)
        return {}
    except ShipmateError as exc:
        log.warning("%s: the drift issue of %s/%s could not be written: %s", repo, outcome.project,
                    outcome.workspace, exc)
        return kept


def _raise(host: CodeHost, repo: str, branch: str, commit: str, checked_at: str, outcome: StackOutcome,
           previous: Mapping[str, Any] | None, report: Mapping[str, Any], secrets: Iterable[str],
           owners: Mapping[str, Sequence[FieldOwner]], adoption: Adoption | None,
           kept: Mapping[str, Any]) -> dict[str, Any]:
    """The issue of a drifted stack written (edited when `kept` names it open, else opened),
    then its pull request; the issue names the pull request (edited again when a new one opens)."""
    hidden = tuple(secrets)
    now = drift_pulls.current(host, repo, previous) if adoption is not None else (None, None)
    shown = drift_pulls.open_number(now)

    def text(pull: int | None) -> str:
        return drift_issue.body(outcome, branch=branch, commit=commit, checked_at=checked_at, secrets=hidden,
                                owners=owners, adoption=adoption, pull=pull)

    out = {key: value for key, value in kept.items() if key != "pullRequest"}
    if "issue" in out:
        host.edit_issue(repo, int(out["issue"]), body=text(shown))
    else:
        out = {"issue": host.create_issue(repo, drift_issue.title(outcome), text(shown))}
    if adoption is None:
        pull = drift_pulls.recorded(previous)
        return {**out, **({"pullRequest": pull} if pull is not None else {})}
    made, now_open = drift_pulls.propose(host, repo, branch, commit, checked_at, outcome, adoption,
                                         int(out["issue"]), now, difference(report), hidden)
    if now_open != shown:
        host.edit_issue(repo, int(out["issue"]), body=text(now_open))
    return {**out, **made}


def _adoption(adopt: Callable[[], Adoption] | None, repo: str, outcome: StackOutcome) -> Adoption | None:
    """What of the drift maps back into the config; None when not asked or it cannot be worked out."""
    if adopt is None:
        return None
    try:
        return adopt()
    except ShipmateError as exc:
        log.warning("%s: what of %s/%s's drift maps back cannot be worked out: %s", repo, outcome.project,
                    outcome.workspace, exc)
        return None


def _owners(read: Callable[[], Mapping[str, Sequence[FieldOwner]]] | None, repo: str,
            outcome: StackOutcome) -> Mapping[str, Sequence[FieldOwner]]:
    """Who set the drifted fields, when the runtime can tell; nothing when it cannot be read."""
    if read is None:
        return {}
    try:
        return read()
    except ShipmateError as exc:
        log.warning("%s: who changed %s/%s cannot be read: %s", repo, outcome.project, outcome.workspace, exc)
        return {}
