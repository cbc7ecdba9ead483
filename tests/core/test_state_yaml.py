"""State-branch YAML: `yamlio.dump_data` writes what `yamlio.load_data` reads back, sorted and
without anchors, in the exact bytes existing state branches hold; `yamlio.locate_data` finds a
field's place in such a text for error messages."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from bot.core.yamlio import dump_data, load_data, locate_data

_SCALARS = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
_DATA = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(_DATA)
def test_dump_data_round_trips_and_is_deterministic(data: Any) -> None:
    text = dump_data(data)
    assert load_data("f.yaml", text) == data
    assert dump_data(load_data("f.yaml", text)) == text


def test_dump_data_writes_the_state_branch_bytes() -> None:
    shared = ["a"]
    data = {"b": "yes", "a": ["on", "1", "a\nb", "", None, True, {}, [], "é"], "s": shared, "t": shared}
    assert dump_data(data) == (
        "a:\n- 'on'\n- '1'\n- 'a\n\n  b'\n- ''\n- null\n- true\n- {}\n- []\n- é\n"
        "b: 'yes'\ns:\n- a\nt:\n- a\n"
    )


@given(st.dictionaries(st.from_regex(r"[a-z][a-zA-Z0-9]{0,8}", fullmatch=True), _DATA, min_size=1, max_size=5))
@example({"on": None})  # a key YAML 1.1 reads as a boolean is written quoted: located at its quote
def test_locate_data_points_at_each_top_level_key(data: dict[str, Any]) -> None:
    text = dump_data(data)
    lines = text.split("\n")
    for key in data:
        line, col = locate_data(text, (key,), at_key=True)
        assert lines[line - 1][col - 1:].startswith((f"{key}:", f"'{key}':"))


def test_locate_data_walks_into_lists_and_falls_back_to_the_deepest_existing_field() -> None:
    text = "a: 1\nitems:\n- name: x\n  size: 2\n- {name: y}\n"
    assert locate_data(text, ("items", 0, "size")) == (4, 9)
    assert locate_data(text, ("items", 1, "name"), at_key=True) == (5, 4)
    assert locate_data(text, ("items", 1, "size")) == (5, 3)
    assert locate_data(text, ("missing",)) == (1, 1)
    assert locate_data("a: [unclosed\n", ("a",)) == (0, 0)
