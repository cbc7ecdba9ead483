"""Polling for repositories without a webhook: what changed since the last look, as typed
events, the same `bot.core.events` values the webhook intake parses GitHub's payloads into.

`poll_repository` compares the default branch's head and every open pull request's head
with what was seen last time and returns deliveries for the differences: a `PushEvent` for a
moved default branch, a `PullRequestEvent` `opened`/`synchronize` for a new or moved head,
`closed` for a pull request that is no longer open. They go into the same queue as real
webhooks and run through the same router. Delivery IDs are derived from what they describe
(repository, pull request, head SHA), so the queue's de-duplication drops a change seen twice.

The first look at a repository records the default branch without a push (starting the bot
must not apply the world) but previews the open pull requests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.core.events import Delivery, PullRequestEvent, PushEvent, delivery_of, is_fork
from bot.core.ports import CodeHost, PullRequestInfo


@dataclass(frozen=True)
class PollResult:
    deliveries: tuple[Delivery, ...]
    seen: dict[str, str]  # what to remember for the next poll


def _id(*parts: object) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return f"poll-{digest[:40]}"


def pull_request_event(
    delivery_id: str, repo: str, default_branch: str, pr: PullRequestInfo, action: str
) -> PullRequestEvent:
    """The event for `pr` as read from the code host (a poll knows no App installation)."""
    head_repo = pr.head_repo or None
    return PullRequestEvent(
        delivery_id=delivery_id,
        action=action,
        repo=repo,
        default_branch=default_branch,
        number=pr.number,
        title=pr.title,
        author=pr.author,
        sender=pr.author,
        draft=pr.draft,
        merged=pr.merged,
        merge_commit_sha=pr.merge_commit_sha,
        head_sha=pr.head_sha,
        head_ref=pr.head_ref,
        head_repo=head_repo,
        base_ref=pr.base_ref,
        base_sha=pr.base_sha,
        is_fork=is_fork(head_repo, repo),
        installation_id=None,
    )


def push_event(delivery_id: str, repo: str, branch: str, before: str, after: str) -> PushEvent:
    """A push of `branch` from `before` to `after`, without changed paths (the bot diffs the
    trees itself)."""
    return PushEvent(
        delivery_id=delivery_id,
        repo=repo,
        default_branch=branch,
        ref=f"refs/heads/{branch}",
        before=before,
        after=after,
        created=False,
        deleted=False,
        forced=False,
        pusher="",
        sender="",
        head_commit_message="",
        changed_paths=(),
        installation_id=None,
    )


def poll_repository(host: CodeHost, repo: str, seen: Mapping[str, str], now: datetime) -> PollResult:
    """The deliveries for what changed in `repo` since `seen`, and the new `seen`."""
    default = host.default_branch(repo)
    head = host.branch_head(repo, default)
    out: dict[str, str] = {f"branch:{default}": head}
    deliveries: list[Delivery] = []
    before = seen.get(f"branch:{default}")
    if before is not None and before != head:
        push = push_event(_id(repo, "push", default, before, head), repo, default, before, head)
        deliveries.append(delivery_of(push, now))
    open_prs = sorted(host.open_pull_requests(repo), key=lambda p: p.number)
    for pr in open_prs:
        key = f"pr:{pr.number}"
        out[key] = pr.head_sha
        if seen.get(key) == pr.head_sha:
            continue
        action = "synchronize" if key in seen else "opened"
        event = pull_request_event(_id(repo, "pull_request", pr.number, pr.head_sha), repo, default, pr, action)
        deliveries.append(delivery_of(event, now))
    still_open = {pr.number for pr in open_prs}
    for key in sorted(seen):
        if not key.startswith("pr:") or not key[3:].isdigit() or int(key[3:]) in still_open:
            continue
        pr = host.pull_request(repo, int(key[3:]))
        if pr.state == "open":  # opened again between the two reads: look next time
            out[key] = seen[key]
            continue
        closed = pull_request_event(_id(repo, "closed", pr.number, pr.head_sha, pr.merged), repo, default, pr, "closed")
        deliveries.append(delivery_of(closed, now))
    return PollResult(tuple(deliveries), out)
