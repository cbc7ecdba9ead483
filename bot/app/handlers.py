"""The bot's handlers on the event router: pull requests, comment commands, pushes.

    router = EventRouter()
    install(router, services)      # what `bot.wiring.build_router` does

| event | handler |
|---|---|
| `pull_request` opened / synchronize / reopened / ready_for_review / closed | `bot.app.pulls.PullRequests` |
| `issue_comment` created | `bot.app.comments.Comments` |
| `push` to a branch the policy applies | `bot.app.merges.Merges` |
| `SweepLocks` (the scheduler's) | `bot.app.locks.sweep_locks` |
| `CheckDrift` (the scheduler's) | `bot.app.drift.check_drift` |

All three read the repository's policy through one `bot.app.trust.PolicySource`: the
server's policy branch (`SHIPMATE_POLICY_BRANCH`) or each repository's default branch.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.app.comments import Comments
from bot.app.drift import check_drift, issue_closed
from bot.app.locks import sweep_locks
from bot.app.merges import Merges
from bot.app.pulls import PullRequests
from bot.app.router import EventRouter
from bot.app.services import Services
from bot.app.trust import PolicySource
from bot.core.events import (
    CheckDrift,
    CheckRunAction,
    IssueClosed,
    IssueCommentEvent,
    PullRequestEvent,
    PushEvent,
    SweepLocks,
)


@dataclass(frozen=True)
class Handlers:
    pulls: PullRequests
    comments: Comments
    merges: Merges


def install(router: EventRouter, services: Services, policy_branch: str | None = None) -> Handlers:
    """Register the pull-request workflow on `router`; `policy_branch` is where every
    repository's `shipmate.yaml` is read from (None: each repository's default branch)."""
    policy = PolicySource(services, policy_branch)
    comments = Comments(services, policy)
    handlers = Handlers(PullRequests(services, policy, comments.freed), comments,
                        Merges(services, policy, comments.freed))
    router.on(PullRequestEvent, handlers.pulls.handle)
    router.on(IssueCommentEvent, handlers.comments.handle)
    router.on(CheckRunAction, handlers.comments.click)
    router.on(PushEvent, handlers.merges.handle)
    router.on(SweepLocks, lambda event: _discard(sweep_locks(services, event.repo, event.installation_id,
                                                              freed=comments.freed)))
    router.on(CheckDrift, lambda event: _discard(check_drift(services, event.repo, event.installation_id)))
    router.on(IssueClosed, lambda event: issue_closed(services, event))
    return handlers


def _discard(result: object) -> None:
    """The scheduled jobs report on the code host themselves; their summary is not needed."""
