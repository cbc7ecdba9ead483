"""The drift issue: one per drifted stack, opened (or updated) by the scheduled drift check.

    <!-- shipmate:drift key=shop/dev -->
    ## Drift in `shop` / `dev`
    The drift check of `main` at `1a2b3c4` (2026-12-05T06:00:00Z) found the live objects differ
    from what the config says: <the stack's preview section>
    ### Two ways out
    - comment `/apply` here to put the live objects back as the config says;
    - or merge #13, which writes the live values of 2 fields into the config.

Pure (golden file `tests/core/golden/drift/issue.md`); texts are masked with the stack's secrets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bot.core import fieldowners
from bot.core.adoption import Adoption
from bot.core.fieldowners import FieldOwner
from bot.core.outcome import StackOutcome
from bot.core.render import comment, drift_pull, split

KIND = "drift"


def key(project: str, workspace: str) -> str:
    return f"{project}/{workspace}"


def title(outcome: StackOutcome) -> str:
    return f"Drift in {outcome.project}/{outcome.stack} ({outcome.workspace})"


def body(outcome: StackOutcome, *, branch: str, commit: str, checked_at: str, secrets: Iterable[str] = (),
         owners: Mapping[str, Sequence[FieldOwner]] | None = None, adoption: Adoption | None = None,
         pull: int | None = None) -> str:
    """The issue's Markdown, marker first; `owners`: who set the live fields, by resource ID
    (where the runtime can tell), shown for each field that drifted; `pull`: the pull request
    writing what maps back of `adoption` into the config."""
    marker = split.make_marker(KIND, {"key": key(outcome.project, outcome.workspace)})
    out = [marker.line(part="1/1"),
           f"## Drift in {comment.code(outcome.project)} / {comment.code(outcome.stack)}", "",
           f"The drift check of {comment.code(branch)} at {comment.code(commit[:7])} ({checked_at}) found the "
           "live objects differ from what the config says. This is what applying the config would do:", ""]
    section = comment.stack_section(outcome, secrets)
    out.extend(line for line in section[2:] if not line.startswith("To apply this stack, comment"))
    out.extend(_who(outcome, owners or {}))
    out.extend(["### Two ways out", "",
                f"- comment `/apply` here to put the live objects back as the config on {comment.code(branch)} says "
                "(the same permission as `/apply` on a pull request);",
                _adopt_line(adoption, pull), ""])
    if adoption is not None and pull is None:
        out.extend(drift_pull.left_lines(adoption.left, secrets))
    out.append("The next drift check updates this issue, and closes it once the stack is back in line.")
    return "\n".join(out).rstrip("\n") + "\n"


def _adopt_line(adoption: Adoption | None, pull: int | None) -> str:
    if adoption is None or (pull is None and adoption.mapped):
        return "- or change the config to what is live, with a pull request."
    if pull is None:
        return "- or change the config to what is live, with a pull request: no field of this drift maps back " \
               "into the config by itself (why, below)."
    count = len(adoption.mapped)
    rest = len(adoption.left)
    tail = f"; {rest} other {'field does' if rest == 1 else 'fields do'} not map back (listed there)" if rest else ""
    return f"- or merge #{pull}, which writes the live {'value' if count == 1 else 'values'} of {count} " \
           f"{'field' if count == 1 else 'fields'} into the config{tail}."


def _who(outcome: StackOutcome, owners: Mapping[str, Sequence[FieldOwner]]) -> list[str]:
    """`### Who changed it`: each drifted field's managers, latest first (Kubernetes' managedFields)."""
    lines: list[str] = []
    steps = outcome.changeset.changed_steps() if outcome.changeset is not None else ()
    for step in steps:
        claims = owners.get(step.id)
        if not claims:
            continue
        for diff in step.diffs:
            found = fieldowners.owners_of(claims, diff.dotted)
            if found:
                who = ", ".join(f"{comment.code(o.manager)} ({o.operation}{', ' + o.time if o.time else ''})"
                                for o in found[:3])
                lines.append(f"- {comment.code(step.id)} {comment.code(diff.dotted)}: {who}")
    if not lines:
        return []
    return ["### Who changed it", "", "The managers of the live fields that differ, latest first:", "", *lines, ""]


def resolved(outcome_name: str, commit: str) -> str:
    """The comment closing a drift issue whose stack no longer drifts."""
    return f"The drift check at `{commit[:7]}` found `{outcome_name}` back in line with its config: closing."
