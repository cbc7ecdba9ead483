"""What happened to one stack in an apply or destroy: the value every result rendering reads
(`bot.core.render.results`), the Action's outputs and the merge's status.

Built from a stack use case's result by `bot.app.results.run_of`, or refused before it ran.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.core.preview.model import Action, Counts


@dataclass(frozen=True, slots=True)
class StackRun:
    """What happened to one stack in an apply or destroy, ready to render."""

    project: str
    stack: str
    workspace: str
    ok: bool
    revision: int | None = None
    phase: str = ""
    counts: Counts | None = None
    changes: tuple[tuple[str, Action], ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (resource ID, message)
    error: str | None = None  # why it failed or did not run

    @property
    def ran(self) -> bool:
        return self.revision is not None

    @property
    def name(self) -> str:
        return f"{self.project}/{self.stack}"

    @classmethod
    def refused(cls, project: str, stack: str, workspace: str, error: str) -> StackRun:
        """A stack that did not run: bad config, a lock held by someone else, ..."""
        return cls(project, stack, workspace, ok=False, error=error)
