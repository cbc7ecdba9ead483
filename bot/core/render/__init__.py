"""Renderings of a preview for people and machines. Every entry point masks secrets first.

    from bot.core import render
    render.text(changeset, color=sys.stdout.isatty(), detail=True)   # terminal
    render.json(changeset)                                           # `kusion preview -o json`
    render.markdown(outcomes, key="pr-7")  -> list[str]              # PR comment bodies (StackOutcome)
    render.split_markdown(body, limit=65536)    -> list[str]
    render.parse_marker(comment_body)           -> Marker | None     # find our own comments

`secrets` (literal values the workspace marks secret) is accepted everywhere; Kubernetes
Secret values and runtime-reported sensitive paths are masked whether or not it is given.
Modules: `lines` (values and diff hunks as text), `terminal`, `kusion_json`, `comment`
(Markdown), `mermaid`, `split`.
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core import mask
from bot.core.outcome import StackOutcome
from bot.core.preview.model import ChangeSet
from bot.core.render import comment, kusion_json, split, terminal
from bot.core.render.split import GITHUB_LIMIT, Marker, parse_marker, split_markdown, split_parts


def text(
    changeset: ChangeSet, *, color: bool = False, detail: bool = True, secrets: Iterable[str] = ()
) -> str:
    """Kusion's terminal output: summary table, then (with `detail`) each changed diff."""
    return terminal.render(mask.mask_changeset(changeset, secrets), color=color, detail=detail)


def json(changeset: ChangeSet, *, secrets: Iterable[str] = ()) -> str:
    """`{"changeSteps": {...}, "stepKeys": [...]}` as `kusion preview -o json` prints it."""
    return kusion_json.render(mask.mask_changeset(changeset, secrets))


markdown = comment.render
markdown_body = comment.body

__all__ = [
    "GITHUB_LIMIT",
    "Marker",
    "StackOutcome",
    "comment",
    "json",
    "markdown",
    "markdown_body",
    "parse_marker",
    "split",
    "split_markdown",
    "split_parts",
    "text",
]
