"""The dependency graph: references (IDs with dots), resolution, orders, cycles; properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import PlanError
from bot.core.graph import (
    Graph,
    Reference,
    order,
    parse_reference,
    referenced_ids,
    resolve,
    reversed_edges,
)

CM = "v1:ConfigMap:shop:web.settings"
TF = "hashicorp:null:null_resource:seed"


def test_reference_to_an_id_with_dots_uses_the_longest_known_id() -> None:
    known = {CM, "v1:ConfigMap:shop:web", TF}
    assert parse_reference(f"$kusion_path.{CM}.metadata.name", known) == Reference(CM, ("metadata", "name"))
    assert parse_reference("$kusion_path.v1:ConfigMap:shop:web.data.x", known) == Reference(
        "v1:ConfigMap:shop:web", ("data", "x"))
    assert parse_reference(f"$kusion_path.{TF}", known) == Reference(TF, ())
    assert parse_reference("$kusion_path.v1:Secret:shop:x.data", known) is None
    assert parse_reference("plain text", known) is None
    assert str(Reference(CM, ("metadata", "name"))) == f"$kusion_path.{CM}.metadata.name"


def test_references_are_found_anywhere_in_attributes() -> None:
    attrs = {"a": [{"b": f"$kusion_path.{TF}.id"}, "x"], "c": {"d": f"$kusion_path.{CM}.data.k"},
             "e": "$kusion_path.nope.id"}
    found, unknown = referenced_ids(attrs, {TF, CM})
    assert found == [TF, CM]
    assert unknown == ["$kusion_path.nope.id"]


def test_resolve_replaces_values_and_reports_missing_ones() -> None:
    results = {TF: {"id": "123", "triggers": {"a": "b"}}, CM: {"metadata": {"name": "web.settings"}, "list": [1, 2]}}
    attrs = {"x": f"$kusion_path.{TF}.id", "y": [f"$kusion_path.{CM}.metadata.name"],
             "z": f"$kusion_path.{TF}.triggers", "w": f"$kusion_path.{CM}.list.1", "keep": 3}
    assert resolve(attrs, results) == {
        "x": "123", "y": ["web.settings"], "z": {"a": "b"}, "w": 2, "keep": 3}
    with pytest.raises(PlanError, match="has no attribute nothing"):
        resolve(f"$kusion_path.{TF}.nothing", results)
    with pytest.raises(PlanError, match="no such resource"):
        resolve("$kusion_path.v1:Secret:a:b.data", results)


def test_the_preview_leaves_what_only_the_apply_knows_and_batches_resolve_natively() -> None:
    results = {TF: {"id": "123"}}
    attrs = {"x": f"$kusion_path.{TF}.id", "later": f"$kusion_path.{TF}.output", "other": f"$kusion_path.{CM}.data",
             "mine": "$kusion_path.hashicorp:null:null_resource:b.id"}
    assert resolve(attrs, results, inside={"hashicorp:null:null_resource:b"}, strict=False, unknown="(after apply)") == {
        "x": "123", "later": "(after apply)", "other": f"$kusion_path.{CM}.data",
        "mine": "$kusion_path.hashicorp:null:null_resource:b.id"}


def test_orders_ignore_unknown_nodes_and_a_display_order_never_fails() -> None:
    edges = {"a": {"b", "zz"}, "b": set(), "c": {"a"}}
    assert order(edges) == ("b", "a", "c")
    assert order(reversed_edges(edges)) == ("c", "a", "b")
    cyclic = {"a": {"b"}, "b": {"a"}, "c": set(), "d": {"d"}}
    with pytest.raises(PlanError, match="dependency cycle: a -> b -> a"):
        order(cyclic)
    assert order(cyclic, strict=False) == ("c", "d", "a", "b")


# --- properties ----------------------------------------------------------------------------------

NODES = [f"n{i}" for i in range(12)]


@st.composite
def dags(draw: st.DrawFn) -> dict[str, set[str]]:
    """Random DAGs: edges only go from a later node to an earlier one in a shuffled order."""
    order = draw(st.permutations(NODES[: draw(st.integers(1, len(NODES)))]))
    edges: dict[str, set[str]] = {n: set() for n in order}
    for i, node in enumerate(order):
        if i:
            edges[node] = set(draw(st.lists(st.sampled_from(order[:i]), max_size=4)))
    return edges


@st.composite
def digraphs(draw: st.DrawFn) -> dict[str, set[str]]:
    nodes = NODES[: draw(st.integers(1, 8))]
    return {n: set(draw(st.lists(st.sampled_from(nodes), max_size=3))) for n in nodes}


@settings(max_examples=100, deadline=None)
@given(dags())
def test_topological_order_respects_every_edge(edges: dict[str, set[str]]) -> None:
    graph = Graph({n: frozenset(d) for n, d in edges.items()})
    got = graph.topological_order()
    assert got == order(edges) and sorted(got) == sorted(edges)
    position = {n: i for i, n in enumerate(got)}
    for node, deps in edges.items():
        for dep in deps:
            assert position[dep] < position[node]
    reverse = {n: i for i, n in enumerate(graph.reverse_order())}
    assert all(reverse[dep] > reverse[node] for node, deps in edges.items() for dep in deps)
    deleting = {n: i for i, n in enumerate(order(reversed_edges(edges)))}
    assert all(deleting[node] < deleting[dep] for node, deps in edges.items() for dep in deps)


@settings(max_examples=100, deadline=None)
@given(digraphs())
def test_cycle_detection_finds_a_real_cycle(edges: dict[str, set[str]]) -> None:
    graph = Graph({n: frozenset(d) for n, d in edges.items()})
    cycle = graph.find_cycle()
    if cycle is None:
        order = graph.topological_order()  # no cycle: a full order exists
        assert len(order) == len(edges)
        return
    assert cycle[0] == cycle[-1] and len(cycle) >= 2
    for node, dep in zip(cycle, cycle[1:], strict=False):
        assert dep in edges[node]
    with pytest.raises(PlanError, match="dependency cycle"):
        graph.topological_order()


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.sampled_from(NODES), st.dictionaries(st.sampled_from("xyz"), st.integers()), max_size=6),
       st.lists(st.tuples(st.sampled_from(NODES), st.sampled_from("xyzw")), max_size=8),
       st.sets(st.sampled_from(NODES), max_size=3))
def test_resolve_never_leaves_a_reference_to_a_known_attribute(
    known: dict[str, dict[str, int]], refs: list[tuple[str, str]], inside: set[str]
) -> None:
    attrs = [f"$kusion_path.{rid}.{attr}" for rid, attr in refs]
    got = resolve(attrs, known, inside=inside, strict=False, unknown=None)
    for (rid, attr), value in zip(refs, got, strict=True):
        if rid in inside:
            assert value == f"$kusion_path.{rid}.{attr}"
        elif rid in known:
            assert value == known[rid].get(attr)
        else:
            assert value == f"$kusion_path.{rid}.{attr}"
