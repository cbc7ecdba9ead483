"""Cron schedules: one module validates `drift.schedule` and computes its fire times, so an
expression that validates never fails later inside the drift job."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import schedule
from bot.core.config.settings import parse_settings
from bot.core.errors import ConfigError

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday
SUNDAY = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)


def test_sunday_is_zero_or_seven_and_macros_expand() -> None:
    assert schedule.due("0 6 * * 1", SUNDAY, datetime(2026, 3, 2, 6, 0, tzinfo=UTC))  # Monday 06:00
    assert not schedule.due("0 6 * * 1", SUNDAY, datetime(2026, 3, 2, 5, 59, tzinfo=UTC))
    assert schedule.due("0 6 * * 0", datetime(2026, 2, 28, 7, 0, tzinfo=UTC), datetime(2026, 3, 1, 6, 0, tzinfo=UTC))
    assert schedule.due("30 2 * * 1-5", SUNDAY, NOW) and not schedule.due("30 2 * * 6,7", SUNDAY, NOW)
    assert schedule.due("@daily", NOW - timedelta(hours=23), NOW + timedelta(hours=12))
    assert schedule.next_fire("0 6 * * 7", NOW) == datetime(2026, 3, 8, 6, 0, tzinfo=UTC)


def test_the_latest_fire_time_counts_the_minute_it_fires() -> None:
    six = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert schedule.latest_fire("0 6 * * *", six) == six
    assert schedule.latest_fire("0 6 * * *", six + timedelta(seconds=59)) == six
    assert schedule.latest_fire("0 6 * * *", six - timedelta(seconds=1)) == six - timedelta(days=1)


@pytest.mark.parametrize("expression", ["0 6 * *", "* * * * * *", "every day", "0 0 30 2 *", "61 * * * *",
                                        "@reboot", "0 6 * * funday", ""])
def test_problems_are_named_and_the_fire_times_refuse_them(expression: str) -> None:
    assert schedule.problem(expression) is not None
    with pytest.raises(schedule.InvalidSchedule):
        schedule.next_fire(expression, NOW)


def test_the_settings_refuse_a_schedule_that_never_fires() -> None:
    with pytest.raises(ConfigError, match="it does not fire"):
        parse_settings("shipmate.yaml", 'drift:\n  schedule: "0 0 31 2 *"\n')
    assert parse_settings("shipmate.yaml", 'drift:\n  schedule: "@weekly"\n').drift.schedule == "@weekly"


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high).map(str)
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(lambda t: f"{min(t)}-{max(t)}")
    step = st.tuples(st.sampled_from(["*", f"{low}-{high}"]), st.integers(1, high - low + 1)).map(
        lambda t: f"{t[0]}/{t[1]}")
    item = st.one_of(st.just("*"), number, span, step)
    return st.lists(item, min_size=1, max_size=3).map(",".join)


cron = st.one_of(
    st.sampled_from(sorted(schedule.MACROS)),
    st.tuples(_field(0, 59), _field(0, 23), _field(1, 31), _field(1, 12), _field(0, 7)).map(" ".join),
)
noise = st.text(alphabet=st.sampled_from("0123456789*/,- @LW#?abcdefmnorstuwy"), max_size=24)
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))


@given(st.one_of(cron, noise), instants)
def test_a_schedule_that_validates_always_fires(expression: str, after: datetime) -> None:
    if schedule.problem(expression) is not None:
        return
    following = schedule.next_fire(expression, after)
    assert following > after and following.tzinfo is not None
    assert schedule.due(expression, after, following)
    assert not schedule.due(expression, after, following - timedelta(seconds=1))
    assert schedule.latest_fire(expression, following) == following


@given(cron)
def test_cron_fields_in_range_validate(expression: str) -> None:
    # every expression built from in-range fields is valid unless it names no real date
    # (the 30th or 31st of February alone), which validation refuses up front
    why = schedule.problem(expression)
    assert why is None or "does not fire" in why
