"""Who may do what, now: repository permission, apply requirements, forks and locks.

`authorize` is a pure decision over facts the caller gathered (the commenter's permission,
the pull request's reviews with each approver's permission, mergeability). It returns
nothing on success and raises `PolicyDenied` with a reason a person can act on.

An approval counts as GitHub's required reviews count it: the reviewer's latest review
approves the current head commit, the reviewer is not the pull request's author and not a
bot, and holds at least `Rules.approve_permission` (default write) on the repository. The
caller reads the permission of each `approval_candidates` login from the code host.

Per stack (`authorize_stacks`, once the stacks of an `/apply` or `/destroy` are known):
`Rules.for_stack` gives a stack its own levels (`permissions.projects.<project>` and
`permissions.workspaces.<workspace>` can only raise a level: each is the highest of the
repository's, the project's and the workspace's), and with the requirement `code_owners` each group of
owners of the stack's changed paths (bot.core.codeowners) needs an approval at the head from
one of them who holds the stack's approve level. Every refusal names who may approve.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.core import codeowners
from bot.core.commands import Verb
from bot.core.errors import PolicyDenied

# GitHub's repository permission levels, weakest first.
PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")
REQUIREMENTS = ("approved", "mergeable", "code_owners")


def rank(permission: str) -> int:
    """Order a permission level; unknown levels rank as none."""
    try:
        return PERMISSIONS.index(permission)
    except ValueError:
        return 0


@dataclass(frozen=True, slots=True)
class Review:
    author: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
    commit_id: str
    author_is_bot: bool = False
    permission: str = "none"  # the reviewer's repository permission, as the code host says


@dataclass(frozen=True, slots=True)
class PullFacts:
    """What the policy needs to know about a pull request."""

    number: int
    author: str
    head_sha: str
    is_fork: bool
    mergeable: bool | None
    reviews: tuple[Review, ...] = ()
    closed: bool = False


@dataclass(frozen=True, slots=True)
class Levels:
    """The permission levels a project or workspace sets (None: not set there)."""

    apply: str | None = None
    destroy: str | None = None
    approve: str | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """The repository's policy, from `shipmate.yaml`."""

    apply_permission: str = "write"
    destroy_permission: str = "maintain"
    requirements: tuple[str, ...] = ()
    approve_permission: str = "write"  # an approval counts from this permission up
    projects: tuple[tuple[str, Levels], ...] = ()  # (project, its levels), by name
    workspaces: tuple[tuple[str, Levels], ...] = ()  # (workspace, its levels), by name

    def for_stack(self, project: str, workspace: str) -> Rules:
        """The rules of a stack of `project` in `workspace`: each level the highest of the
        repository's and those its project and workspace set (a stack can only be stricter)."""
        set_here = [levels for name, levels in self.projects if name == project]
        set_here += [levels for name, levels in self.workspaces if name == workspace]

        def level(key: str, default: str) -> str:
            given: list[str] = [getattr(levels, key) for levels in set_here if getattr(levels, key) is not None]
            return max([default, *given], key=rank)

        return Rules(level("apply", self.apply_permission), level("destroy", self.destroy_permission),
                     self.requirements, level("approve", self.approve_permission))


@dataclass(frozen=True, slots=True)
class StackClaim:
    """One stack an `/apply` or `/destroy` would change, and the owner groups of its changed
    paths (empty without the requirement `code_owners`, or with nothing owned)."""

    project: str
    stack: str
    workspace: str
    owner_groups: tuple[tuple[str, ...], ...] = ()
    reviews_from: int = 0  # reviews before this one were for a preview that no longer holds


def _standing(pull: PullFacts) -> list[Review]:
    """Each reviewer's latest approving, rejecting or dismissed review (logins compare
    case-insensitively): a later "changes requested" or a dismissal withdraws an approval."""
    latest: dict[str, Review] = {}
    for review in pull.reviews:
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.author.lower()] = review
    return list(latest.values())


def approval_candidates(pull: PullFacts) -> tuple[str, ...]:
    """Logins whose standing approval of the head could count, once their permission is known:
    approvals of the current head by someone other than the author who is not a bot."""
    return tuple(sorted(
        r.author for r in _standing(pull)
        if r.state == "APPROVED" and r.commit_id == pull.head_sha and not r.author_is_bot
        and r.author and r.author.lower() != pull.author.lower()
    ))


def approved_at_head(pull: PullFacts, approve_permission: str = "write") -> bool:
    """True when someone other than the author, not a bot and with at least
    `approve_permission`, approved the current head and still does."""
    candidates = {login.lower() for login in approval_candidates(pull)}
    return any(
        r.author.lower() in candidates and rank(r.permission) >= rank(approve_permission)
        for r in _standing(pull)
    )


