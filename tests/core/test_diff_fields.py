"""Normalisation and field-level diffs: server fields, set-like vs ordered lists, paths."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.preview import (
    Action,
    DiffKind,
    KeySelector,
    changeset_from,
    diff,
    equivalent,
    format_path,
    normalize_attributes,
)
from bot.core.spec import KUBERNETES, TERRAFORM, Resource, Spec, State


def paths(a: Any, b: Any, k8s: bool = True) -> list[tuple[str, str]]:
    return [(d.dotted, d.kind.value) for d in diff(a, b, k8s)]


def test_server_populated_fields_are_dropped_for_kubernetes_only() -> None:
    obj = {
        "kind": "Pod",
        "metadata": {
            "name": "x",
            "uid": "u",
            "resourceVersion": "1",
            "generation": 2,
            "creationTimestamp": "t",
            "managedFields": [],
            "selfLink": "/x",
            "labels": {"a": "b"},
        },
        "status": {"phase": "Running"},
    }
    assert normalize_attributes(obj, KUBERNETES) == {
        "kind": "Pod",
        "metadata": {"name": "x", "labels": {"a": "b"}},
    }
    assert normalize_attributes(obj, TERRAFORM) == obj
    assert obj["status"] == {"phase": "Running"}  # input untouched


def test_set_like_lists_ignore_order_and_name_elements_by_key() -> None:
    a = {"containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]}
    b = {"containers": [{"name": "side", "image": "s:1"}, {"name": "app", "image": "a:2"}]}
    assert paths(a, b) == [("containers[name=app].image", "changed")]
    assert equivalent(a, {"containers": list(reversed(a["containers"]))})
    ports_a = {"ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]}
    ports_b = {
        "ports": [
            {"containerPort": 53, "protocol": "UDP"},
            {"containerPort": 80, "protocol": "TCP"},
        ]
    }
    assert equivalent(ports_a, ports_b) is False  # protocol added explicitly is a real field
    assert paths(ports_a, ports_b) == [("ports[containerPort=80,protocol=TCP].protocol", "added")]
    assert equivalent({"finalizers": ["a", "b"]}, {"finalizers": ["b", "a"]})


def test_ordered_lists_report_order_and_insertions() -> None:
    assert paths({"args": ["a", "b"]}, {"args": ["b", "a"]}) == [
        ("args[0]", "changed"),
        ("args[1]", "changed"),
    ]
    assert paths({"args": ["a", "c"]}, {"args": ["a", "b", "c"]}) == [("args[1]", "added")]
    env = [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert not equivalent({"env": env}, {"env": env[::-1]})  # env order matters ($(A) expansion)
    # Terraform lists are always ordered, even under a Kubernetes-looking name.
    assert not equivalent(
        {"containers": [{"name": "a"}, {"name": "b"}]},
        {"containers": [{"name": "b"}, {"name": "a"}]},
        False,
    )


def test_duplicate_keys_fall_back_to_ordered_comparison() -> None:
    a = {"containers": [{"name": "x", "v": 1}, {"name": "x", "v": 2}]}
    b = {"containers": [{"name": "x", "v": 2}, {"name": "x", "v": 1}]}
    assert not equivalent(a, b)
    assert paths(a, b) == [("containers[0].v", "changed"), ("containers[1].v", "changed")]


def test_type_changes_and_added_removed_keys() -> None:
    assert paths({"a": "3", "b": 1}, {"a": 3, "c": 2}) == [
        ("a", "changed"),
        ("b", "removed"),
        ("c", "added"),
    ]
    assert paths({"a": {"x": 1}}, {"a": [1]}) == [("a", "changed")]


def test_path_formatting_quotes_odd_keys() -> None:
    sel = KeySelector((("containerPort", 80), ("protocol", "TCP")))
    assert (
        format_path(("metadata", "annotations", "example.com/rev"))
        == 'metadata.annotations["example.com/rev"]'
    )
    assert (
        format_path(("spec", "ports", sel, "name"))
        == "spec.ports[containerPort=80,protocol=TCP].name"
    )
    assert format_path(("args", 2)) == "args[2]"
    assert format_path(("x", KeySelector((("name", "a b"),)))) == 'x[name="a b"]'


# --- properties ---------------------------------------------------------------------------------

KEYS = st.sampled_from(
    [
        "name",
        "image",
        "containers",
        "ports",
        "containerPort",
        "protocol",
        "args",
        "env",
        "data",
        "x",
        "finalizers",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(alphabet="abc:/ -", max_size=6),
)
JSONS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=20,
)
OBJECTS = st.dictionaries(KEYS, JSONS, max_size=5)


@settings(max_examples=150, deadline=None)
@given(OBJECTS)
def test_an_object_diffed_with_itself_is_empty(obj: dict[str, Any]) -> None:
    twin = copy.deepcopy(obj)
    assert diff(obj, twin) == () and diff(obj, twin, False) == ()
    assert equivalent(obj, twin) and equivalent(obj, twin, False)


@settings(max_examples=150, deadline=None)
@given(OBJECTS, OBJECTS)
def test_no_field_diff_exactly_when_equivalent(a: dict[str, Any], b: dict[str, Any]) -> None:
    for k8s in (True, False):
        assert (diff(a, b, k8s) == ()) == equivalent(a, b, k8s)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([KUBERNETES, TERRAFORM]), OBJECTS), max_size=6))
def test_a_state_previewed_against_itself_is_all_unchanged(
    items: list[tuple[str, dict[str, Any]]],
) -> None:
    resources = [Resource(f"r{i}", rtype, attrs) for i, (rtype, attrs) in enumerate(items)]
    state = State.of(resources)
    live = {r.id: copy.deepcopy(dict(r.attributes)) for r in resources}
    cs = changeset_from(Spec(tuple(resources)), state, live, copy.deepcopy(live))
    assert all(s.action is Action.UNCHANGED and s.diffs == () for s in cs.steps)
    assert len(cs.steps) == len(resources) and not cs.has_changes


def test_diff_kinds_carry_the_values() -> None:
    (d,) = diff({"a": {"b": 1}}, {"a": {"b": 2}})
    assert (d.path, d.kind, d.before, d.after) == (("a", "b"), DiffKind.CHANGED, 1, 2)
