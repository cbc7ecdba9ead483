"""Rollout waves: an apply of many stacks (a platform change to a workspace file touching
every stack of it) goes batch by batch, as `shipmate.yaml`'s `rollout` says.

`batches` cuts the stacks, already in dependency order (`StackGraph.order`: each stack after
every stack it depends on), into consecutive batches of at most `size`: a stack's
dependencies are in its own batch or an earlier one, so running batch after batch (and each
batch in its own dependency waves) keeps every `dependsOn`. `Rollout` tracks the batches'
states as they run; `bot.core.render.rollout` shows them on the pull request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

T = TypeVar("T")

WAITING = "waiting"
APPLYING = "applying"
APPLIED = "applied"
FAILED = "failed"
NOT_STARTED = "not started"


def batches(order: Sequence[T], size: int) -> tuple[tuple[T, ...], ...]:
    """`order` in consecutive batches of at most `size` (>= 1), in order."""
    if size < 1:
        raise ValueError(f"a batch holds at least one stack, got {size}")
    return tuple(tuple(order[i:i + size]) for i in range(0, len(order), size))


@dataclass(frozen=True, slots=True)
class Rollout:
    """The batches of one rollout (stack names) and each batch's state."""

    batches: tuple[tuple[str, ...], ...]
    states: tuple[str, ...]
    pause_seconds: int = 0

    @classmethod
    def start(cls, names: Sequence[Sequence[str]], pause_seconds: int = 0) -> Rollout:
        return cls(tuple(tuple(b) for b in names), tuple(WAITING for _ in names), pause_seconds)

    def with_state(self, index: int, state: str) -> Rollout:
        states = list(self.states)
        states[index] = state
        return replace(self, states=tuple(states))

    def stopped_after(self, index: int) -> Rollout:
        """Batch `index` failed and the rollout stops: later batches never start."""
        states = [s if i <= index else NOT_STARTED for i, s in enumerate(self.states)]
        return replace(self, states=tuple(states))
