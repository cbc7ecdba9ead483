"""The Spec writer: any plain data dumps to YAML that PyYAML and ruamel.yaml read back equal."""

from __future__ import annotations

import json
from typing import Any

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.core.yamlio import canonical, dump_json, dump_yaml, load

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=20),
    st.sampled_from([
        "yes", "No", "on", "null", "~", "1.5", "0x1F", "0o17", "1e3", "2024-01-01", "-", "- a", "a: b",
        "a #b", "#x", "@x", "`x", "!x", "&x", "*x", "|x", ">x", "%x", "'q'", '"q"', "[a]", "{a}", "?", ":",
        " lead", "trail ", "tab\there", "\u2028", "é", "v1:Namespace:x", "$kusion_path.a:b.c", "=", "<<",
    ]),
)
keys = st.one_of(st.text(max_size=12), st.sampled_from(["on", "yes", "1", "a: b", "-x", "app.kubernetes.io/name"]))
data = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=25,
)


def same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@settings(max_examples=120, deadline=None)
@given(data)
@example({"A\n": None})  # a plain-looking key ending in a newline must be quoted
def test_dumped_yaml_reads_back_equal_in_pyyaml_and_ruamel(value: Any) -> None:
    text = dump_yaml(value)
    assert same(yaml.safe_load(text), value), text
    assert same(load("x.yaml", text).data, value), text
    assert dump_yaml(value) == text


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(keys, data, max_size=5))
def test_canonical_sorts_keys_and_json_round_trips(value: dict[str, Any]) -> None:
    ordered = canonical(value)
    assert list(ordered) == sorted(value)
    assert json.loads(dump_json(ordered)) == json.loads(json.dumps(value))
