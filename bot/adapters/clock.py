"""The wall clock: `bot.core.ports.Clock` on the system time, in UTC.

The one place outside tests that reads the time of day for the queues, the state backend and
the job workers (they take a `Clock`, so tests pass a manual one).
"""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)
