"""The drift pull request: one per drifted stack whose live values map back into its config.

The drift check (`bot.app.drift_issues.hand_back`) asks for it once the stack's drift issue is
written, with what `bot.core.writeback` found maps back. The pull request comes from Shipmate's
own branch `shipmate/drift/<project>/<workspace>` (`bot.core.render.drift_pull.branch`), reset
to the checked commit of the default branch with the edited files on top, and says which
fields it writes and which it cannot (with why). Its number, the difference it was made for and
a digest of the files it writes are kept in the stack's drift record (`pullRequest: {number,
difference, files}`):

- the same difference and the pull request still open: left as it is, unless the files it would
  write are no longer the same (the default branch changed them since): then the branch is
  written again on top of the checked commit;
- another difference: the branch is written again and the description edited (a closed or
  merged one is replaced by a new pull request);
- closed without merging by someone, for the same difference: not opened again (as a dismissed
  drift issue); another difference opens a new one;
- nothing maps back any more, or the stack is back in line: an open one is closed with a
  comment. Its branch is deleted once Shipmate closed it, or once the stack is back in line
  after it was merged (a pull request someone closed keeps its branch, to be looked at).

Merging it is an ordinary merge of a config change: Shipmate previews the pull request when it
opens and applies the merge like any other (the adopted fields show no change); the next drift
check finds the stack in line and closes the issue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.adoption import Adoption
from bot.core.errors import ShipmateError
from bot.core.fingerprint import digest
from bot.core.outcome import StackOutcome
from bot.core.ports import CodeHost, PullRequestInfo
from bot.core.render import drift_pull

log = logging.getLogger("shipmate.drift")


def recorded(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The drift pull request a drift record names (`number`, `difference`), if any."""
    found = (record or {}).get("pullRequest")
    if isinstance(found, Mapping) and isinstance(found.get("number"), int) and not isinstance(found.get("number"), bool):
        return {"number": int(found["number"]), "difference": str(found.get("difference") or ""),
                "files": str(found.get("files") or "")}
    return None


Current = tuple[dict[str, Any] | None, PullRequestInfo | None]


def current(host: CodeHost, repo: str, record: Mapping[str, Any] | None) -> Current:
    """The drift pull request a drift record names and what the code host says of it now
    (read once a check; (None, None) when there is none)."""
    found = recorded(record)
    return found, (_read(host, repo, found["number"]) if found is not None else None)


def open_number(now: Current) -> int | None:
    """The number of the recorded drift pull request while it is open."""
    found, info = now
    return found["number"] if found is not None and info is not None and info.state == "open" else None


def propose(host: CodeHost, repo: str, branch: str, commit: str, checked_at: str, outcome: StackOutcome,
            adoption: Adoption, issue: int | None, now: Current, difference: str,
            secrets: Iterable[str] = ()) -> tuple[dict[str, Any], int | None]:
    """Open, update or close the stack's drift pull request (`now`: the recorded one, see
    `current`) for `adoption`; what the drift record keeps of it (`{"pullRequest": ...}` or
    nothing), and its number while it is open."""
    found, info = now
    is_open = open_number(now) is not None
    if not adoption.mapped:
        if found is not None and is_open:
            close(host, repo, found["number"], outcome, commit, "that no field of the drift maps back any more")
        return {}, None
    written = digest(dict(adoption.files))
    if found is not None and info is not None and found["difference"] == difference \
            and ((is_open and found["files"] == written) or (not is_open and not info.merged)):
        # up to date, or closed by someone for this very drift
        return {"pullRequest": found}, found["number"] if is_open else None
    name = drift_pull.branch(outcome.project, outcome.workspace)
    host.push_files(repo, name, commit, adoption.files, drift_pull.message(outcome.project, outcome.stack, commit))
    text = drift_pull.body(adoption, project=outcome.project, stack=outcome.stack, workspace=outcome.workspace,
                           branch_name=branch, commit=commit, checked_at=checked_at, issue=issue, secrets=secrets)
    if found is not None and is_open:
        host.edit_issue(repo, found["number"], body=text)
        number = found["number"]
    else:
        number = host.create_pull_request(repo, name, branch,
                                          drift_pull.title(outcome.project, outcome.stack, outcome.workspace), text)
    log.info("%s: drift pull request #%d of %s/%s writes %d fields", repo, number, outcome.project,
             outcome.workspace, len(adoption.mapped))
    return {"pullRequest": {"number": number, "difference": difference, "files": written}}, number


def close(host: CodeHost, repo: str, number: int, outcome: StackOutcome, commit: str, why: str) -> None:
    """Close drift pull request `number` with a comment saying `why`, and delete its branch."""
    host.create_comment(repo, number, drift_pull.closed(outcome.project, outcome.stack, commit, why))
    host.edit_issue(repo, number, state="closed")
    host.delete_branch(repo, drift_pull.branch(outcome.project, outcome.workspace))


def close_if_open(host: CodeHost, repo: str, record: Mapping[str, Any] | None, outcome: StackOutcome,
                  commit: str) -> None:
    """The stack is back in line: its drift pull request, if open, is closed; if it was
    merged, its branch is deleted."""
    found, info = now = current(host, repo, record)
    if found is not None and open_number(now) is not None:
        close(host, repo, found["number"], outcome, commit, "the stack back in line with its config")
    elif info is not None and info.merged:
        host.delete_branch(repo, drift_pull.branch(outcome.project, outcome.workspace))


def _read(host: CodeHost, repo: str, number: int) -> PullRequestInfo | None:
    try:
        return host.pull_request(repo, number)
    except ShipmateError as exc:
        log.warning("%s: drift pull request #%d cannot be read: %s", repo, number, exc)
        return None
