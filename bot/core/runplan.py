"""What one run is to do, decided before anything runs: the `RunPlan` the builder
(`bot.app.builder`) makes from an event or CLI arguments and the runner
(`bot.app.runner.StackRunner`) carries out.

A plan names the operation, the stacks (in the order results are shown), who asked and from
where (`Request`: the pull request, the comment, the commit), what the release records about
it (`Provenance`), and how locks are held: the owner, whether every lock is taken before the
first stack runs (`/apply`, `/destroy`: all or nothing) and whether they are kept afterwards
(a pull request keeps its locks until it merges). A plan whose stacks could not even be found
carries the reason in `refusal` instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.core.affected import StackRef
from bot.core.release import Trigger


class Operation(StrEnum):
    PREVIEW = "preview"
    APPLY = "apply"
    DESTROY = "destroy"
    ROLLBACK = "rollback"
    DRIFT = "drift"

    @property
    def changes(self) -> bool:
        """It records releases and changes live objects (it needs locks)."""
        return self not in (Operation.PREVIEW, Operation.DRIFT)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who and what started an operation (recorded in the release)."""

    trigger: Trigger = Trigger.CLI
    actor: str = ""
    commit: str = ""
    pull_request: int | None = None
    # `/apply --override-policy`: who applied past the repository's failing policies, and why
    # (recorded in the release as `policyOverride`).
    policy_override: str | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """Where a run was asked for and where its outcome is told."""

    repo: str = ""
    number: int | None = None  # the pull request (None: a push, a schedule, the CLI)
    sha: str = ""  # the commit its statuses go on
    branch: str = ""  # the branch pushed to (a merge's)
    comment_id: int | None = None  # the comment that asked (a command)
    html_url: str = ""  # the pull request's page
    actor: str = ""
    # `-p`/`-s` of the command that narrowed the stacks, shown in the preview's title.
    filters: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunPlan:
    """One run: which operation on which stacks, for whom, under which locks."""

    operation: Operation
    stacks: tuple[StackRef, ...]
    provenance: Provenance = Provenance()
    request: Request = Request()
    owner: str = ""  # the lock owner (`bot.app.locking` names them)
    lease_seconds: float = 900.0
    run_id: str = ""  # recorded on the locks it takes
    locks_first: bool = False  # take every lock before the first stack runs; refuse if one is held
    keep_locks: bool = False  # the locks stay held for `owner` afterwards
    take_over: bool = False  # adopt the locks `owner` holds already (a merged pull request's)
    revision: int | None = None  # the release a rollback returns to
    state_branch: str = ""
    refusal: str | None = None  # why no stacks could be found (the repository's config is unreadable)
    notices: tuple[str, ...] = field(default=())  # lines the report shows first (a preview-only base)

    @property
    def keys(self) -> tuple[tuple[str, str], ...]:
        """(project, workspace) of every stack, sorted: the order locks are taken in."""
        return tuple(sorted({(s.project, s.workspace) for s in self.stacks}))
