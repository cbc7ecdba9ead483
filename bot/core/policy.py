"""Who may do what, now: repository permission, apply requirements, forks and locks.

`authorize` is a pure decision over facts the caller gathered (the commenter's permission,
the pull request's reviews and mergeability). It returns nothing on success and raises
`PolicyDenied` with a reason a person can act on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.commands import Verb
from bot.core.errors import PolicyDenied

# GitHub's repository permission levels, weakest first.
PERMISSIONS = ("none", "read", "triage", "write", "maintain", "admin")
REQUIREMENTS = ("approved", "mergeable")


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
class Rules:
    """The repository's policy, from `shipmate.yaml`."""

    apply_permission: str = "write"
    destroy_permission: str = "maintain"
    requirements: tuple[str, ...] = ()


def approved_at_head(pull: PullFacts) -> bool:
    """True when someone other than the author approved the current head and still does.

    Only each reviewer's latest review counts, so a later "changes requested" or a dismissal
    withdraws an earlier approval; an approval of an older commit does not count.
    """
    latest: dict[str, Review] = {}
    for review in pull.reviews:
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.author] = review
    return any(
        r.state == "APPROVED" and r.commit_id == pull.head_sha and r.author != pull.author
        for r in latest.values()
    )


def authorize(verb: Verb, actor: str, permission: str, pull: PullFacts, rules: Rules) -> None:
    """Raise PolicyDenied unless `actor` (with `permission`) may run `verb` on `pull` now."""
    if verb is Verb.HELP:
        return
    if verb is Verb.UNLOCK:
        if rank(permission) < rank("write"):
            raise PolicyDenied(f"@{actor} needs write permission to run /unlock (has {permission}).")
        return
    if pull.is_fork:
        raise PolicyDenied(
            "Pull requests from forks never run Terraform or apply: push the branch to this "
            "repository to use Shipmate."
        )
    if verb is Verb.PREVIEW:
        if rank(permission) < rank("read"):
            raise PolicyDenied(f"@{actor} needs read permission to run /preview.")
        return
    if pull.closed:
        raise PolicyDenied(f"Pull request #{pull.number} is closed.")
    needed = rules.apply_permission if verb is Verb.APPLY else rules.destroy_permission
    if rank(permission) < rank(needed):
        raise PolicyDenied(
            f"@{actor} has {permission} permission on this repository; /{verb} needs {needed}."
        )
    missing = list(unmet_requirements(pull, rules.requirements))
    if missing:
        raise PolicyDenied(f"/{verb} requirements not met: {'; '.join(missing)}.")


def unmet_requirements(pull: PullFacts, requirements: Iterable[str]) -> Iterable[str]:
    for requirement in requirements:
        if requirement == "approved" and not approved_at_head(pull):
            yield (
                "the pull request needs an approval from someone other than its author "
                f"at the current head ({pull.head_sha[:7]})"
            )
        elif requirement == "mergeable" and pull.mergeable is not True:
            yield "the pull request must be mergeable (no conflicts, required checks green)"
