"""The drift pull request: the config of a drifted stack made to say what is live.

    <!-- shipmate:drift-pull key=shop/dev -->
    ## Adopt what is live in `shop` / `dev`
    The drift check of `main` at `1a2b3c4` (...) found the live objects differ from the
    config (#12). Merging this pull request writes the live values into the config:
    | Resource | Field | Live value | Written to |
    ### Not written back
    - `<resource>` `<field>`: <reason>

Pure (golden file `tests/core/golden/drift/pull.md`); every value is masked with the stack's
secrets and cut at `MAX_VALUE` characters.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from bot.core.adoption import AdoptedField, Adoption
from bot.core.mask import mask_text
from bot.core.render import comment, split

KIND = "drift-pull"
MAX_VALUE = 80
MAX_ROWS = 100


def branch(project: str, workspace: str) -> str:
    """The pull request's branch: Shipmate's own, one per stack."""
    return f"shipmate/drift/{project}/{workspace}"


def title(project: str, stack: str, workspace: str) -> str:
    return f"Adopt what is live in {project}/{stack} ({workspace})"


def message(project: str, stack: str, commit: str) -> str:
    """The commit message of each file written."""
    return f"Adopt what is live in {project}/{stack}, as the drift check of {commit[:7]} found it"


def body(adoption: Adoption, *, project: str, stack: str, workspace: str, branch_name: str, commit: str,
         checked_at: str, issue: int | None, secrets: Iterable[str] = ()) -> str:
    """The pull request's Markdown, marker first."""
    hidden = tuple(secrets)
    marker = split.make_marker(KIND, {"key": f"{project}/{workspace}"})
    about = f" (#{issue})" if issue is not None else ""
    out = [marker.line(part="1/1"),
           f"## Adopt what is live in {comment.code(project)} / {comment.code(stack)}", "",
           f"The drift check of {comment.code(branch_name)} at {comment.code(commit[:7])} ({checked_at}) found the "
           f"live objects differ from the config{about}. Merging this pull request makes the config say what is "
           "live, for the fields that map back:", "",
           "| Resource | Field | Live value | Written to |", "|---|---|---|---|"]
    mapped = adoption.mapped
    for f in mapped[:MAX_ROWS]:
        value = "(removed)" if f.removed else comment.code(_shown(f.value, hidden))
        out.append(f"| {comment.code(f.resource)} | {comment.code(f.path)} | {value} | "
                   f"{comment.code(f'{f.file}:{f.line}')} |")
    if len(mapped) > MAX_ROWS:
        out.append(f"| … | {len(mapped) - MAX_ROWS} more | | |")
    out.append("")
    out.extend(left_lines(adoption.left, hidden))
    out.extend(["Shipmate previews this pull request like any other: the fields above show no change. "
                "The next drift check after it is merged closes the drift issue."])
    return mask_text("\n".join(out).rstrip("\n") + "\n", hidden)


def left_lines(left: Iterable[AdoptedField], secrets: Iterable[str] = ()) -> list[str]:
    """`### Not written back`: each field that does not map back, with why; nothing when all do."""
    rows = [f"- {comment.code(f.resource)}{' ' + comment.code(f.path) if f.path else ''}: {f.reason}"
            for f in left]
    if not rows:
        return []
    shown = rows[:MAX_ROWS] + ([f"- … {len(rows) - MAX_ROWS} more"] if len(rows) > MAX_ROWS else [])
    return ["### Not written back", "",
            "Applying the config puts these back as it says; to keep them, change the config by hand:", "",
            *shown, ""]


def closed(project: str, stack: str, commit: str, why: str) -> str:
    """The comment closing a drift pull request that is no longer needed."""
    return f"The drift check at `{commit[:7]}` found {why} for `{project}/{stack}`: closing."


def _shown(value: Any, secrets: tuple[str, ...]) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return comment.clip(mask_text(text, secrets), MAX_VALUE)
