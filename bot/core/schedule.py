"""Cron schedules, as `shipmate.yaml`'s `drift.schedule` writes them: the one place that says
whether an expression is valid and when it fires next.

An expression is five fields (minute, hour, day of month, month, day of week; Sunday is 0 or
7, names such as `mon` and ranges, lists and steps as in cron) or one of the macros
`@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight` and `@hourly`. As in
cron, a day of month and a day of week both restricted means either. Times are UTC.

`problem` is the validation the settings parser runs; it asks croniter for a fire time, so
an expression that names no real date (`0 0 30 2 *`) is refused there, and an expression that
validates never fails later inside the drift job (`next_fire`, `due`, `latest_fire`).
Pure: the caller gives every time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croniter import CroniterError, croniter

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
}
_REFERENCE = datetime(2000, 1, 1, tzinfo=UTC)
_FAILURES = (CroniterError, ValueError, KeyError, IndexError, TypeError, OverflowError)


class InvalidSchedule(ValueError):
    """A cron expression `problem` refuses."""


def _fields(expression: str) -> str:
    text = expression.strip()
    text = MACROS.get(text.lower(), text)
    if len(text.split()) != 5:
        raise InvalidSchedule(f"expected 5 cron fields or a macro such as @daily, got {expression!r}")
    return text


def problem(expression: str) -> str | None:
    """None when `expression` is a schedule this module can fire, else what is wrong with it."""
    try:
        text = _fields(expression)
        croniter(text, _REFERENCE).get_next(datetime)
    except InvalidSchedule as exc:
        return str(exc)
    except _FAILURES as exc:
        return f"it does not fire ({exc})"
    return None


def next_fire(expression: str, after: datetime) -> datetime:
    """The first fire time strictly after `after` (UTC). `InvalidSchedule` when `problem`
    would refuse the expression."""
    why = problem(expression)
    if why is not None:
        raise InvalidSchedule(why)
    fired: datetime = croniter(_fields(expression), after.astimezone(UTC)).get_next(datetime)
    return fired.astimezone(UTC)


def latest_fire(expression: str, now: datetime) -> datetime:
    """The last fire time at or before `now` (UTC)."""
    why = problem(expression)
    if why is not None:
        raise InvalidSchedule(why)
    start = now.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    fired: datetime = croniter(_fields(expression), start).get_prev(datetime)
    return fired.astimezone(UTC)


def due(expression: str, last: datetime, now: datetime) -> bool:
    """Whether the schedule fires after `last` and at or before `now`."""
    return next_fire(expression, last) <= now
