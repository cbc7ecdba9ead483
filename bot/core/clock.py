"""Time values for the core: RFC 3339 formatting and parsing, and normalising to UTC.

The clock itself is a port (`bot.core.ports.Clock`); the wall clock lives in
`bot.adapters.clock`. Every time the state branch stores or a message prints is formatted
here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive time is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def utc_seconds(moment: datetime) -> datetime:
    """`utc(moment)` with second precision, the resolution releases are stored with."""
    return utc(moment).replace(microsecond=0)


def rfc3339(moment: datetime) -> str:
    """Format as RFC 3339 in UTC with second precision, as Kusion's releases do."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def rfc3339_micro(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds (lock leases); a naive time is taken to be UTC."""
    return utc(moment).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_time(value: Any) -> datetime:
    """A time read from YAML (already a datetime, or RFC 3339 text) in UTC; raises ValueError
    for anything else."""
    if isinstance(value, datetime):
        return utc(value)
    if isinstance(value, str):
        return utc(parse_rfc3339(value))
    raise ValueError(f"expected an RFC 3339 time, got {value!r}")
