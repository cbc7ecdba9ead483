"""What to run, for whom, and whether they may: events and arguments → `RunPlan`s.

Every handler and entry point asks here before anything runs, as Atlantis separates its
command builder from its runner:

| entry point | plan |
|---|---|
| a pull request opened or pushed to, `/preview` | `preview` |
| `/apply` | `apply_command` (every lock first, kept for the pull request) |
| `/destroy -p P -s S` | `destroy_command` (the stack in the head, else on the base) |
| a push to a branch the policy applies | `merge` (the merged pull request's locks taken over) |
| the drift check | `drift` |
| the Action's `destroy`, `shipmate apply/destroy/release rollback` | `stacks` |

It also decides whether someone may ask (`permitted`, `authorize`): the commenter's
permission, the base branch the policy applies, `apply: on-comment`, and the requirements
(an approval at the head commit from a reviewer with the permission `permissions.approve`).
The decisions are `bot.core.policy`'s; here the facts are gathered from the code host.

Selecting stacks reads the tree's stack files (`discover_stacks`); the rest is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.app.configrepo import discover_stacks, with_kcl_inputs
from bot.app.locking import pull_request_owner, push_owner
from bot.app.services import PULL_REQUEST_LEASE_SECONDS, RUN_LEASE_SECONDS, Access, Tree
from bot.app.trust import Policy
from bot.core import codeowners
from bot.core import policy as rules
from bot.core.affected import StackRef, affected_stacks
from bot.core.commands import Command, Verb
from bot.core.errors import ConfigError, PolicyDenied
from bot.core.events import PushEvent
from bot.core.ports import PullRequestInfo
from bot.core.release import Trigger
from bot.core.render import notices, refusals
from bot.core.runplan import Operation, Provenance, Request, RunPlan


@dataclass(frozen=True)
class Selection:
    """The stacks to act on, or the reason none could be found."""

    stacks: tuple[StackRef, ...] = ()
    error: str | None = None
    all_affected: tuple[StackRef, ...] = ()


def select(tree: Tree, changed: Sequence[str] | None, command: Command | None = None) -> Selection:
    """The stacks of `tree` that `changed` paths touch (every stack when `changed` is None),
    narrowed by the command's `-p`/`-s` filters."""
    try:
        stacks = discover_stacks(tree.reader)
    except ConfigError as exc:
        return Selection(error=str(exc))
    affected = tuple(stacks) if changed is None else affected_stacks(with_kcl_inputs(tree.reader, changed, stacks),
                                                                      stacks)
    chosen = tuple(s for s in affected if command is None or command.matches(s.project, s.name))
    return Selection(chosen, None, affected)


@dataclass(frozen=True)
class Asked:
    """Who asked for a command, and how: a comment (its ID), or a click on a button of one of
    Shipmate's check runs (which stands for the same comment by the clicker)."""

    author: str
    comment_id: int | None = None
    check_run_id: int | None = None

    @property
    def run_id(self) -> str:
        """What the locks it takes record as their run."""
        return f"comment-{self.comment_id}" if self.comment_id is not None else f"check-run-{self.check_run_id}"


def pull_request_of(pr: PullRequestInfo, *, comment_id: int | None = None, actor: str = "",
                    command: Command | None = None) -> Request:
    filters = tuple(f for f in (command.project, command.stack) if f) if command is not None else ()
    return Request(pr.repo, pr.number, pr.head_sha, pr.base_ref, comment_id, pr.html_url, actor, filters)


# --- plans ----------------------------------------------------------------------------------


