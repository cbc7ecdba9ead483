"""The pull-request comment: every previewed stack in one Markdown body, split to fit.

    <!-- shipmate:preview key=pr-7 part=1/1 -->
    ## Shipmate preview
    **1 to create, 1 to update, 0 to delete, 3 unchanged** in 2 stacks
    ### `shop` / `dev` · workspace `dev`
    | Resource | Action |        one row per change; unchanged ones listed in a <details>
    <details><summary>…</summary> ```diff …``` </details>   one per changed resource
    <details><summary>Dependency graph</summary> ```mermaid …``` </details>   when small
    To apply this stack, comment `/apply -p shop -s dev`.

A stack that failed to generate or preview shows its error instead. Everything passes through
`bot.core.mask` first; the first line is the hidden marker the bot looks for to update its
own comment (see `split`).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace

from bot.core import mask
from bot.core.outcome import StackOutcome
from bot.core.preview.model import Action, ChangeStep, total_counts
from bot.core.render import lines, mermaid, split

ICONS = {
    Action.CREATE: "➕",
    Action.UPDATE: "✏️",
    Action.DELETE: "➖",
    Action.UNCHANGED: "✔️",
}
MERMAID_MAX_NODES = 30


def fence_for(body: Iterable[str], char: str = "`") -> str:
    """A code fence longer than any run of `char` inside the block."""
    longest = 0
    for line in body:
        for run in re.findall(re.escape(char) + "+", line):
            longest = max(longest, len(run))
    return char * max(3, longest + 1)


def code(text: str) -> str:
    """Inline code that survives backticks and table pipes in `text`."""
    text = text.replace("|", "\\|")
    ticks = max((len(r) for r in re.findall("`+", text)), default=0)
    fence = "`" * (ticks + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(text: str, info: str = "text") -> list[str]:
    """`text` as the lines of a fenced code block that nothing inside can close."""
    body = text.rstrip("\n").split("\n")
    fence = fence_for(body)
    return [fence + info, *body, fence]


def _block(out: list[str], info: str, body: Sequence[str]) -> None:
    fence = fence_for(body)
    out.append(fence + info)
    out.extend(body)
    out.append(fence)


def _step_details(step: ChangeStep) -> list[str]:
    what = f"{ICONS[step.action]} {step.action} <code>{html.escape(step.id)}</code>"
    n = lines.field_count(step)
    if step.action is Action.UPDATE and n:
        what += f" · {n} field{'s' if n != 1 else ''}"
    out = [f"<details><summary>{what}</summary>", ""]
    if step.note:
        out.extend([f"_{html.escape(step.note)}_", ""])
    body = lines.step_diff_lines(step)
    if body:
        _block(out, "diff", body)
    out.extend(["", "</details>", ""])
    return out


def _stack_section(result: StackOutcome, mermaid_max_nodes: int) -> list[str]:
    title = f"### {code(result.project)} / {code(result.stack)}"
    if result.workspace:
        title += f" · workspace {code(result.workspace)}"
    out = [title, ""]
    if result.error is not None or result.changeset is None:
        out.extend(["**❌ Preview failed**", ""])
        _block(out, "text", (result.error or "no change set was produced").split("\n"))
        out.append("")
        return out
    cs = result.changeset
    counts = cs.counts()
    changed = cs.changed_steps()
    if not cs.steps:
        out.extend(["This stack has no resources.", ""])
        return out
    if not changed:
        out.extend(["No changes: all resources are reconciled.", ""])
    else:
        out.extend([f"**{counts.summary()}**", "", "| Resource | Action |", "|---|---|"])
        out.extend(f"| {code(s.id)} | {ICONS[s.action]} {s.action} |" for s in changed)
        out.append("")
        for step in changed:
            out.extend(_step_details(step))
    unchanged = [s for s in cs.steps if s.action is Action.UNCHANGED]
    if unchanged:
        out.append(f"<details><summary>{len(unchanged)} unchanged</summary>")
        out.append("")
        for s in unchanged:
            note = f" ({html.escape(s.note)})" if s.note else ""
            out.append(f"- {code(s.id)}{note}")
        out.extend(["", "</details>", ""])
    graph = mermaid.flowchart(cs, mermaid_max_nodes) if changed else None
    if graph is not None:
        out.extend(["<details><summary>Dependency graph</summary>", ""])
        _block(out, "mermaid", graph)
        out.extend(["", "</details>", ""])
    if changed:
        out.append(f"To apply this stack, comment `/apply -p {result.project} -s {result.stack}`.")
        out.append("")
    return out


def _masked(result: StackOutcome, lits: mask.Literals) -> StackOutcome:
    cs = mask.mask_changeset(result.changeset, lits) if result.changeset is not None else None
    error = lits.text(result.error) if result.error is not None else None
    return replace(result, changeset=cs, error=error)


def body(
    stacks: Sequence[StackOutcome],
    *,
    key: str = "preview",
    meta: Mapping[str, str] | None = None,
    title: str = "Shipmate preview",
    secrets: Iterable[str] = (),
    mermaid_max_nodes: int = MERMAID_MAX_NODES,
    notices: Sequence[str] = (),
) -> str:
    """The whole comment as one Markdown string (before splitting); `notices` (lines: a
    preview-only base, locks held by others) stand right under the title."""
    lits = mask.Literals.of(secrets)
    results = [_masked(r, lits) for r in stacks]
    marker = split.make_marker("preview", {"key": key, **(meta or {})})
    out = [marker.line(), f"## {title}", "", *notices]
    done = [r.changeset for r in results if r.changeset is not None and r.error is None]
    failed = [r for r in results if r.error is not None or r.changeset is None]
    if not results:
        out.extend(["No stacks are affected by this change.", ""])
        return "\n".join(out)
    total = total_counts(done)
    noun = "stack" if len(results) == 1 else "stacks"
    line = f"**{total.summary()}** in {len(results)} {noun}"
    if failed:
        line += f"; ⚠️ {len(failed)} failed"
    out.extend([line + ".", ""])
    for r in results:
        out.extend(_stack_section(r, mermaid_max_nodes))
    applicable = [
        r
        for r in results
        if r.changeset is not None and r.error is None and r.changeset.has_changes
    ]
    if len(applicable) > 1 and not failed:
        out.append("To apply every stack above, comment `/apply`.")
        out.append("")
    out.append("To preview again, comment `/preview`.")
    return "\n".join(out)


def render(
    stacks: Sequence[StackOutcome],
    *,
    key: str = "preview",
    meta: Mapping[str, str] | None = None,
    title: str = "Shipmate preview",
    secrets: Iterable[str] = (),
    limit: int = split.GITHUB_LIMIT,
    mermaid_max_nodes: int = MERMAID_MAX_NODES,
) -> list[str]:
    """The comment bodies to post, in order, each at most `limit` characters."""
    text = body(
        stacks,
        key=key,
        meta=meta,
        title=title,
        secrets=secrets,
        mermaid_max_nodes=mermaid_max_nodes,
    )
    return split.split_markdown(text, limit)
