"""The pull-request comment: every previewed stack in one Markdown body, split to fit.

    <!-- shipmate:preview key=pr-7 part=1/1 -->
    ## Shipmate preview of `1a2b3c4`          the commit previewed
    **1 to create, 1 to update, 0 to delete, 3 unchanged** in 2 stacks
    ### `shop` / `dev` · workspace `dev`
    **…**                       the stack's counts, unless the line above already says them
    | Resource | Action |        one row per change; unchanged ones listed in a <details>
    <details open><summary>…</summary> ```diff …``` </details>   one per changed resource:
                                open when its diff is short (`OPEN_DIFF_LINES`), else folded
    <details><summary>Dependency graph</summary> ```mermaid …``` </details>   when small
    To apply this stack, comment `/apply -p shop -s dev`.

A Replace reads `♻️ Replace (-/+)`, names the attributes that force it in its summary, and
marks their hunks `(forces replacement)`.

A large stack (more than `LARGE_STACK` resources) gets a compact section: its counts per kind
and action in one table, only the changed resources listed (their diffs folded) and the
unchanged ones counted, not listed. When the comment would still need more than one part,
`render` leaves those diffs out (`shipmate preview` shows them) so that it fits in one; only
what is too long even so is split.

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
from bot.core.policy_code import PolicyResult
from bot.core.preview.model import Action, ChangeSet, ChangeStep, total_counts
from bot.core.render import lines, mermaid, split
from bot.core.spec import EXT_GVK, EXT_RESOURCE_TYPE, Resource

ICONS = {
    Action.CREATE: "➕",
    Action.UPDATE: "✏️",
    Action.DELETE: "➖",
    Action.UNCHANGED: "✔️",
    Action.REPLACE: "♻️",
}
# The order of the counts-per-kind columns.
ACTIONS = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.UNCHANGED)
MERMAID_MAX_NODES = 30
OPEN_DIFF_LINES = 12  # a diff of at most this many lines is shown open
LARGE_STACK = 100  # a stack with more resources gets the compact section
NOTHING_CHANGES = "No attribute changes: it is replaced as it is (tainted, or its replacement was asked for)."
LEFT_OUT = ("Diffs are left out so that this preview fits in one comment; "
            "`shipmate preview` shows them.")


def fence_for(body: Iterable[str], char: str = "`") -> str:
    """A code fence longer than any run of `char` inside the block."""
    longest = 0
    for line in body:
        for run in re.findall(re.escape(char) + "+", line):
            longest = max(longest, len(run))
    return char * max(3, longest + 1)


def clip(text: str, limit: int) -> str:
    """`text` when it fits in `limit` characters, else its start and `…` within them."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def action_cell(action: Action) -> str:
    """`✏️ Update`; a replacement with Terraform's symbol: `♻️ Replace (-/+)`."""
    text = f"{ICONS[action]} {action}"
    return f"{text} ({action.symbol})" if action is Action.REPLACE else text


def kind_of(resource: Resource) -> str:
    """What a resource is, for counting: Terraform's resource type, a Kubernetes object's
    kind (both as the Spec records them), else the Spec's resource type."""
    rtype = resource.extensions.get(EXT_RESOURCE_TYPE)
    if rtype:
        return str(rtype)
    gvk = str(resource.extensions.get(EXT_GVK) or "")
    if gvk:
        return gvk.rpartition("Kind=")[2] or gvk
    return resource.type


def _step_details(step: ChangeStep, *, fold: bool = False) -> list[str]:
    what = f"{action_cell(step.action)} <code>{html.escape(step.id)}</code>"
    n = lines.field_count(step)
    if step.action in (Action.UPDATE, Action.REPLACE) and n:
        what += f" · {n} field{'s' if n != 1 else ''}"
    forced = lines.forced_by(step) if step.action is Action.REPLACE else ""
    if forced:
        what += f" · forced by <code>{html.escape(forced)}</code>"
    body = lines.step_diff_lines(step)
    opened = " open" if not fold and len(body) <= OPEN_DIFF_LINES else ""
    out = [f"<details{opened}><summary>{what}</summary>", ""]
    if step.note:
        out.extend([f"_{html.escape(step.note)}_", ""])
    if body:
        _block(out, "diff", body)
    elif step.action is Action.REPLACE:
        out.append(f"_{NOTHING_CHANGES}_")
    out.extend(["", "</details>", ""])
    return out


def _kind_table(cs: ChangeSet) -> list[str]:
    """Counts per kind and action: one row per kind, a column per action the stack has."""
    counts: dict[str, dict[Action, int]] = {}
    for step in cs.steps:
        row = counts.setdefault(kind_of(step.resource), {})
        row[step.action] = row.get(step.action, 0) + 1
    used = [a for a in ACTIONS if any(a in row for row in counts.values())]
    out = ["| Kind | " + " | ".join(action_cell(a) for a in used) + " |",
           "|---|" + "---:|" * len(used)]
    for kind in sorted(counts):
        out.append(f"| {code(kind)} | " + " | ".join(str(counts[kind].get(a, 0)) for a in used) + " |")
    out.append("")
    return out


