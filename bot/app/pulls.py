"""Pull-request events: the preview summary on open/push, and locks on close.

- `opened`, `synchronize`, `reopened`, `ready_for_review`: read the pull request fresh (an
  event for a head that has moved on is dropped: the newer event follows it), check out the
  head commit, find the stacks the changed files touch, preview each, and keep ONE summary
  comment up to date plus the `shipmate/preview` status (the reporter's). Drafts are skipped
  unless the policy's `shipmate.yaml` sets `draftPreviews: true`. The policy is read from
  the policy branch (`bot.app.trust`); a pull request into a base the policy's `branches`
  leave out is previewed, and its comment says it will not be applied.
- Pull requests from forks are never checked out or previewed (previewing runs providers
  and modules with this repository's credentials); the summary comment says so.
- `closed`: release the locks the pull request holds and say which. A merge into a branch
  the policy applies (`branches`) of a repository that applies on merge keeps them: the push
  of the merge applies with the pull request's lock owner and frees them when it is done, so
  nobody can slip in between the merge and its apply.
"""

from __future__ import annotations

import logging

from bot.app import builder, dashboard_previews
from bot.app.policycheck import check
from bot.app.runner import StackRunner
from bot.app.services import Access, Services
from bot.app.trust import Policy, PolicySource, PolicyUnreadable
from bot.app.waiting import Freed
from bot.core.commands import Command
from bot.core.config.settings import RepoSettings
from bot.core.events import PullRequestEvent
from bot.core.outcome import RunResult, repository_failure
from bot.core.ports import PullRequestInfo
from bot.core.render import refusals
from bot.core.runplan import Operation, Request, RunPlan

log = logging.getLogger("shipmate.bot")


class PullRequests:
    """Handles `PullRequestEvent`s; `preview` also serves the `/preview` command."""

    def __init__(self, services: Services, policy: PolicySource | None = None, freed: Freed | None = None) -> None:
        self.services = services
        self.policy = policy or PolicySource(services)
        self.freed = freed  # the lock queue: a freed lock goes to the first in its line

    def handle(self, event: PullRequestEvent) -> None:
        access = self.services.access(event.repo, event.installation_id)
        if event.action == "closed":
            self.closed(access, event)
            return
        pr = access.host.pull_request(event.repo, event.number)
        if pr.state != "open":
            log.info("%s#%d: %s event for a pull request that is now %s; skipped",
                     event.repo, event.number, event.action, pr.state)
            return
        if pr.head_sha != event.head_sha:
            log.info("%s#%d: head moved from %s to %s; the newer event previews it",
                     event.repo, event.number, event.head_sha[:7], pr.head_sha[:7])
            return
        if pr.is_fork:
            self.services.reporter(access).skipped_fork(builder.pull_request_of(pr))
            return
        try:
            policy = self.policy.read(access, pr.repo)
        except PolicyUnreadable as exc:
            why = refusals.invalid_policy_preview(exc.branch, str(exc))
            self.services.reporter(access).finished(
                RunPlan(Operation.PREVIEW, (), request=builder.pull_request_of(pr), refusal=why),
                RunResult((repository_failure(why),)))
            return
        if pr.draft and not policy.settings.draft_previews:
            log.info("%s#%d is a draft; previews of drafts are off (draftPreviews)", pr.repo, pr.number)
            return
        self.preview(access, pr, policy)

    def preview(self, access: Access, pr: PullRequestInfo, policy: Policy, command: Command | None = None,
                *, actor: str = "", comment_id: int | None = None) -> RunResult:
        """Preview the stacks the pull request changes (narrowed by `command`) and report."""
        tree = self.services.tree(access, pr.repo, pr.head_sha)
        plan = builder.preview(pr, tree, access.host.changed_files(pr.repo, pr.number), policy, command,
                               actor=actor, comment_id=comment_id)
        ops = self.services.ops(access, pr.repo, policy.settings)
        result = StackRunner(ops, tree, policy.settings, self.services.reporter(access),
                             policies=check(self.services.policy_engine, policy.policies, pr)).run(plan)
        dashboard_previews.record(ops.backend, self.services.clock, pr.number, pr.head_sha, result,
                                  lambda: len(access.host.reviews(pr.repo, pr.number)))
        return result

    def closed(self, access: Access, event: PullRequestEvent) -> None:
        try:
            policy = self.policy.read(access, event.repo)
        except PolicyUnreadable as exc:
            log.warning("%s: shipmate.yaml on %s is invalid (%s); using the defaults to free locks",
                        event.repo, exc.branch, exc)
            policy = Policy(RepoSettings(), event.default_branch, event.default_branch)
        trusted = policy.settings
        if event.merged and policy.applies_to(event.base_ref) and trusted.apply_on_merge:
            log.info("%s#%d merged: the merge's apply frees its locks", event.repo, event.number)
            return
        backend = access.backends(event.repo, trusted.backend.branch)
        freed = backend.release_pull_request_locks(event.number)
        left = backend.leave_queues(event.number)
        if freed:
            reason = "Pull request merged" if event.merged else "Pull request closed"
            self.services.reporter(access).unlocked(Request(event.repo, event.number), freed, reason)
        if self.freed is not None and (freed or left):
            self.freed(access, event.repo, backend, [*(lock.key for lock in freed), *left])
