"""Comment commands on pull requests: `/preview`, `/apply`, `/destroy`, `/unlock`, `/help`.

Only newly *created* comments run commands: an edit cannot turn an old, reviewed comment
into an `/apply`, and a deleted comment does nothing. Comments by the bot itself and by
other bots are ignored. The grammar is `bot.core.commands`.

A click on the **Apply** button of one of Shipmate's check runs (a GitHub App's, see
`bot.adapters.github.checks`) is handled here too (`click`): it is the clicker's comment
`/apply -p <project> -s <stack>` on the pull request whose head the check run is on, and goes
through `run` like any comment.

Every command is acknowledged on the comment: 👀 when it starts, then 🚀 for a successful
apply or destroy, 👍 for other successes, 😕 when it was refused or failed; the reason of a
refusal is posted as a reply.

**Whose policy.** Who may apply (permissions, requirements such as an approval at the head
commit), which branch holds the state, and which workspace context keys are secret all come
from `shipmate.yaml` on the repository's policy branch (the default branch, or the server's
`SHIPMATE_POLICY_BRANCH`; see `bot.app.trust`), never from the pull request's head or base.
The head is what the pull request proposes; if it were trusted, a pull request could lower
`permissions.apply` to `read`, drop `requirements`, point the backend at another branch or
un-mark a secret, and then apply itself or print the secret in its own preview. The base is
no better: its author may have created it. Changes to `shipmate.yaml` take effect once
merged. (The stack configs themselves come from the head: that is what is being previewed
and applied.) `/apply` and `/destroy` run only on pull requests into the branches the policy
names (`branches`, default: the default branch).

**Permission first.** The commenter's permission is checked before anything else is said:
a malformed command from someone who may not run it gets the refusal, not a usage reply, and
a reply never repeats the comment except as inline code. An approval counts only at the head
commit, from a reviewer who is neither the author nor a bot and whose repository permission
(read from the code host) is at least `permissions.approve`.

Each command goes builder → runner → reporter: `bot.app.builder` checks who asks and makes
the plan, `bot.app.runner.StackRunner` runs it, the reporter tells the pull request.

Locks: `/apply` and `/destroy` take the lock of every project+workspace they touch, all
before changing anything and in sorted order, owned by `pr:<repo>#<n>`, and keep them after
the operation (the default branch is behind the live infrastructure until the pull request
merges). Another pull request touching a locked stack is told who holds it. `/unlock`
releases this pull request's locks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from bot.app import builder, dashboard_previews, drift_issues, queued_merges, waiting
from bot.app.policycheck import check
from bot.app.runner import StackRunner
from bot.app.services import Access, Services
from bot.app.trust import Policy, PolicySource, PolicyUnreadable
from bot.core import commands
from bot.core import policy as rules
from bot.core.commands import Command, Verb
from bot.core.errors import PolicyDenied
from bot.core.events import CheckRunAction, IssueCommentEvent
from bot.core.lock import LockedOut
from bot.core.lockqueue import Waiting
from bot.core.ports import StateBackend
from bot.core.render import checks as render_checks
from bot.core.render import queue as queue_text
from bot.core.render import refusals
from bot.core.reporter import Reporter
from bot.core.runplan import Request

log = logging.getLogger("shipmate.bot")


class Comments:
    """Handles `IssueCommentEvent`s."""

    def __init__(self, services: Services, policy: PolicySource | None = None) -> None:
        self.services = services
        self.policy_source = policy or PolicySource(services)

    def handle(self, event: IssueCommentEvent) -> None:
        if event.action != "created":
            log.info("%s#%d: comment %d was %s; only new comments run commands",
                     event.repo, event.issue_number, event.comment_id, event.action)
            return
        if event.author_is_bot:
            return
        if not event.is_pull_request:
            self.on_issue(event)
            return
        parsed = commands.parse(event.body)
        if isinstance(parsed, commands.Ignore):
            return
        access = self.services.access(event.repo, event.installation_id)
        if event.author.lower() == access.host.bot_login().lower():
            return
        reporter = self.services.reporter(access)
        request = Request(event.repo, event.issue_number, comment_id=event.comment_id, actor=event.author)
        if isinstance(parsed, commands.Reply):
            reporter.acknowledged(request, "confused")
            try:
                builder.permitted(access, event.repo, event.author, parsed.verb, self.policy(access, event.repo))
            except PolicyDenied as exc:
                reporter.refused(request, f"/{parsed.verb}" if parsed.verb is not None else "command", str(exc))
                return
            reporter.replied(request, f"@{event.author} {parsed.text}")
            return
        reporter.acknowledged(request, "eyes")
        try:
            ok = self.run(access, reporter, request, builder.Asked(event.author, event.comment_id), parsed)
        except PolicyDenied as exc:
            reporter.acknowledged(request, "confused")
            reporter.refused(request, f"/{parsed.verb}", str(exc))
            return
        if ok is None:  # waiting in line for a lock: the comment is answered when its turn comes
            return
        if not ok:
            reaction = "confused"
        elif parsed.verb in (Verb.APPLY, Verb.DESTROY):
            reaction = "rocket"
        else:
            reaction = "+1"
        reporter.acknowledged(request, reaction)

    def policy(self, access: Access, repo: str) -> Policy:
        """The trusted policy; PolicyDenied when it cannot be read."""
        try:
            return self.policy_source.read(access, repo)
        except PolicyUnreadable as exc:
            raise PolicyDenied(refusals.invalid_policy(exc.branch, str(exc))) from None

    def click(self, event: CheckRunAction) -> None:
        """A click on a button of one of Shipmate's check runs: Apply is the clicker's
        `/apply -p <project> -s <stack>` on the pull request whose head the run is on, through
        every rule a comment meets; anything else is logged and dropped."""
        text = render_checks.click_command(event.identifier, event.external_id)
        if text is None:
            log.info("%s: check run %d (%s): button %r is not Shipmate's; ignored", event.repo,
                     event.check_run_id, event.name, event.identifier)
            return
        if len(event.pull_requests) != 1:
            log.info("%s: check run %d is on %d open pull requests, not one; the click is ignored",
                     event.repo, event.check_run_id, len(event.pull_requests))
            return
        parsed = commands.parse(text)
        if not isinstance(parsed, Command):
            log.info("%s: check run %d names no stack a comment could (%r); the click is ignored",
                     event.repo, event.check_run_id, event.external_id)
            return
        access = self.services.access(event.repo, event.installation_id)
        if event.sender.lower() == access.host.bot_login().lower():
            return
        reporter = self.services.reporter(access)
        number = event.pull_requests[0]
        request = Request(event.repo, number, actor=event.sender)
        try:
            pr = access.host.pull_request(event.repo, number)
            if pr.head_sha != event.head_sha:
                raise PolicyDenied(refusals.stale_check_run(event.head_sha, pr.head_sha))
            self.run(access, reporter, request, builder.Asked(event.sender, check_run_id=event.check_run_id),
                     parsed)
        except PolicyDenied as exc:
            reporter.refused(request, f"{text} (the Apply button)", str(exc))

    def on_issue(self, event: IssueCommentEvent) -> None:
        """`/apply` on a drift issue (`bot.app.drift_issues`): apply that stack from the default
        branch as the commenter, who needs the stack's apply permission (its project's and
        workspace's levels included; a drift issue has no pull request to approve: the default
        branch's config was reviewed when it merged). Comments on other issues are ignored."""
        parsed = commands.parse(event.body)
        if not isinstance(parsed, Command) or parsed.verb is not Verb.APPLY:
            return
        access = self.services.access(event.repo, event.installation_id)
        if event.author.lower() == access.host.bot_login().lower():
            return
        policy = self.policy_source.read(access, event.repo)
        backend = access.backends(event.repo, policy.settings.backend.branch)
        drifted = drift_issues.stack_of(backend.view(), event.issue_number)
        if drifted is None:
            return  # not a drift issue
        project, workspace, _ = drifted
        reporter = self.services.reporter(access)
        request = Request(event.repo, event.issue_number, comment_id=event.comment_id, actor=event.author)
        reporter.acknowledged(request, "eyes")
        branch = access.host.default_branch(event.repo)
        tree = self.services.base_tree(access, event.repo, branch)
        try:
            rules.check_permission(Verb.APPLY, event.author, access.host.permission(event.repo, event.author),
                                   policy.settings.rules().for_stack(project, workspace))
            found = [s for s in builder.select(tree, None).stacks if (s.project, s.workspace) == (project, workspace)]
            if not found:
                raise PolicyDenied(f"{project}/{workspace} is no longer a stack on {branch}")
        except PolicyDenied as exc:
            reporter.acknowledged(request, "confused")
            reporter.refused(request, "/apply", str(exc))
            return
        plan = builder.drift_apply(event.repo, event.issue_number, tree, branch, found, event.author,
                                   event.comment_id, policy)
        ops = self.services.ops(access, event.repo, policy.settings)
        result = StackRunner(ops, tree, policy.settings, reporter,
                             policies=check(self.services.policy_engine, policy.policies, None)).run(plan)
        reporter.acknowledged(request, "rocket" if result.ok else "confused")
        if result.ok:
            access.host.edit_issue(event.repo, event.issue_number, state="closed")

    def queued(self, access: Access, repo: str, entry: Waiting) -> None:
        """The lock an `/apply` waited for is free (`bot.app.waiting`): preview the pull request
        again (what the apply is then pinned to), then run the command as the person who asked,
        with every rule a comment meets; the result is told on their comment."""
        if entry.is_merge:  # a merged pull request's apply on merge
            queued_merges.take_turn(self.services, self.policy_source, access, repo, entry, self.freed)
            return
        parsed = commands.parse(entry.command)
        if not isinstance(parsed, Command) or parsed.verb is not Verb.APPLY:
            log.warning("%s#%d: a queued command %r is not an /apply; dropped", repo, entry.pull_request,
                        entry.command)
            return
        reporter = self.services.reporter(access)
        request = Request(repo, entry.pull_request, comment_id=entry.comment_id, actor=entry.actor)
        asked = builder.Asked(entry.actor, entry.comment_id)
        try:
            self.run(access, reporter, request, asked, Command(Verb.PREVIEW, parsed.project, parsed.stack))
            ok = self.run(access, reporter, request, asked, parsed)
        except PolicyDenied as exc:
            reporter.acknowledged(request, "confused")
            reporter.refused(request, entry.command, str(exc))
            return
        if ok is not None:
            reporter.acknowledged(request, "rocket" if ok else "confused")

    def freed(self, access: Access, repo: str, backend: StateBackend, keys: Iterable[str]) -> None:
        """Locks were freed, or a pull request left their lines: each free lock goes to the first
        pull request in its line, and the others waiting are told their place."""
        waiting.hand_over(access, repo, backend, keys, self.queued, self.services.reporter(access))

    def run(self, access: Access, reporter: Reporter, request: Request, asked: builder.Asked,
            command: Command) -> bool | None:
        """Run an authorised command; PolicyDenied when it may not run. None: an `/apply` that
        found a lock held by another pull request and waits in line for it."""
        host, repo, number = access.host, request.repo, request.number
        assert number is not None
        if command.verb is Verb.HELP:
            reporter.replied(request, commands.HELP_TEXT)
            return True
        pr = host.pull_request(repo, number)
        policy = self.policy(access, repo)
        builder.authorize(access, pr, asked.author, command, policy)
        if command.verb is Verb.UNLOCK:
            backend = access.backends(repo, policy.settings.backend.branch)
            freed = backend.release_pull_request_locks(number)
            left = backend.leave_queues(number, merges=True)
            reporter.unlocked(request, freed, f"@{asked.author} asked to unlock"
                              + (f"; it no longer waits for {', '.join(left)}" if left else ""))
            self.freed(access, repo, backend, [*(lock.key for lock in freed), *left])
            return True
        tree = self.services.tree(access, repo, pr.head_sha)
        ops = self.services.ops(access, repo, policy.settings)
        # Approvals are pinned to the head's latest preview (bot.app.dashboard_previews).
        pins = dashboard_previews.pinned(ops.backend, number, pr.head_sha) if command.verb is Verb.APPLY else {}
        if command.verb is Verb.PREVIEW:
            plan = builder.preview(pr, tree, host.changed_files(repo, number), policy, command,
                                   actor=asked.author, comment_id=asked.comment_id)
        elif command.verb is Verb.APPLY:
            plan = builder.apply_command(pr, tree, host.changed_files(repo, number), policy, asked, command)
        else:  # /destroy: the stack in the head, else on the base (its files deleted here)
            base = self.services.base_tree(access, repo, pr.base_ref)
            plan = builder.destroy_command(pr, (tree, base), policy, asked, command)
        if command.verb in (Verb.APPLY, Verb.DESTROY):  # the rules of each stack it would change
            builder.authorize_stacks(access, pr, asked.author, plan, policy, host.changed_files(repo, number),
                                     lambda path: self.services.base_tree(access, repo, policy.branch).reader.read(path),
                                     {key: pin.approvals_from for key, pin in pins.items()})
        fingerprints = {key: pin.fingerprint for key, pin in pins.items() if pin.fingerprint is not None}
        policies = check(self.services.policy_engine, policy.policies, pr)
        runner = StackRunner(ops, tree, policy.settings, reporter,
                             pinned=fingerprints if command.verb is Verb.APPLY else None, policies=policies)
        try:
            result = runner.run(plan)
        except LockedOut as exc:
            holder = exc.holder.pull_request
            if command.verb is not Verb.APPLY or command.no_wait or holder is None or holder == number:
                raise
            place = waiting.join(ops.backend, self.services.clock, exc.holder, number, asked.author,
                                 asked.comment_id, commands.text_of(command),
                                 policy.settings.lock_queue.expiry)
            reporter.waiting(request, exc.holder.key, queue_text.waiting(asked.author, exc.holder, place))
            return None
        reviews = lambda: len(host.reviews(repo, number))  # noqa: E731
        if command.verb is Verb.PREVIEW:
            dashboard_previews.record(ops.backend, self.services.clock, number, pr.head_sha, result, reviews)
        elif any(o.fingerprint is not None and not o.ran for o in result.stacks):
            # What the approvers saw no longer holds: a fresh preview shows the new difference
            # and, recorded, makes earlier approvals stop counting for the stacks that moved.
            fresh = builder.preview(pr, tree, host.changed_files(repo, number), policy, actor=asked.author)
            again = StackRunner(ops, tree, policy.settings, reporter, policies=policies).run(fresh)
            dashboard_previews.record(ops.backend, self.services.clock, number, pr.head_sha, again, reviews)
        return result.failed == 0 if command.verb is Verb.PREVIEW else result.ok