def _stack_section(result: StackOutcome, mermaid_max_nodes: int, *, repeat: bool = True,
                   diffs: bool = True) -> list[str]:
    """One stack; `repeat`: state its counts (not when the comment's total line already does);
    `diffs`: include the diffs of a large stack."""
    title = f"### {code(result.project)} / {code(result.stack)}"
    if result.workspace:
        title += f" · workspace {code(result.workspace)}"
    out = [title, ""]
    for warning in result.warnings:  # ignored config keys: said, not fatal
        out.extend([f"> ⚠️ {code(warning)}", ""])
    if result.error is not None or result.changeset is None:
        out.extend(["**❌ Preview failed**", ""])
        _block(out, "text", (result.error or "no change set was produced").split("\n"))
        out.append("")
        return out
    cs = result.changeset
    counts = cs.counts()
    changed = cs.changed_steps()
    large = len(cs.steps) > LARGE_STACK
    if not cs.steps:
        out.extend(["This stack has no resources.", ""])
        return out
    if repeat and (changed or large):
        out.extend([f"**{counts.summary()}**", ""])
    if large:
        out.extend(_kind_table(cs))
    if not changed:
        out.extend(["No changes: all resources are reconciled.", ""])
    else:
        out.extend(["| Resource | Action |", "|---|---|"])
        out.extend(f"| {code(s.id)} | {action_cell(s.action)} |" for s in changed)
        out.append("")
        if not large or diffs:
            for step in changed:
                out.extend(_step_details(step, fold=large))
        else:
            out.extend([LEFT_OUT, ""])
    unchanged = [s for s in cs.steps if s.action is Action.UNCHANGED]
    if unchanged and large:
        out.extend([f"{len(unchanged)} unchanged resources are counted above, not listed.", ""])
    elif unchanged:
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
    if result.policy is not None:
        out.extend(policy_lines(result.policy))
    if changed and (result.policy is None or not result.policy.blocks):
        out.append(f"To apply this stack, comment `/apply -p {result.project} -s {result.stack}`.")
        out.append("")
    return out


def stack_section(result: StackOutcome, secrets: Iterable[str] = (),
                  mermaid_max_nodes: int = MERMAID_MAX_NODES) -> list[str]:
    """One stack's section of the preview comment, on its own (a check run's output)."""
    return _stack_section(_masked(result, mask.Literals.of(secrets)), mermaid_max_nodes)


def policy_lines(result: PolicyResult) -> list[str]:
    """What the repository's policies said of one stack: failures listed (they hold the
    stack's apply back), warnings folded, or why the policies could not say."""
    out: list[str] = []
    if result.error is not None:
        out.extend(["**🛑 The policies could not be evaluated**, so this stack is held back:", ""])
        _block(out, "text", result.error.split("\n"))
        out.append("")
    elif result.failures:
        n = len(result.failures)
        out.extend([f"**🛑 {n} policy failure{'s' if n != 1 else ''}** hold{'' if n != 1 else 's'} "
                    "this stack's apply back:", ""])
        out.extend(f"- {code(f.package)}: {html.escape(f.message)}" for f in result.failures)
        out.append("")
    if result.warnings:
        n = len(result.warnings)
        out.extend([f"<details><summary>⚠️ {n} policy warning{'s' if n != 1 else ''}</summary>", ""])
        out.extend(f"- {code(f.package)}: {html.escape(f.message)}" for f in result.warnings)
        out.extend(["", "</details>", ""])
    if not out:
        out.extend(["✅ The repository's policies pass.", ""])
    return out


def _masked(result: StackOutcome, lits: mask.Literals) -> StackOutcome:
    cs = mask.mask_changeset(result.changeset, lits) if result.changeset is not None else None
    error = lits.text(result.error) if result.error is not None else None
    policy = result.policy
    if policy is not None:
        policy = PolicyResult(
            tuple(replace(f, message=lits.text(f.message)) for f in policy.failures),
            tuple(replace(f, message=lits.text(f.message)) for f in policy.warnings),
            lits.text(policy.error) if policy.error is not None else None,
        )
    return replace(result, changeset=cs, error=error, warnings=tuple(lits.text(w) for w in result.warnings),
                   policy=policy)


def body(
    stacks: Sequence[StackOutcome],
    *,
    key: str = "preview",
    meta: Mapping[str, str] | None = None,
    title: str = "Shipmate preview",
    commit: str = "",
    secrets: Iterable[str] = (),
    mermaid_max_nodes: int = MERMAID_MAX_NODES,
    notices: Sequence[str] = (),
    diffs: bool = True,
) -> str:
    """The whole comment as one Markdown string (before splitting). `commit`: the SHA
    previewed, shown in the title; `notices` (lines: a preview-only base, locks held by
    others) stand right under the title; `diffs=False` leaves out the diffs of large stacks."""
    lits = mask.Literals.of(secrets)
    results = [_masked(r, lits) for r in stacks]
    marker = split.make_marker("preview", {"key": key, **(meta or {})})
    heading = f"## {title} of {code(commit[:7])}" if commit else f"## {title}"
    out = [marker.line(), heading, "", *notices]
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
        # With one change set the total line above is its count already.
        out.extend(_stack_section(r, mermaid_max_nodes, repeat=len(done) > 1, diffs=diffs))
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
    commit: str = "",
    secrets: Iterable[str] = (),
    limit: int = split.GITHUB_LIMIT,
    mermaid_max_nodes: int = MERMAID_MAX_NODES,
    notices: Sequence[str] = (),
) -> list[str]:
    """The comment bodies to post, in order, each at most `limit` characters: one where the
    diffs of large stacks can be left out to fit (see the module docstring)."""
    def text(diffs: bool) -> str:
        return body(stacks, key=key, meta=meta, title=title, commit=commit, secrets=secrets,
                    mermaid_max_nodes=mermaid_max_nodes, notices=notices, diffs=diffs)

    parts = split.split_markdown(text(True), limit)
    if len(parts) > 1 and any(len(r.changeset.steps) > LARGE_STACK for r in stacks if r.changeset is not None):
        parts = split.split_markdown(text(False), limit)
    return parts
