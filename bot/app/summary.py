"""The bot's own comments and commit statuses on a pull request.

Each comment the bot keeps up to date starts with a hidden marker
(`<!-- shipmate:<kind> key=<key> part=i/n -->`, see `bot.core.render.split`). `upsert`
finds the bot's comments with that kind and key, edits them in place (only when the text
changed), creates the parts that are new and deletes the parts no longer needed, so a pull
request carries ONE preview summary however often it is pushed to, and GitHub's write
budget is spent only on real changes. Results of commands (`/apply`, merges) are history
and are posted as new comments with `post`.

Status and reaction writes never fail a job: a missing status is shown as missing, the work
itself is done.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.core.errors import ShipmateError
from bot.core.ports import CodeHost, CommentInfo
from bot.core.render import split, statuses

log = logging.getLogger("shipmate.bot")

def marked(comments: Sequence[CommentInfo], author: str, kind: str, key: str) -> list[CommentInfo]:
    """`author`'s comments carrying a `kind` marker with `key`, in part order."""
    found: list[tuple[int, int, CommentInfo]] = []
    for comment in comments:
        if comment.author.lower() != author.lower():
            continue
        marker = split.parse_marker(comment.body)
        if marker is None or marker.kind != kind or marker.get("key") != key:
            continue
        part = marker.get("part", "1/1").partition("/")[0]
        found.append((int(part) if part.isdigit() else 0, comment.id, comment))
    return [c for _, _, c in sorted(found, key=lambda item: (item[0], item[1]))]


def upsert(host: CodeHost, repo: str, number: int, kind: str, key: str, bodies: Sequence[str]) -> list[int]:
    """Make the bot's `kind`/`key` comments on `number` read `bodies`; returns their IDs."""
    existing = marked(host.comments(repo, number), host.bot_login(), kind, key)
    ids: list[int] = []
    for index, body in enumerate(bodies):
        if index < len(existing):
            current = existing[index]
            if current.body != body:
                host.edit_comment(repo, current.id, body)
            ids.append(current.id)
        else:
            ids.append(host.create_comment(repo, number, body))
    for extra in existing[len(bodies):]:
        host.delete_comment(repo, extra.id)
    return ids


def post(host: CodeHost, repo: str, number: int, kind: str, key: str, body: str) -> list[int]:
    """Post `body` (a Markdown text without marker) as new comment(s), split to fit."""
    marker = split.make_marker(kind, {"key": key})
    return [host.create_comment(repo, number, part) for part in split.split_markdown(f"{marker.line()}\n{body}")]


def status(
    host: CodeHost, repo: str, sha: str, context: str, state: str, description: str, target_url: str = ""
) -> None:
    """Set a commit status (`target_url`: where its details are); a failure is logged, not raised."""
    text = description if len(description) <= statuses.DESCRIPTION_LIMIT else description[:137] + "..."
    try:
        host.set_status(repo, sha, context, state, text, target_url)
    except ShipmateError as exc:
        log.warning("could not set status %s on %s@%s: %s", context, repo, sha[:7], exc)


def react(host: CodeHost, repo: str, comment_id: int, content: str) -> None:
    """Add a reaction to a comment; a failure is logged, not raised."""
    try:
        host.react(repo, comment_id, content)
    except ShipmateError as exc:
        log.warning("could not react %s to comment %s on %s: %s", content, comment_id, repo, exc)
