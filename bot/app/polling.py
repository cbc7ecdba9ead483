"""Polling for repositories without a webhook: what changed since the last look, as
synthetic deliveries shaped like GitHub's webhooks.

`poll_repository` compares the default branch's head and every open pull request's head
with what was seen last time and returns deliveries for the differences: `push` for a moved
default branch, `pull_request` `opened`/`synchronize` for a new or moved head, `closed` for
a pull request that is no longer open. They go into the same queue as real webhooks and run
through the same router. Delivery IDs are derived from what they describe (repository,
pull request, head SHA), so the queue's de-duplication drops a change seen twice.

The first look at a repository records the default branch without a push (starting the bot
must not apply the world) but previews the open pull requests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.core.events import Delivery, make_delivery
from bot.core.ports import CodeHost, PullRequestInfo


@dataclass(frozen=True)
class PollResult:
    deliveries: tuple[Delivery, ...]
    seen: dict[str, str]  # what to remember for the next poll


def _id(*parts: object) -> str:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return f"poll-{digest[:40]}"


def _repository(repo: str, default_branch: str) -> dict[str, Any]:
    owner, _, name = repo.partition("/")
    return {"full_name": repo, "name": name, "owner": {"login": owner}, "default_branch": default_branch}


def pull_request_payload(repo: str, default_branch: str, pr: PullRequestInfo, action: str) -> dict[str, Any]:
    """A `pull_request` webhook payload for `pr` (the fields Shipmate and most tools read)."""
    return {
        "action": action,
        "number": pr.number,
        "pull_request": {
            "number": pr.number,
            "title": pr.title,
            "state": pr.state,
            "draft": pr.draft,
            "merged": pr.merged,
            "merge_commit_sha": pr.merge_commit_sha,
            "html_url": pr.html_url,
            "user": {"login": pr.author},
            "head": {"sha": pr.head_sha, "ref": pr.head_ref,
                     "repo": {"full_name": pr.head_repo} if pr.head_repo else None},
            "base": {"sha": pr.base_sha, "ref": pr.base_ref, "repo": {"full_name": repo}},
        },
        "repository": _repository(repo, default_branch),
        "sender": {"login": pr.author},
    }


def push_payload(repo: str, branch: str, before: str, after: str) -> dict[str, Any]:
    """A `push` webhook payload without its commit list (the bot diffs the trees itself)."""
    return {
        "ref": f"refs/heads/{branch}",
        "before": before,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "commits": [],
        "head_commit": None,
        "pusher": {"name": ""},
        "repository": _repository(repo, branch),
        "sender": {"login": ""},
    }


def _delivery(delivery_id: str, event: str, payload: Mapping[str, Any], now: datetime) -> Delivery:
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return make_delivery(delivery_id, event, body, now)


def poll_repository(host: CodeHost, repo: str, seen: Mapping[str, str], now: datetime) -> PollResult:
    """The deliveries for what changed in `repo` since `seen`, and the new `seen`."""
    default = host.default_branch(repo)
    head = host.branch_head(repo, default)
    out: dict[str, str] = {f"branch:{default}": head}
    deliveries: list[Delivery] = []
    before = seen.get(f"branch:{default}")
    if before is not None and before != head:
        deliveries.append(
            _delivery(_id(repo, "push", default, before, head), "push", push_payload(repo, default, before, head), now)
        )
    open_prs = sorted(host.open_pull_requests(repo), key=lambda p: p.number)
    for pr in open_prs:
        key = f"pr:{pr.number}"
        out[key] = pr.head_sha
        if seen.get(key) == pr.head_sha:
            continue
        action = "synchronize" if key in seen else "opened"
        deliveries.append(_delivery(
            _id(repo, "pull_request", pr.number, pr.head_sha), "pull_request",
            pull_request_payload(repo, default, pr, action), now,
        ))
    still_open = {pr.number for pr in open_prs}
    for key in sorted(seen):
        if not key.startswith("pr:") or not key[3:].isdigit() or int(key[3:]) in still_open:
            continue
        pr = host.pull_request(repo, int(key[3:]))
        if pr.state == "open":  # opened again between the two reads: look next time
            out[key] = seen[key]
            continue
        deliveries.append(_delivery(
            _id(repo, "closed", pr.number, pr.head_sha, pr.merged), "pull_request",
            pull_request_payload(repo, default, pr, "closed"), now,
        ))
    return PollResult(tuple(deliveries), out)
