"""The lock queue's line: first in, first out, a pull request in it once, expired entries
left out, and its YAML read back as written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.errors import ConfigError
from bot.core.lockqueue import LockQueue, Waiting, ordinal

T0 = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)


def entry(number: int, hours: int = 24) -> Waiting:
    return Waiting(number, f"user{number}", None if number % 2 else 4000 + number, T0, T0 + timedelta(hours=hours))


@given(st.lists(st.integers(min_value=1, max_value=20), max_size=30))
def test_first_in_first_out_and_each_pull_request_once(numbers: list[int]) -> None:
    line = LockQueue("shop", "dev")
    for n in numbers:
        line = line.join(entry(n))
    expected = list(dict.fromkeys(numbers))
    assert [e.pull_request for e in line.waiting] == expected
    assert all(line.position(n) == expected.index(n) + 1 for n in expected)
    assert LockQueue.from_yaml(line.to_yaml(), "queues/shop/dev.yaml") == line
    for n in expected[:1]:
        assert [e.pull_request for e in line.leave(n).waiting] == expected[1:]


@given(st.lists(st.tuples(st.integers(min_value=1, max_value=9), st.integers(min_value=1, max_value=48)), max_size=12),
       st.integers(min_value=0, max_value=50))
def test_expired_entries_are_left_out(items: list[tuple[int, int]], after: int) -> None:
    line = LockQueue("shop", "dev")
    for n, hours in items:
        line = line.join(entry(n, hours))
    now = T0 + timedelta(hours=after)
    assert [e.pull_request for e in line.live(now).waiting] == [e.pull_request for e in line.waiting
                                                                if e.expires_at > now]


def test_a_malformed_line_names_its_file_and_entry() -> None:
    with pytest.raises(ConfigError, match=r"queues/shop/dev.yaml.*waiting\[0\]"):
        LockQueue.from_yaml("project: shop\nworkspace: dev\nwaiting:\n- {pullRequest: x}\n", "queues/shop/dev.yaml")


def test_places_in_line() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"]


def test_a_merge_entry_is_read_back_and_leaves_only_when_asked() -> None:
    merge = Waiting(7, "carol", None, T0, T0 + timedelta(hours=2), "/apply", "5d6e7f8" * 5 + "abcde",
                    ("shop/dev", "shop/prod"))
    line = LockQueue("shop", "dev").join(entry(3)).join(merge).join(entry(9))
    text = line.to_yaml()
    assert "merge:\n    commit: 5d6e7f8" in text and "    - shop/prod\n" in text
    again = LockQueue.from_yaml(text, "queues/shop/dev.yaml")
    assert again == line and again.waiting[1].is_merge and not again.waiting[0].is_merge
    assert line.leave(7) == line  # closing, merging, the sweeper: a merge's own entry stays
    assert [e.pull_request for e in line.leave(7, merges=True).waiting] == [3, 9]  # /unlock
    assert [e.pull_request for e in line.behind_first().waiting] == [7, 9]
    with pytest.raises(ConfigError, match=r"waiting\[0\].*merge"):
        LockQueue.from_yaml("project: shop\nworkspace: dev\nwaiting:\n- {pullRequest: 1, actor: a, commentId: null, "
                            "queuedAt: '2026-12-05T15:00:00Z', expiresAt: '2026-12-06T15:00:00Z', merge: [x]}\n",
                            "queues/shop/dev.yaml")
