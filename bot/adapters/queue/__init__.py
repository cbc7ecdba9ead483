"""Event queues for the webhook server: SQLite (embedded, `sqlite.py`) and Redis (`redis.py`).

Both implement `bot.core.ports.EventQueue` with the same semantics; this module holds what
they share: the retry policy (bounded attempts, exponential backoff) and the retention of finished jobs and delivery IDs.
"""

from __future__ import annotations

from dataclasses import dataclass

# Finished jobs and their delivery IDs are kept this long. GitHub lets a delivery be
# redelivered for 3 days, so a week keeps every redelivery a no-op.
DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a failing job is tried and how long it waits between tries.

    The wait after the n-th failed attempt is `base_seconds * 2**(n-1)`, capped.
    """

    max_attempts: int = 5
    base_seconds: float = 2.0
    cap_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_seconds < 0 or self.cap_seconds < 0:
            raise ValueError("backoff seconds must not be negative")

    def delay(self, attempts: int) -> float:
        """Seconds to wait after `attempts` failed attempts."""
        return float(min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempts - 1))))

    def gives_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
