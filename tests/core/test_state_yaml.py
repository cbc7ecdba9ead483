"""State-branch YAML: `yamlio.dump_data` writes what `yamlio.load_data` reads back, sorted and
without anchors, in the exact bytes existing state branches hold."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.core.yamlio import dump_data, load_data

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
