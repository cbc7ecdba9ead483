"""What running stacks produced: one `StackOutcome` per stack, gathered in a `RunResult`.

Every entry point (a pull request's preview, `/apply`, `/destroy`, the apply of a merge, a
drift check, `shipmate apply`/`destroy`/`release rollback`, the GitHub Action) gets these
values from `bot.app.runner.StackRunner`, and every rendering (`bot.core.render`) and
reporter (`bot.core.ports.Reporter`) reads them. A preview's outcome has a change set and no
release; an apply's, destroy's or rollback's has the release it recorded; a stack that could
not run (bad config, a lock held by someone else) has only its error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.fingerprint import Fingerprint
from bot.core.lock import Lock
from bot.core.policy_code import PolicyResult
from bot.core.preview.model import Action, ChangeSet, Counts, total_counts


@dataclass(frozen=True, slots=True)
class StackOutcome:
    """What happened to one stack, ready to render (every text already masked)."""

    project: str
    stack: str
    workspace: str
    changeset: ChangeSet | None = None  # None: the stack did not get as far as a preview
    error: str | None = None  # why it failed or did not run; None: it did what was asked
    revision: int | None = None  # the release recorded; None: none was (a preview, a dry run)
    phase: str = ""  # the release's last phase
    failed: tuple[tuple[str, str], ...] = ()  # (resource ID, message) of operations that failed
    skipped: tuple[tuple[str, str], ...] = ()  # (resource ID, why) of operations never started
    summary: str = ""  # the operations at a glance, e.g. "3 done, 1 failed"
    declined: bool = False  # the person asked to confirm said no: nothing was recorded
    warnings: tuple[str, ...] = ()  # located notes on the config that did not stop it (an ignored key)
    # What an approval of this preview is pinned to (bot.core.fingerprint): set by a pull
    # request's preview, and by an apply refused because what it would do is no longer what
    # was previewed (its change set is then the new difference).
    fingerprint: Fingerprint | None = None
    # What the repository's Rego policies said of this stack's preview (bot.core.policy_code);
    # None: the repository has no policies, or the stack was not previewed.
    policy: PolicyResult | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def ran(self) -> bool:
        """A release was recorded for it."""
        return self.revision is not None

    @property
    def name(self) -> str:
        return f"{self.project}/{self.stack}"

    @property
    def key(self) -> str:
        """Its lock and release history: `project/workspace`."""
        return f"{self.project}/{self.workspace}"

    @property
    def counts(self) -> Counts | None:
        return self.changeset.counts() if self.changeset is not None else None

    @property
    def changes(self) -> tuple[tuple[str, Action], ...]:
        """(resource ID, action) of every change it made or would make."""
        if self.changeset is None:
            return ()
        return tuple((step.id, step.action) for step in self.changeset.changed_steps())

    @property
    def problems(self) -> tuple[tuple[str, str], ...]:
        """Failed operations, then skipped ones (`skipped: why`), as a result comment lists them."""
        return (*self.failed, *((rid, f"skipped: {why}") for rid, why in self.skipped))

    @classmethod
    def previewed(cls, changeset: ChangeSet) -> StackOutcome:
        return cls(changeset.project, changeset.stack, changeset.workspace, changeset)

    @classmethod
    def refused(cls, project: str, stack: str, workspace: str, error: str) -> StackOutcome:
        """A stack that did not run: bad config, a lock held by someone else, a failed preview."""
        return cls(project, stack, workspace, error=error)


REPOSITORY = "(repository)"


def repository_failure(error: str) -> StackOutcome:
    """The outcome standing for a whole repository whose stacks could not even be found."""
    return StackOutcome.refused(REPOSITORY, "*", "", error)


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcomes of one run, in the order its stacks were planned, with what its renderings
    must hide and the locks worth telling about."""

    stacks: tuple[StackOutcome, ...] = ()
    secrets: frozenset[str] = frozenset()  # every secret literal the run's stacks know
    locked: tuple[Lock, ...] = ()  # locks others hold on these stacks (a preview says so)
    freed: tuple[Lock, ...] = ()  # locks the run released that an earlier run took (a merge's)

    @property
    def failed(self) -> int:
        """Stacks that failed or produced no change set."""
        return sum(1 for s in self.stacks if not s.ok or s.changeset is None)

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stacks)

    @property
    def counts(self) -> Counts:
        """The changes of every stack that got a change set."""
        return total_counts(s.changeset for s in self.stacks if s.changeset is not None)

    @property
    def names(self) -> tuple[str, ...]:
        """`project/stack` of the real stacks (not a repository-wide failure)."""
        return tuple(s.name for s in self.stacks if s.project != REPOSITORY)

    def plus(self, other: RunResult) -> RunResult:
        return RunResult((*self.stacks, *other.stacks), self.secrets | other.secrets,
                         (*self.locked, *other.locked), (*self.freed, *other.freed))

    @classmethod
    def of(cls, stacks: Iterable[StackOutcome], secrets: Iterable[str] = ()) -> RunResult:
        return cls(tuple(stacks), frozenset(secrets))


def drift_names(result: RunResult) -> tuple[list[str], list[str], list[str]]:
    """(checked, drifted, failed) `project/stack` names of a drift check's result: a stack
    drifts when its preview has any change; one without a change set failed to check."""
    checked = [s.name for s in result.stacks]
    failed = [s.name for s in result.stacks if not s.ok or s.changeset is None]
    drifted = [s.name for s in result.stacks if s.ok and s.changeset is not None and s.changeset.has_changes]
    return checked, drifted, failed
