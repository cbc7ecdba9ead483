"""Pushes to the default branch: apply what the push changed, from the pushed commit.

The stacks to apply are those the files changed between `before` and `after` touch; the
configuration is read from the pushed commit `after` (a merge commit), never from the
pull request's branch, which may have moved or been deleted since. When the push is the
merge of a pull request, the applies run with that pull request's lock owner, so they take
over the locks it kept since its `/apply`, free them when done, and comment the results on
the merged pull request. A push with no pull request (a direct push) applies under its own
owner and is refused on stacks some pull request holds. A merge whose stack another open pull
request holds waits in that lock's line instead (`bot.app.queued_merges`, `lockQueue.merges`).

Changed files come from comparing the two trees in the checkout cache (each file read
through the `ConfigReader` port); when `before` is unknown (a new branch, a commit that is
gone after a force push) the paths listed in the push payload are used instead.
`apply: on-comment` in `shipmate.yaml` turns this off.
"""

from __future__ import annotations

import logging

from bot.app import builder, dashboard_previews, queued_merges
from bot.app.policycheck import check
from bot.app.runner import StackRunner
from bot.app.services import Access, Services, Tree
from bot.app.trust import PolicySource, PolicyUnreadable
from bot.app.waiting import Freed
from bot.core import mask
from bot.core.errors import ConfigError, RuntimeFailed, ShipmateError
from bot.core.events import ZERO_SHA, PushEvent
from bot.core.ports import CodeHost, ConfigReader
from bot.core.runplan import Operation, RunPlan

log = logging.getLogger("shipmate.bot")


class Merges:
    """Handles `PushEvent`s to the branches the policy applies (`branches`, default: the
    default branch); the policy is read from the policy branch (`bot.app.trust`), never from
    the pushed commit. Pushes to any other branch apply nothing, and so do Shipmate's own
    (the state branch's commits)."""

    def __init__(self, services: Services, policy: PolicySource | None = None, freed: Freed | None = None) -> None:
        self.services = services
        self.policy = policy or PolicySource(services)
        self.freed = freed  # the lock queue: a freed lock goes to the first in its line

    def handle(self, event: PushEvent) -> None:
        if event.branch is None or event.deleted or event.after == ZERO_SHA:
            return
        access = self.services.access(event.repo, event.installation_id)
        host, repo = access.host, event.repo
        if event.sender and event.sender.lower() == _own_login(host):
            # Shipmate's own pushes (its state branch) apply nothing: no policy read for them.
            log.info("%s: push to %s by %s itself applies nothing", repo, event.branch, event.sender)
            return
        reporter = self.services.reporter(access)
        try:
            policy = self.policy.read(access, repo)
        except PolicyUnreadable as exc:
            if event.branch != event.default_branch:
                return
            request = builder.push_request(event, host.merged_pull_request_for(repo, event.after))
            reporter.policy_unreadable(RunPlan(Operation.APPLY, (), request=request), exc.branch, str(exc))
            return
        if not policy.applies_to(event.branch):
            log.info("%s: push to %s applies nothing (branches: %s)", repo, event.branch,
                     ", ".join(policy.apply_branches))
            return
        trusted = policy.settings
        if not trusted.apply_on_merge:  # before any checkout or lookup: nothing to do
            log.info("%s@%s: apply on merge is off (apply: %s)", repo, event.after[:7], trusted.apply)
            return
        tree = self.services.tree(access, repo, event.after)
        pr = host.merged_pull_request_for(repo, event.after)
        plan = builder.merge(event, pr, tree, self.changed_paths(access, event, tree), policy)
        ops = self.services.ops(access, repo, trusted)
        if pr is not None and self.freed is not None and trusted.lock_queue.merges and plan.refusal is None:
            holder = queued_merges.held_by_other(ops.backend, plan, pr.number, self.services.clock.now())
            if holder is not None:  # another open pull request holds one of its stacks: wait in line
                queued_merges.wait(access, repo, ops.backend, self.services.clock, reporter, self.freed, pr, holder,
                                   plan.request.actor, event.after, [s.path for s in plan.stacks],
                                   trusted.lock_queue.expiry)
                return
        # A merged pull request's stacks apply only as its last preview showed (its approvals'
        # fingerprints, bot.app.dashboard_previews); a direct push has no preview to hold to.
        pins = dashboard_previews.pins(ops.backend, pr.number, pr.head_sha) if pr is not None else None
        fingerprints = {key: pin.fingerprint for key, pin in (pins or {}).items() if pin.fingerprint is not None}
        result = StackRunner(ops, tree, trusted, reporter, pinned=fingerprints if pr is not None else None,
                             merged_head=pr.head_sha if pr is not None else "",
                             policies=check(self.services.policy_engine, policy.policies, pr)).run(plan)
        left = ops.backend.leave_queues(pr.number) if pr is not None else ()  # merged: it waits for nothing
        if self.freed is not None and (result.freed or left):
            self.freed(access, repo, ops.backend, [*(lock.key for lock in result.freed), *left])
        lits = mask.Literals.of(result.secrets)
        for run in result.stacks:
            if not run.ok:
                log.warning("%s@%s: apply on push of %s failed: %s", repo, event.after[:7], run.name,
                            mask.mask_text(run.error or "", lits))

    def changed_paths(self, access: Access, event: PushEvent, after: Tree) -> tuple[str, ...]:
        if event.created or event.before == ZERO_SHA:
            return event.changed_paths
        try:
            before = self.services.tree(access, event.repo, event.before)
        except RuntimeFailed as exc:
            log.warning("%s: cannot read %s (%s); using the paths the push lists",
                        event.repo, event.before[:7], exc)
            return event.changed_paths
        return diff_trees(before.reader, after.reader)


def diff_trees(a: ConfigReader, b: ConfigReader) -> tuple[str, ...]:
    """Paths whose content differs between two trees (added, removed or changed), sorted."""
    files_a = set(a.list_files("", recursive=True))
    files_b = set(b.list_files("", recursive=True))
    changed = (files_a ^ files_b) | {f for f in files_a & files_b if _differs(a, b, f)}
    return tuple(sorted(changed))


def _differs(a: ConfigReader, b: ConfigReader, path: str) -> bool:
    try:
        return a.read(path) != b.read(path)
    except ConfigError:  # not UTF-8 text, or too large to be config: count it as changed
        return True


def _own_login(host: CodeHost) -> str:
    """The bot's login, lower-cased; "" when the code host cannot say (a token that may not
    read its own user, as a workflow's GITHUB_TOKEN): the push is then judged by the policy."""
    try:
        return host.bot_login().lower()
    except ShipmateError:
        return ""