def required_permission(verb: Verb | None, rules: Rules) -> str:
    """The repository permission `verb` needs (None: answering a near miss of a command)."""
    if verb is None or verb is Verb.PREVIEW:
        return "read"
    if verb is Verb.HELP:
        return "none"
    if verb is Verb.UNLOCK:
        return "write"
    return rules.apply_permission if verb is Verb.APPLY else rules.destroy_permission


def check_permission(verb: Verb | None, actor: str, permission: str, rules: Rules) -> None:
    """Raise PolicyDenied unless `permission` is enough for `verb`."""
    needed = required_permission(verb, rules)
    if rank(permission) < rank(needed):
        what = f"/{verb}" if verb is not None else "Shipmate commands"
        raise PolicyDenied(f"@{actor} has {permission} permission on this repository; {what} needs {needed}.")


def authorize(verb: Verb, actor: str, permission: str, pull: PullFacts, rules: Rules) -> None:
    """Raise PolicyDenied unless `actor` (with `permission`) may run `verb` on `pull` now."""
    if verb is Verb.HELP:
        return
    if verb is Verb.UNLOCK:
        check_permission(verb, actor, permission, rules)
        return
    if pull.is_fork:
        raise PolicyDenied(
            "Pull requests from forks never run Terraform or apply: push the branch to this "
            "repository to use Shipmate."
        )
    if verb is Verb.PREVIEW:
        check_permission(verb, actor, permission, rules)
        return
    if pull.closed:
        raise PolicyDenied(f"Pull request #{pull.number} is closed.")
    check_permission(verb, actor, permission, rules)
    missing = list(unmet_requirements(pull, rules.requirements, rules.approve_permission))
    if missing:
        raise PolicyDenied(f"/{verb} requirements not met: {'; '.join(missing)}.")


def unmet_requirements(
    pull: PullFacts, requirements: Iterable[str], approve_permission: str = "write"
) -> Iterable[str]:
    for requirement in requirements:
        if requirement == "approved" and not approved_at_head(pull, approve_permission):
            yield (
                "the pull request needs an approval at the current head "
                f"({pull.head_sha[:7]}) from someone other than its author, not a bot, with "
                f"at least {approve_permission} permission"
            )
        elif requirement == "mergeable" and pull.mergeable is not True:
            yield "the pull request must be mergeable (no conflicts, required checks green)"


def authorize_stacks(verb: Verb, actor: str, permission: str, pull: PullFacts, rules: Rules,
                     stacks: Sequence[StackClaim], members: Mapping[str, Iterable[str]] | None = None) -> None:
    """Raise PolicyDenied unless every stack's own rules (`Rules.for_stack`) let `actor` run
    `verb` and its approvals hold: the permission, `approved` at the stack's approve level and
    `code_owners` (an approval from one owner of each group). The refusal lists every stack
    held back and who may approve it."""
    refusals: list[str] = []
    for claim in stacks:
        own = rules.for_stack(claim.project, claim.workspace)
        name = f"{claim.project}/{claim.stack} ({claim.workspace})"
        needed = required_permission(verb, own)
        if rank(permission) < rank(needed):
            refusals.append(f"{name}: /{verb} needs {needed} permission; @{actor} has {permission}")
            continue
        facts = pull if not claim.reviews_from else replace(pull, reviews=pull.reviews[claim.reviews_from:])
        since = " given since its latest preview" if claim.reviews_from else ""
        if "approved" in own.requirements and not approved_at_head(facts, own.approve_permission):
            refusals.append(f"{name}: needs an approval at the current head ({pull.head_sha[:7]}){since} from "
                            f"someone other than the author with at least {own.approve_permission} permission")
        if "code_owners" in own.requirements and claim.owner_groups:
            approvers = qualified_approvers(facts, own.approve_permission)
            for group in codeowners.unmet(claim.owner_groups, approvers, members):
                refusals.append(f"{name}: needs an approval at the current head ({pull.head_sha[:7]}){since} "
                                f"from {_one_of(group)}, with at least {own.approve_permission} permission")
    if refusals:
        raise PolicyDenied(f"/{verb} requirements not met:\n" + "\n".join(f"- {r}" for r in refusals))


def qualified_approvers(pull: PullFacts, approve_permission: str) -> tuple[str, ...]:
    """Logins whose standing approval of the head counts at `approve_permission`."""
    candidates = {login.lower() for login in approval_candidates(pull)}
    return tuple(sorted(r.author for r in _standing(pull)
                        if r.author.lower() in candidates and rank(r.permission) >= rank(approve_permission)))


def _one_of(group: tuple[str, ...]) -> str:
    """`@a`, `@a or @b`, `one of @a, @b or @c`: who may approve."""
    if len(group) == 1:
        return group[0]
    words = ", ".join(group[:-1]) + f" or {group[-1]}"
    return words if len(group) == 2 else f"one of {words}"
