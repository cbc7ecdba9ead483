"""When an apply's state reaches the state backend: the `FlushPolicy`.

The executor hands the recorder the stack's State after every finished operation. Writing
each one would be a commit rewriting the whole release file (a push, for a remote): an apply
of n resources would write its release n times. The `ReleaseRecorder` keeps the newest State
pending instead and writes it when the policy says it is due: once enough operations wait
(`max_pending`, or `pending_share` of the operations the apply runs when that is more), or
when an event of the run (an operation finished, started or waiting for readiness) comes
`max_interval_seconds` or more after the release was last written. Phase changes (start,
finish, abort) always write, and so do a cancel, a lease renewal and each finished operation
of a `recorded-state` runtime (its record is kept nowhere but in the release); the
finish writes whatever is still pending in the same commit that ends the release.

The share keeps a large apply that runs fast to a few writes, whatever its size (each write
is a whole release file: a fixed count would make the bytes written grow with the square of
the stack); the interval keeps the recorded state at most about a second behind whenever
operations keep finishing.

What a crash loses is only what finished since the last write: those objects are live and
equal to the Spec, so the next apply previews them as unchanged and adopts them into its
State (`bot.core.plan.mark_adoptions`), as it adopts anything already there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlushPolicy:
    """How long and how many finished operations the recorded state may lag behind the
    executor's: written when `batch(planned)` operations wait, or at the first event
    `max_interval_seconds` after the last write."""

    max_interval_seconds: float = 1.0
    max_pending: int = 25
    pending_share: float = 0.25

    def __post_init__(self) -> None:
        if self.max_interval_seconds < 0:
            raise ValueError("max_interval_seconds must not be negative")
        if self.max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        if not 0 <= self.pending_share <= 1:
            raise ValueError("pending_share must be between 0 and 1")

    def batch(self, planned: int) -> int:
        """How many finished operations make a write due, in an apply running `planned`."""
        return max(self.max_pending, math.ceil(self.pending_share * planned))

    def due(self, pending: int, seconds_since_write: float, planned: int = 0) -> bool:
        """Whether `pending` finished operations (of `planned`), the last write
        `seconds_since_write` ago, are to be written now."""
        if pending <= 0:
            return False
        return pending >= self.batch(planned) or seconds_since_write >= self.max_interval_seconds

