"""Comment commands on pull requests: `/preview`, `/apply`, `/destroy`, `/unlock`, `/help`.

Only newly *created* comments run commands: an edit cannot turn an old, reviewed comment
into an `/apply`, and a deleted comment does nothing. Comments by the bot itself and by
other bots are ignored. The grammar is `bot.core.commands`.

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

Locks: `/apply` and `/destroy` take the lock of every project+workspace they touch, all
before changing anything and in sorted order, owned by `pr:<repo>#<n>`, and keep them after
the operation (the default branch is behind the live infrastructure until the pull request
merges). Another pull request touching a locked stack is told who holds it. `/unlock`
releases this pull request's locks.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from bot.app import summary
from bot.app.applying import apply_stacks, apply_status
from bot.app.configrepo import discover_stacks
from bot.app.locking import LockSession, pull_request_owner
from bot.app.previews import select
from bot.app.pulls import PullRequests, preview_key
from bot.app.results import run_of
from bot.app.services import (
    APPLY_STATUS,
    PULL_REQUEST_LEASE_SECONDS,
    Access,
    Services,
    Tree,
)
from bot.app.stacks import Provenance, StackIdentity
from bot.app.trust import Policy, PolicyUnreadable
from bot.core import commands, policy
from bot.core.affected import StackRef
from bot.core.commands import Command, Verb
from bot.core.config.settings import RepoSettings
from bot.core.errors import ConfigError, PolicyDenied, ShipmateError
from bot.core.events import IssueCommentEvent
from bot.core.outcome import StackRun
from bot.core.ports import PullRequestInfo
from bot.core.release import Trigger
from bot.core.render import notices, refusals, results

log = logging.getLogger("shipmate.bot")


class Comments:
    """Handles `IssueCommentEvent`s."""

    def __init__(self, services: Services, pulls: PullRequests) -> None:
        self.services = services
        self.pulls = pulls

    def handle(self, event: IssueCommentEvent) -> None:
        if event.action != "created":
            log.info("%s#%d: comment %d was %s; only new comments run commands",
                     event.repo, event.issue_number, event.comment_id, event.action)
            return
        if not event.is_pull_request or event.author_is_bot:
            return
        parsed = commands.parse(event.body)
        if isinstance(parsed, commands.Ignore):
            return
        access = self.services.access(event.repo, event.installation_id)
        host = access.host
        if event.author.lower() == host.bot_login().lower():
            return
        if isinstance(parsed, commands.Reply):
            summary.react(host, event.repo, event.comment_id, "confused")
            try:
                self.may_ask(access, event, parsed.verb)
            except PolicyDenied as exc:
                asked = f"/{parsed.verb}" if parsed.verb is not None else "command"
                host.create_comment(event.repo, event.issue_number, results.refusal(str(exc), event.author, asked))
                return
            host.create_comment(event.repo, event.issue_number, f"@{event.author} {parsed.text}")
            return
        summary.react(host, event.repo, event.comment_id, "eyes")
        try:
            ok = self.run(access, event, parsed)
        except PolicyDenied as exc:
            summary.react(host, event.repo, event.comment_id, "confused")
            host.create_comment(event.repo, event.issue_number,
                                results.refusal(str(exc), event.author, f"/{parsed.verb}"))
            return
        if not ok:
            reaction = "confused"
        elif parsed.verb in (Verb.APPLY, Verb.DESTROY):
            reaction = "rocket"
        else:
            reaction = "+1"
        summary.react(host, event.repo, event.comment_id, reaction)

    # --- dispatch ---------------------------------------------------------------------------

    def policy(self, access: Access, repo: str) -> Policy:
        """The trusted policy; PolicyDenied when it cannot be read."""
        try:
            return self.pulls.policy.read(access, repo)
        except PolicyUnreadable as exc:
            raise PolicyDenied(refusals.invalid_policy(exc.branch, str(exc))) from None

    def may_ask(self, access: Access, event: IssueCommentEvent, verb: Verb | None) -> None:
        """PolicyDenied unless the commenter holds the permission `verb` needs: checked before
        a usage reply, so only someone who may run a command is told how to."""
        trusted = self.policy(access, event.repo).settings
        permission = access.host.permission(event.repo, event.author)
        policy.check_permission(verb, event.author, permission, trusted.rules())

    def run(self, access: Access, event: IssueCommentEvent, command: Command) -> bool:
        """Run an authorised command; PolicyDenied when it may not run."""
        host, repo, number = access.host, event.repo, event.issue_number
        if command.verb is Verb.HELP:
            host.create_comment(repo, number, commands.HELP_TEXT)
            return True
        pr = host.pull_request(repo, number)
        trusted_policy = self.policy(access, repo)
        trusted = trusted_policy.settings
        if command.verb in (Verb.APPLY, Verb.DESTROY):
            policy.check_permission(command.verb, event.author, host.permission(repo, event.author), trusted.rules())
            if not trusted_policy.applies_to(pr.base_ref):
                raise PolicyDenied(notices.applies_only_to(
                    pr.base_ref, trusted_policy.apply_branches, trusted_policy.branch) + ".")
        if command.verb is Verb.APPLY and not trusted.apply_on_comment:
            raise PolicyDenied(refusals.applies_on_merge_only(trusted.apply, trusted_policy.branch))
        self.authorize(access, pr, event.author, command.verb, trusted)
        if command.verb is Verb.UNLOCK:
            backend = access.backends(repo, trusted.backend.branch)
            freed = backend.release_pull_request_locks(number)
            summary.post(host, repo, number, "locks", preview_key(number),
                         results.unlocked_comment(freed, f"@{event.author} asked to unlock"))
            return True
        if command.verb is Verb.PREVIEW:
            previewed = self.pulls.preview(access, pr, trusted_policy, command)
            return previewed.failed == 0
        if command.verb is Verb.APPLY:
            return self.apply(access, pr, trusted, event, command)
        return self.destroy(access, pr, trusted, event, command)

    def authorize(self, access: Access, pr: PullRequestInfo, actor: str, verb: Verb, trusted: RepoSettings) -> None:
        host = access.host
        permission = host.permission(pr.repo, actor)
        facts = policy.PullFacts(
            number=pr.number, author=pr.author, head_sha=pr.head_sha, is_fork=pr.is_fork,
            mergeable=pr.mergeable, closed=pr.state != "open",
        )
        if verb in (Verb.APPLY, Verb.DESTROY) and "approved" in trusted.requirements.apply:
            reviews = tuple(policy.Review(r.author, r.state, r.commit_id, r.author_is_bot)
                            for r in host.reviews(pr.repo, pr.number))
            # Each approver's permission, from the code host: an approval by someone who may
            # not push (or who lost access since) does not count.
            approvers = {login.lower(): host.permission(pr.repo, login)
                         for login in policy.approval_candidates(replace(facts, reviews=reviews))}
            facts = replace(facts, reviews=tuple(
                replace(r, permission=approvers.get(r.author.lower(), "none")) for r in reviews))
        policy.authorize(verb, actor, permission, facts, trusted.rules())

    # --- apply / destroy --------------------------------------------------------------------

    def apply(
        self, access: Access, pr: PullRequestInfo, trusted: RepoSettings, event: IssueCommentEvent, command: Command
    ) -> bool:
        host, repo = access.host, pr.repo
        tree = self.services.tree(access, repo, pr.head_sha)
        selection = select(tree, host.changed_files(repo, pr.number), command)
        if selection.error is not None:
            raise PolicyDenied(refusals.unreadable_config(pr.head_sha, selection.error))
        if not selection.stacks:
            raise PolicyDenied(refusals.no_matching_stack(f"{s.project}/{s.name}" for s in selection.all_affected))
        ops = self.services.ops(access, repo, trusted, lease_seconds=PULL_REQUEST_LEASE_SECONDS)
        owner = pull_request_owner(repo, pr.number)
        session = LockSession(ops.backend, owner, ops.lease_seconds, pull_request=pr.number,
                              run_id=f"comment-{event.comment_id}")
        session.acquire_all((s.project, s.workspace) for s in selection.stacks)
        ops = replace(ops, session=session)
        n = len(selection.stacks)
        summary.status(host, repo, pr.head_sha, APPLY_STATUS, "pending", f"applying {n} stack{'s' if n != 1 else ''}")
        provenance = Provenance(Trigger.COMMENT, event.author, pr.head_sha, pr.number)
        runs, secrets = apply_stacks(ops, tree, selection.stacks, trusted, provenance, owner, keep_lock=True)
        self.services.report("runs", runs)
        body = results.operation_comment(
            runs, title="Shipmate apply",
            lead=results.apply_lead(event.author, pr.head_sha),
            secrets=secrets, state_branch=trusted.backend.branch,
            footer=[refusals.kept_locks(f"{r.project}/{r.workspace}" for r in runs)],
        )
        summary.post(host, repo, pr.number, "apply", f"{preview_key(pr.number)}-c{event.comment_id}", body)
        summary.status(host, repo, pr.head_sha, APPLY_STATUS, *apply_status(runs, "applied"))
        return all(r.ok for r in runs)

    def destroy(
        self, access: Access, pr: PullRequestInfo, trusted: RepoSettings, event: IssueCommentEvent, command: Command
    ) -> bool:
        host, repo = access.host, pr.repo
        assert command.project is not None and command.stack is not None  # the grammar requires both
        ref = self.find_stack(access, pr, command.project, command.stack)
        ops = self.services.ops(access, repo, trusted, lease_seconds=PULL_REQUEST_LEASE_SECONDS)
        owner = pull_request_owner(repo, pr.number)
        session = LockSession(ops.backend, owner, ops.lease_seconds, pull_request=pr.number,
                              run_id=f"comment-{event.comment_id}")
        session.acquire_all([(ref.project, ref.workspace)])
        ops = replace(ops, session=session)
        provenance = Provenance(Trigger.COMMENT, event.author, pr.head_sha, pr.number)
        identity = StackIdentity(ref.project, ref.name, ref.workspace, ref.path)
        try:
            result = ops.destroy(identity, provenance, owner=owner, settings=trusted, keep_lock=True)
            run = run_of(result)
        except ShipmateError as exc:
            run = StackRun.refused(ref.project, ref.name, ref.workspace, str(exc))
        self.services.report("runs", [run])
        body = results.operation_comment(
            [run], title="Shipmate destroy",
            lead=results.destroy_lead(event.author, ref.project, ref.name),
            state_branch=trusted.backend.branch,
        )
        summary.post(host, repo, pr.number, "destroy", f"{preview_key(pr.number)}-c{event.comment_id}", body)
        return run.ok

    def find_stack(self, access: Access, pr: PullRequestInfo, project: str, stack: str) -> StackRef:
        """The stack in the pull request's head, else on its base branch (a pull request that
        deletes a stack's files can still destroy what it deployed)."""
        trees: list[Tree] = [
            self.services.tree(access, pr.repo, pr.head_sha),
            self.services.base_tree(access, pr.repo, pr.base_ref),
        ]
        for tree in trees:
            try:
                found = [s for s in discover_stacks(tree.reader) if s.project == project and s.name == stack]
            except ConfigError:
                continue
            if found:
                return found[0]
        raise PolicyDenied(refusals.no_such_stack(project, stack, pr.base_ref))
