"""The terminal rendering of a change set, in Kusion's shape.

    Stack: shop/dev (workspace dev)
    ID                                   Action
    v1:Namespace:shop                    Create
    apps/v1:Deployment:shop:web          Update

    1 to create, 1 to update, 0 to delete, 0 unchanged

    ID: apps/v1:Deployment:shop:web
    Plan: Update
    Diff:
      @@ spec.replicas @@
      - 2
      + 3

A replaced resource reads `Plan: Replace (-/+)`, then `Forced by: <attributes>` when the
runtime names them, and its hunks under those attributes end in `(forces replacement)`.
Colour (ANSI) only when the caller asks for it, i.e. when it writes to a terminal.
"""

from __future__ import annotations

from bot.core.preview.model import Action, ChangeSet
from bot.core.render import lines

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
COLORS = {
    Action.CREATE: "\x1b[32m",
    Action.UPDATE: "\x1b[33m",
    Action.DELETE: "\x1b[31m",
    Action.UNCHANGED: "\x1b[2m",
    Action.REPLACE: "\x1b[35m",
}
_DIFF_COLORS = {"+": "\x1b[32m", "-": "\x1b[31m", "@": "\x1b[36m"}
NO_DIFF = "All resources are reconciled. No diff found."


def render(changeset: ChangeSet, *, color: bool = False, detail: bool = True) -> str:
    """The summary table and, with `detail`, the diff of every changed resource."""

    def paint(text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if color else text

    out: list[str] = []
    name = "/".join(p for p in (changeset.project, changeset.stack) if p)
    header = f"Stack: {name}" if name else "Stack"
    if changeset.workspace:
        header += f" (workspace {changeset.workspace})"
    out.append(paint(header, BOLD))
    if not changeset.steps:
        out.append("No resources.")
        return "\n".join(out) + "\n"
    width = max(len("ID"), *(len(s.id) for s in changeset.steps))
    out.append(paint(f"{'ID':<{width}}  Action", BOLD))
    for step in changeset.steps:
        out.append(f"{step.id:<{width}}  " + paint(str(step.action), COLORS[step.action]))
    out.append("")
    if not changeset.has_changes:
        out.append(NO_DIFF)
        return "\n".join(out) + "\n"
    out.append(changeset.counts().summary())
    if detail:
        for step in changeset.changed_steps():
            out.append("")
            out.append(f"ID: {step.id}")
            out.append("Plan: " + paint(_plan(step.action), COLORS[step.action]))
            if step.action is Action.REPLACE and lines.forced_by(step):
                out.append(f"Forced by: {lines.forced_by(step)}")
            if step.note:
                out.append(f"Note: {step.note}")
            out.append("Diff:")
            body = lines.step_diff_lines(step)
            for line in body:
                painted = paint(line, _DIFF_COLORS[line[0]]) if line[:1] in _DIFF_COLORS else line
                out.append("  " + painted)
            if not body:
                out.append("  <EMPTY>")
    return "\n".join(out) + "\n"


def _plan(action: Action) -> str:
    """`Update`; a replacement with Terraform's symbol: `Replace (-/+)`."""
    return f"{action} ({action.symbol})" if action is Action.REPLACE else str(action)
