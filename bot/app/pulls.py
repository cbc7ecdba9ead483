"""Pull-request events: the preview summary on open/push, and locks on close.

- `opened`, `synchronize`, `reopened`, `ready_for_review`: read the pull request fresh (an
  event for a head that has moved on is dropped: the newer event follows it), check out the
  head commit, find the stacks the changed files touch, preview each, and keep ONE summary
  comment up to date (`bot.app.summary.upsert`) plus the `shipmate/preview` status. Drafts
  are skipped unless the policy's `shipmate.yaml` sets `draftPreviews: true`. The policy is
  read from the policy branch (`bot.app.trust`); a pull request into a base the policy's
  `branches` leave out is previewed, and its comment says it will not be applied.
- Pull requests from forks are never checked out or previewed (previewing runs providers
  and modules with this repository's credentials); the summary comment says so.
- `closed`: release the locks the pull request holds and say which. A merge into a branch
  the policy applies (`branches`) of a repository that applies on merge keeps them: the push of the merge
  applies with the pull request's lock owner and frees them when it is done, so nobody can
  slip in between the merge and its apply.
"""

from __future__ import annotations

import logging

from bot.app import summary
from bot.app.locking import pull_request_owner
from bot.app.previews import Previewed, preview, repository_failure, select
from bot.app.services import (
    PREVIEW_STATUS,
    RUN_LEASE_SECONDS,
    Access,
    Services,
)
from bot.app.trust import Policy, PolicySource, PolicyUnreadable
from bot.core import render
from bot.core.commands import Command
from bot.core.config.settings import RepoSettings
from bot.core.events import PullRequestEvent
from bot.core.lock import Lock
from bot.core.ports import PullRequestInfo
from bot.core.preview.model import total_counts
from bot.core.render import notices, refusals, results, statuses

log = logging.getLogger("shipmate.bot")

PREVIEW_KIND = "preview"


def preview_key(number: int) -> str:
    return f"pr-{number}"


class PullRequests:
    """Handles `PullRequestEvent`s; `preview` also serves the `/preview` command."""

    def __init__(self, services: Services, policy: PolicySource | None = None) -> None:
        self.services = services
        self.policy = policy or PolicySource(services)

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
            self.fork_notice(access, pr)
            return
        try:
            policy = self.policy.read(access, pr.repo)
        except PolicyUnreadable as exc:
            self.publish(access, pr, Previewed(results=[repository_failure(
                refusals.invalid_policy_preview(exc.branch, str(exc)))]))
            return
        if pr.draft and not policy.settings.draft_previews:
            log.info("%s#%d is a draft; previews of drafts are off (draftPreviews)", pr.repo, pr.number)
            return
        self.preview(access, pr, policy)

    def preview(
        self, access: Access, pr: PullRequestInfo, policy: Policy, command: Command | None = None
    ) -> Previewed:
        """Preview the stacks the pull request changes (narrowed by `command`) and publish."""
        host = access.host
        trusted = policy.settings
        summary.status(host, pr.repo, pr.head_sha, PREVIEW_STATUS, "pending", "previewing the changed stacks")
        tree = self.services.tree(access, pr.repo, pr.head_sha)
        selection = select(tree, host.changed_files(pr.repo, pr.number), command)
        if selection.error is not None:
            previewed = Previewed(results=[repository_failure(selection.error)])
            locks: list[Lock] = []
        else:
            ops = self.services.ops(access, pr.repo, trusted, lease_seconds=RUN_LEASE_SECONDS)
            previewed = preview(ops, tree, selection.stacks, trusted)
            locks = self.locked_by_others(ops.backend.list_locks(), pr, {f"{s.project}/{s.workspace}" for s in selection.stacks})
        notice = [] if policy.applies_to(pr.base_ref) else notices.preview_only(
            pr.base_ref, policy.apply_branches, policy.branch)
        self.publish(access, pr, previewed, locks, command, notice)
        return previewed

    def locked_by_others(self, locks: tuple[Lock, ...], pr: PullRequestInfo, keys: set[str]) -> list[Lock]:
        now = self.services.clock.now()
        owner = pull_request_owner(pr.repo, pr.number)
        return [lock for lock in locks if lock.key in keys and lock.owner != owner and not lock.expired(now)]

    def publish(
        self,
        access: Access,
        pr: PullRequestInfo,
        previewed: Previewed,
        locks: list[Lock] | None = None,
        command: Command | None = None,
        notice: list[str] | None = None,
    ) -> None:
        """Write the summary comment and the `shipmate/preview` status."""
        host = access.host
        title = "Shipmate preview"
        if command is not None and (command.project or command.stack):
            title += f" ({' '.join(f for f in (command.project, command.stack) if f)})"
        body = render.markdown_body(
            previewed.results, key=preview_key(pr.number), meta={"head": pr.head_sha[:12]},
            title=title, secrets=previewed.secrets,
            notices=[*(notice or []), *results.locked_notice(locks or [])],
        )
        bodies = render.split_markdown(body)
        summary.upsert(host, pr.repo, pr.number, PREVIEW_KIND, preview_key(pr.number), bodies)
        self.services.report("preview", previewed)
        state, description = preview_status(previewed)
        summary.status(host, pr.repo, pr.head_sha, PREVIEW_STATUS, state, description)

    def fork_notice(self, access: Access, pr: PullRequestInfo) -> None:
        marker = render.split.make_marker(PREVIEW_KIND, {"key": preview_key(pr.number)})
        body = f"{marker.line(part='1/1')}\n{results.FORK_NOTICE}"
        summary.upsert(access.host, pr.repo, pr.number, PREVIEW_KIND, preview_key(pr.number), [body])

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
        if freed:
            reason = "Pull request merged" if event.merged else "Pull request closed"
            summary.post(access.host, event.repo, event.number, "locks", preview_key(event.number),
                         results.unlocked_comment(freed, reason))


def preview_status(previewed: Previewed) -> tuple[str, str]:
    """(state, description) of the `shipmate/preview` status."""
    counts = total_counts(r.changeset for r in previewed.results if r.changeset is not None)
    return statuses.preview(len(previewed.results), previewed.failed, counts)