def preview(pr: PullRequestInfo, tree: Tree, changed: Sequence[str], policy: Policy,
            command: Command | None = None, *, actor: str = "", comment_id: int | None = None) -> RunPlan:
    """The preview of the stacks a pull request changes (narrowed by `/preview -p -s`). A base
    the policy does not apply gets a notice saying so."""
    selection = select(tree, changed, command)
    notice = () if policy.applies_to(pr.base_ref) else tuple(
        notices.preview_only(pr.base_ref, policy.apply_branches, policy.branch))
    return RunPlan(
        Operation.PREVIEW, selection.stacks,
        Provenance(Trigger.PULL_REQUEST, actor or pr.author, pr.head_sha, pr.number),
        pull_request_of(pr, comment_id=comment_id, actor=actor, command=command),
        owner=pull_request_owner(pr.repo, pr.number), lease_seconds=RUN_LEASE_SECONDS,
        state_branch=policy.settings.backend.branch, refusal=selection.error, notices=notice,
    )


def apply_command(pr: PullRequestInfo, tree: Tree, changed: Sequence[str], policy: Policy,
                  asked: Asked, command: Command) -> RunPlan:
    """`/apply`: the changed stacks (narrowed by `-p`/`-s`), every lock taken first and kept
    for the pull request. PolicyDenied when the head's config is unreadable or nothing matches."""
    selection = select(tree, changed, command)
    if selection.error is not None:
        raise PolicyDenied(refusals.unreadable_config(pr.head_sha, selection.error))
    if not selection.stacks:
        raise PolicyDenied(refusals.no_matching_stack(f"{s.project}/{s.name}" for s in selection.all_affected))
    override = f"@{asked.author}: {command.override_reason}" if command.override_reason else None
    return _command(Operation.APPLY, selection.stacks, pr, policy, asked, override)


def destroy_command(pr: PullRequestInfo, heads: Sequence[Tree], policy: Policy, asked: Asked,
                    command: Command) -> RunPlan:
    """`/destroy -p P -s S`: the stack found in the first of `heads` that has it (the pull
    request's head, then its base: a pull request that deletes a stack's files can still
    destroy what it deployed). PolicyDenied when there is no such stack."""
    assert command.project is not None and command.stack is not None  # the grammar requires both
    for tree in heads:
        try:
            found = [s for s in discover_stacks(tree.reader)
                     if s.project == command.project and s.name == command.stack]
        except ConfigError:
            continue
        if found:
            return _command(Operation.DESTROY, (found[0],), pr, policy, asked)
    raise PolicyDenied(refusals.no_such_stack(command.project, command.stack, pr.base_ref))


def _command(operation: Operation, stacks: tuple[StackRef, ...], pr: PullRequestInfo, policy: Policy,
             asked: Asked, policy_override: str | None = None) -> RunPlan:
    return RunPlan(
        operation, stacks, Provenance(Trigger.COMMENT, asked.author, pr.head_sha, pr.number, policy_override),
        pull_request_of(pr, comment_id=asked.comment_id, actor=asked.author),
        owner=pull_request_owner(pr.repo, pr.number), lease_seconds=PULL_REQUEST_LEASE_SECONDS,
        run_id=asked.run_id, locks_first=True, keep_locks=True,
        state_branch=policy.settings.backend.branch,
    )


def merge(event: PushEvent, pr: PullRequestInfo | None, tree: Tree, changed: Sequence[str],
          policy: Policy) -> RunPlan:
    """The apply of a push: the stacks the push changed, read from the pushed commit. The
    merge of a pull request runs as that pull request (its locks taken over, then freed with
    all it held); a direct push under its own owner, refused on stacks others hold."""
    selection = select(tree, changed)
    owner = pull_request_owner(event.repo, pr.number) if pr is not None else push_owner(event.repo, event.after)
    request = push_request(event, pr)
    return RunPlan(
        Operation.APPLY, selection.stacks, Provenance(Trigger.PUSH, request.actor, event.after, request.number),
        request, owner=owner, lease_seconds=RUN_LEASE_SECONDS, take_over=pr is not None,
        state_branch=policy.settings.backend.branch, refusal=selection.error,
    )


