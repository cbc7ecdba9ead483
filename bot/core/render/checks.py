"""The check runs a GitHub App installation gets: one per stack, its preview as the output and
an **Apply** button.

Pure functions of a stack's outcome (golden files in `tests/core/golden/checks/`):

| run | status | conclusion | button |
|---|---|---|---|
| preview with changes, policies pass | completed | neutral | Apply |
| preview without changes | completed | success | |
| preview failed, or policies fail | completed | failure | |
| apply under way | in_progress | | |
| apply done | completed | success / failure | |

The check run's name is `shipmate/<project>/<stack>` and its `external_id` `<project>/<stack>`:
a click on **Apply** (GitHub's `check_run` webhook, action `requested_action`, identifier
`apply`) is read back as `/apply -p <project> -s <stack>` by the person who clicked
(`click_command`), so it goes through every rule a comment does.

GitHub's limits: an action's label is at most 20 characters, its description 40 and its
identifier 20; an output's title 255 and its summary 65,535 (a longer summary is cut at a line
and says where the whole preview is).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.outcome import StackOutcome
from bot.core.render import comment, results

APPLY_ACTION = "apply"
SUMMARY_LIMIT = 65_535
TITLE_LIMIT = 255
_CUT = "\n\n… the rest of this preview is in the pull request's preview comment."


@dataclass(frozen=True, slots=True)
class CheckAction:
    """A button on a check run: what it says and the identifier its click sends back."""

    label: str
    description: str
    identifier: str


@dataclass(frozen=True, slots=True)
class CheckRunText:
    """One check run as GitHub shows it."""

    name: str
    external_id: str
    status: str  # queued | in_progress | completed
    conclusion: str | None  # success | neutral | failure (completed runs)
    title: str
    summary: str
    actions: tuple[CheckAction, ...] = ()
    details_url: str = ""


def check_name(project: str, stack: str) -> str:
    return f"shipmate/{project}/{stack}"


def external_id(project: str, stack: str) -> str:
    return f"{project}/{stack}"


def click_command(identifier: str, external: str) -> str | None:
    """The comment a click on a button of the check run `external` stands for, or None when
    the button or the check run is not one Shipmate made (`apply` on `<project>/<stack>`)."""
    project, _, stack = external.partition("/")
    if identifier != APPLY_ACTION or not project or not stack or "/" in stack:
        return None
    if any(c.isspace() or c in "\"'`" for c in external):
        return None
    return f"/apply -p {project} -s {stack}"


def _summary(lines: Iterable[str]) -> str:
    text = "\n".join(lines).rstrip("\n") + "\n"
    if len(text) <= SUMMARY_LIMIT:
        return text
    cut = text[: SUMMARY_LIMIT - len(_CUT)]
    return cut[: cut.rfind("\n") if "\n" in cut else len(cut)] + _CUT


def _title(text: str) -> str:
    return comment.clip(text, TITLE_LIMIT)


def preview_run(outcome: StackOutcome, *, secrets: Iterable[str] = (), details_url: str = "") -> CheckRunText:
    """The check run of one stack's preview: its section of the preview comment, and Apply
    when it has changes the policies let through."""
    name, ext = check_name(outcome.project, outcome.stack), external_id(outcome.project, outcome.stack)
    section = comment.stack_section(outcome, secrets)
    cs = outcome.changeset
    if outcome.error is not None or cs is None:
        return CheckRunText(name, ext, "completed", "failure", "Preview failed", _summary(section),
                            details_url=details_url)
    counts = cs.counts().summary()
    if outcome.policy is not None and outcome.policy.blocks:
        return CheckRunText(name, ext, "completed", "failure", _title(f"{counts}; the policies hold it back"),
                            _summary(section), details_url=details_url)
    if not cs.has_changes:
        return CheckRunText(name, ext, "completed", "success", "No changes", _summary(section),
                            details_url=details_url)
    description = f"Apply {ext} as previewed"
    button = CheckAction("Apply", description if len(description) <= 40 else "Apply this stack as previewed",
                         APPLY_ACTION)
    return CheckRunText(name, ext, "completed", "neutral", _title(counts), _summary(section), (button,),
                        details_url=details_url)


def applying_run(project: str, stack: str, actor: str, sha: str) -> CheckRunText:
    """The check run of a stack's apply while it runs."""
    return CheckRunText(check_name(project, stack), external_id(project, stack), "in_progress", None,
                        _title(f"Applying for @{actor}"),
                        f"@{actor} asked to apply commit `{sha[:7]}`; this run completes when the apply ends.\n")


def applied_run(outcome: StackOutcome, *, actor: str, sha: str, secrets: Iterable[str] = (),
                state_branch: str = "", details_url: str = "") -> CheckRunText:
    """The check run of a stack's apply once it ended: the apply's result for that stack."""
    text = results.operation_comment([outcome], title="Shipmate apply", lead=results.apply_lead(actor, sha),
                                     secrets=secrets, state_branch=state_branch)
    verdict = results.result_cell(outcome)
    return CheckRunText(check_name(outcome.project, outcome.stack), external_id(outcome.project, outcome.stack),
                        "completed", "success" if outcome.ok else "failure", _title(f"Apply {verdict[2:]}"),
                        _summary(text.splitlines()), details_url=details_url)
