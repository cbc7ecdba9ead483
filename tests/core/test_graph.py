"""The dependency graph: references (IDs with dots), orders, cycles, reduction; properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import PlanError
from bot.core.graph import (
    Graph,
    Reference,
    build_graph,
    graph_of,
    parse_reference,
    referenced_ids,
    resolve_references,
)
from bot.core.spec import KUBERNETES, TERRAFORM, Resource

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


def test_resolve_references_replaces_values_and_reports_missing_ones() -> None:
    results = {TF: {"id": "123", "triggers": {"a": "b"}}, CM: {"metadata": {"name": "web.settings"}, "list": [1, 2]}}
    attrs = {"x": f"$kusion_path.{TF}.id", "y": [f"$kusion_path.{CM}.metadata.name"],
             "z": f"$kusion_path.{TF}.triggers", "w": f"$kusion_path.{CM}.list.1", "keep": 3}
    assert resolve_references(attrs, results) == {
        "x": "123", "y": ["web.settings"], "z": {"a": "b"}, "w": 2, "keep": 3}
    with pytest.raises(PlanError, match="has no attribute nothing"):
        resolve_references(f"$kusion_path.{TF}.nothing", results)
    with pytest.raises(PlanError, match="no such resource"):
        resolve_references("$kusion_path.v1:Secret:a:b.data", results)


def res(rid: str, deps: tuple[str, ...] = (), attrs: dict[str, object] | None = None) -> Resource:
    return Resource(rid, TERRAFORM if rid.startswith("hashicorp") else KUBERNETES, attrs or {}, deps)


def test_build_graph_orders_explicit_and_implicit_dependencies() -> None:
    graph = build_graph([
        res("v1:Namespace:shop"),
        res(CM, ("v1:Namespace:shop",), {"data": {"seed": f"$kusion_path.{TF}.id"}}),
        res(TF),
        res("apps/v1:Deployment:shop:web", (CM,)),
    ])
    assert graph.dependencies(CM) == (TF, "v1:Namespace:shop")
    order = graph.topological_order()
    assert order.index(TF) < order.index(CM) < order.index("apps/v1:Deployment:shop:web")
    assert graph.reverse_order()[0] == "apps/v1:Deployment:shop:web"
    assert graph.layers() == ((TF, "v1:Namespace:shop"), (CM,), ("apps/v1:Deployment:shop:web",))
    assert graph.dependents(CM) == ("apps/v1:Deployment:shop:web",)
    assert graph.descendants(TF) == {CM, "apps/v1:Deployment:shop:web"}
    assert graph.ancestors("apps/v1:Deployment:shop:web") == {CM, TF, "v1:Namespace:shop"}


def test_build_graph_rejects_unknown_dependencies_references_duplicates_and_cycles() -> None:
    with pytest.raises(PlanError, match="depends on unknown resource b"):
        build_graph([res("a", ("b",))])
    with pytest.raises(PlanError, match="names no resource"):
        build_graph([res("a", attrs={"x": "$kusion_path.b.id"})])
    with pytest.raises(PlanError, match="duplicate resource ID a"):
        build_graph([res("a"), res("a")])
    with pytest.raises(PlanError, match=r"dependency cycle: a -> b -> c -> a"):
        build_graph([res("a", ("b",)), res("b", ("c",)), res("c", ("a",))])
    with pytest.raises(PlanError, match=r"dependency cycle: a -> a"):
        build_graph([res("a", attrs={"self": "$kusion_path.a.id"})])
    loose = build_graph([res("a", ("b",)), res("c", attrs={"x": "$kusion_path.c.id"})], check=False)
    assert loose.dependencies("a") == () and loose.dependencies("c") == ()


def test_transitive_reduction_drops_implied_edges() -> None:
    graph = graph_of({"a": [], "b": ["a"], "c": ["a", "b"], "d": ["a", "b", "c"]})
    reduced = graph.transitive_reduction()
    assert dict(reduced.depends_on) == {"a": frozenset(), "b": {"a"}, "c": {"b"}, "d": {"c"}}
    assert reduced.reversed().dependencies("a") == ("b",)
    assert list(graph.edges())[:2] == [("b", "a"), ("c", "a")]


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
    graph = graph_of(edges)
    order = graph.topological_order()
    assert sorted(order) == sorted(edges)
    position = {n: i for i, n in enumerate(order)}
    for node, deps in edges.items():
        for dep in deps:
            assert position[dep] < position[node]
    reverse = {n: i for i, n in enumerate(graph.reverse_order())}
    assert all(reverse[dep] > reverse[node] for node, deps in edges.items() for dep in deps)
    depth = {n: i for i, layer in enumerate(graph.layers()) for n in layer}
    assert all(depth[dep] < depth[node] for node, deps in edges.items() for dep in deps)


@settings(max_examples=50, deadline=None)
@given(dags())
def test_transitive_reduction_keeps_reachability(edges: dict[str, set[str]]) -> None:
    graph = graph_of(edges)
    reduced = graph.transitive_reduction()
    for node in edges:
        assert reduced.ancestors(node) == graph.ancestors(node)
        assert reduced.depends_on[node] <= graph.depends_on[node]


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