def waited_merge(pr: PullRequestInfo, tree: Tree, refs: Sequence[StackRef], actor: str, policy: Policy) -> RunPlan:
    """The apply of a merge whose turn came in the lock queue (`bot.app.queued_merges`): its
    stacks read from the base branch's head `tree`, as the merged pull request (every lock
    taken first, none kept), told on the pull request."""
    return RunPlan(
        Operation.APPLY, tuple(refs), Provenance(Trigger.PUSH, actor, tree.sha, pr.number),
        Request(pr.repo, pr.number, tree.sha, pr.base_ref, None, pr.html_url, actor),
        owner=pull_request_owner(pr.repo, pr.number), lease_seconds=RUN_LEASE_SECONDS, locks_first=True,
        state_branch=policy.settings.backend.branch,
    )


def drift_apply(repo: str, issue: int, tree: Tree, branch: str, refs: Sequence[StackRef], actor: str,
                comment_id: int, policy: Policy) -> RunPlan:
    """`/apply` on a drift issue: its stack from the default branch's head `tree`, as the
    commenter, told on the issue."""
    provenance = Provenance(Trigger.COMMENT, actor, tree.sha, None)
    return replace(stacks(Operation.APPLY, refs, provenance, push_owner(repo, tree.sha), repo=repo,
                          state_branch=policy.settings.backend.branch),
                   request=Request(repo, issue, tree.sha, branch, comment_id, "", actor))


def push_request(event: PushEvent, pr: PullRequestInfo | None) -> Request:
    """Where a push's apply is told: the pull request it merged, else the pushed commit."""
    return Request(event.repo, pr.number if pr is not None else None, event.after, event.branch or event.ref,
                   None, pr.html_url if pr is not None else "", event.sender or event.pusher)


def drift(repo: str, tree: Tree, stacks: Sequence[StackRef], state_branch: str) -> RunPlan:
    """The drift check of `stacks` (those with a release) at the default branch's head."""
    return RunPlan(Operation.DRIFT, tuple(stacks), Provenance(Trigger.SCHEDULE, "", tree.sha),
                   Request(repo, None, tree.sha), lease_seconds=RUN_LEASE_SECONDS, state_branch=state_branch)


def stacks(operation: Operation, refs: Sequence[StackRef], provenance: Provenance, owner: str, *,
           repo: str = "", state_branch: str = "", revision: int | None = None) -> RunPlan:
    """A run named by its caller (the Action's `destroy`, the CLI): those stacks, locks taken
    as each stack starts and given back at the end."""
    return RunPlan(operation, tuple(refs), provenance, Request(repo, None, provenance.commit, actor=provenance.actor),
                   owner=owner, lease_seconds=RUN_LEASE_SECONDS, run_id=provenance.commit[:12],
                   state_branch=state_branch, revision=revision)


# --- who may ask ------------------------------------------------------------------------------


def permitted(access: Access, repo: str, actor: str, verb: Verb | None, policy: Policy) -> None:
    """PolicyDenied unless `actor` holds the permission `verb` needs (checked before a usage
    reply, so only someone who may run a command is told how to)."""
    rules.check_permission(verb, actor, access.host.permission(repo, actor), policy.settings.rules())


def authorize(access: Access, pr: PullRequestInfo, actor: str, command: Command, policy: Policy) -> None:
    """PolicyDenied unless `actor` may run `command` on `pr` under the trusted `policy`: the
    permission, a base the policy applies (`/apply`, `/destroy`), `apply: on-comment`
    (`/apply`) and the requirements (an approval at the head commit counts only from a reviewer
    who is neither the author nor a bot and holds `permissions.approve`)."""
    host, verb, trusted = access.host, command.verb, policy.settings
    permission = host.permission(pr.repo, actor)
    if verb in (Verb.APPLY, Verb.DESTROY):
        rules.check_permission(verb, actor, permission, trusted.rules())
        if not policy.applies_to(pr.base_ref):
            raise PolicyDenied(notices.applies_only_to(pr.base_ref, policy.apply_branches, policy.branch) + ".")
    if verb is Verb.APPLY and not trusted.apply_on_comment:
        raise PolicyDenied(refusals.applies_on_merge_only(trusted.apply, policy.branch))
    needed = trusted.permissions.override_policy
    if verb is Verb.APPLY and command.override_reason and rules.rank(permission) < rules.rank(needed):
        raise PolicyDenied(f"@{actor} has {permission} permission on this repository; "
                           f"/apply --override-policy needs {needed} (permissions.overridePolicy).")
    facts = rules.PullFacts(
        number=pr.number, author=pr.author, head_sha=pr.head_sha, is_fork=pr.is_fork,
        mergeable=pr.mergeable, closed=pr.state != "open",
    )
    if verb in (Verb.APPLY, Verb.DESTROY) and "approved" in trusted.requirements.apply:
        facts = _reviewed(access, pr, facts)
    rules.authorize(verb, actor, permission, facts, trusted.rules())


def _reviewed(access: Access, pr: PullRequestInfo, facts: rules.PullFacts) -> rules.PullFacts:
    """`facts` with the pull request's reviews and each approver's permission."""
    host = access.host
    reviews = tuple(rules.Review(r.author, r.state, r.commit_id, r.author_is_bot)
                    for r in host.reviews(pr.repo, pr.number))
    # Each approver's permission, from the code host: an approval by someone who may
    # not push (or who lost access since) does not count.
    approvers = {login.lower(): host.permission(pr.repo, login)
                 for login in rules.approval_candidates(replace(facts, reviews=reviews))}
    return replace(facts, reviews=tuple(
        replace(r, permission=approvers.get(r.author.lower(), "none")) for r in reviews))


def authorize_stacks(access: Access, pr: PullRequestInfo, actor: str, plan: RunPlan, policy: Policy,
                     changed: Sequence[str], read_trusted: Callable[[str], str | None],
                     reviews_from: Mapping[tuple[str, str, str], int] | None = None) -> None:
    """PolicyDenied unless each stack of an `/apply` or `/destroy` plan lets `actor` run it:
    the levels of its project and workspace (`permissions.projects`, `.workspaces`) and, with
    `requirements.apply: [code_owners]`, an approval at the head from an owner of each group
    owning the stack's changed paths (its directory when none of them is in it), as the
    CODEOWNERS file of the policy branch (`read_trusted`) says. `reviews_from` (by project,
    workspace, stack): the first review that counts for a stack whose preview moved since the
    earlier ones were given (bot.app.dashboard_previews)."""
    trusted = policy.settings.rules()
    starts = {key: n for key, n in (reviews_from or {}).items() if n > 0}
    if not trusted.projects and not trusted.workspaces and "code_owners" not in trusted.requirements \
            and not starts:
        return
    verb = Verb.APPLY if plan.operation is Operation.APPLY else Verb.DESTROY
    owners = codeowners.find({path: read_trusted(path) for path in codeowners.LOCATIONS}) \
        if "code_owners" in trusted.requirements else codeowners.CodeOwners()
    claims = tuple(rules.StackClaim(s.project, s.name, s.workspace, owners.groups(
        [p for p in changed if p.startswith(s.path + "/")] or [s.path + "/"]),
        starts.get((s.project, s.workspace, s.name), 0)) for s in plan.stacks)
    facts = _reviewed(access, pr, rules.PullFacts(number=pr.number, author=pr.author, head_sha=pr.head_sha,
                                                  is_fork=pr.is_fork, mergeable=pr.mergeable))
    teams = codeowners.teams_in(group for claim in claims for group in claim.owner_groups)
    members = {team: access.host.team_members(*team.split("/", 1)) for team in teams}
    rules.authorize_stacks(verb, actor, access.host.permission(pr.repo, actor), facts, trusted, claims, members)
