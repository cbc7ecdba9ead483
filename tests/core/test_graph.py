"""The dependency graph: references (IDs with dots), resolution, orders, cycles, stages; properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import PlanError
from bot.core.graph import (
    CycleError,
    Reference,
    deletion_order,
    expanded,
    find_cycle,
    is_barrier,
    order,
    parse_reference,
    ranked,
    reference_strings,
    referenced_ids,
    replace_references,
    resolve,
    stages,
    value_at,
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


def test_a_path_is_split_at_every_dot_as_kusion_splits_it() -> None:
    known = {TF}
    # An empty segment is a key named "" (it resolves to nothing), a trailing dot included.
    assert parse_reference(f"$kusion_path.{TF}.triggers..k", known) == Reference(TF, ("triggers", "", "k"))
    assert parse_reference(f"$kusion_path.{TF}.", known) == Reference(TF, ("",))
    assert parse_reference("$kusion_path.", known) is None
    assert value_at({"l": [{"k": 1}]}, ("l", "0", "k")) == 1
    with pytest.raises(KeyError):
        value_at({"triggers": {"k": 1}}, ("triggers", "", "k"))


def test_references_are_found_anywhere_in_attributes() -> None:
    attrs = {"a": [{"b": f"$kusion_path.{TF}.id"}, "x"], "c": {"d": f"$kusion_path.{CM}.data.k"},
             "e": "$kusion_path.nope.id"}
    found, unknown = referenced_ids(attrs, {TF, CM})
    assert found == [TF, CM]
    assert unknown == ["$kusion_path.nope.id"]


def test_resolve_replaces_values_and_reports_missing_ones() -> None:
    results: dict[str, dict[str, Any]] = {TF: {"id": "123", "triggers": {"a": "b"}}, CM: {"metadata": {"name": "web.settings"}, "list": [1, 2]}}
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
    assert deletion_order(edges) == ("c", "a", "b")
    cyclic = {"a": {"b"}, "b": {"a"}, "c": set(), "d": {"d"}}
    with pytest.raises(CycleError, match="dependency cycle: a -> b -> a") as raised:
        order(cyclic)
    assert raised.value.cycle == ("a", "b", "a") and isinstance(raised.value, PlanError)
    assert order(cyclic, strict=False) == ("c", "d", "a", "b")


def test_a_batched_kind_shares_a_stage_unless_another_kind_lies_between() -> None:
    edges = {"t1": set(), "t2": {"t1"}, "k": {"t2"}, "t3": {"k"}, "t4": {"t1"}, "j": {"t1"}}
    kind = {"t1": "T", "t2": "T", "t3": "T", "t4": "T", "k": "K", "j": "K"}
    assert stages(edges, kind, {"T"}) == (("t1", "t2", "t4"), ("k", "j"), ("t3",))
    assert stages(edges, kind, ()) == (("t1",), ("t2", "t4", "j"), ("k",), ("t3",))
    assert stages({}, {}, {"T"}) == ()


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
def test_order_respects_every_edge_and_is_deterministic(edges: dict[str, set[str]]) -> None:
    got = order(edges)
    assert sorted(got) == sorted(edges)
    assert order(dict(reversed(list(edges.items())))) == got  # input order does not matter
    position = {n: i for i, n in enumerate(got)}
    assert all(position[dep] < position[node] for node, deps in edges.items() for dep in deps)
    deleting = {n: i for i, n in enumerate(deletion_order(edges))}
    assert all(deleting[node] < deleting[dep] for node, deps in edges.items() for dep in deps)
    assert find_cycle(edges) is None


@settings(max_examples=100, deadline=None)
@given(digraphs())
def test_a_cycle_is_always_reported_with_a_real_cycle(edges: dict[str, set[str]]) -> None:
    cycle = find_cycle(edges)
    if cycle is None:
        assert len(order(edges)) == len(edges)  # no cycle: a full order exists
        return
    assert cycle[0] == cycle[-1] and len(cycle) >= 2
    assert all(dep in edges[node] for node, dep in zip(cycle, cycle[1:], strict=False))
    with pytest.raises(CycleError) as raised:
        order(edges)
    named = raised.value.cycle
    assert named[0] == named[-1] and all(dep in edges[node] for node, dep in zip(named, named[1:], strict=False))
    assert sorted(order(edges, strict=False)) == sorted(edges)


@settings(max_examples=100, deadline=None)
@given(dags(), st.lists(st.sampled_from("KT"), min_size=len(NODES), max_size=len(NODES)), st.sets(st.sampled_from("KT")))
def test_stages_partition_the_nodes_and_follow_every_edge(
    edges: dict[str, set[str]], kinds: list[str], batched: set[str]
) -> None:
    kind = dict(zip(NODES, kinds, strict=True))
    got = stages(edges, kind, batched)
    flat = [n for stage in got for n in stage]
    assert sorted(flat) == sorted(edges) and len(flat) == len(set(flat)) and all(got)
    level = {n: i for i, stage in enumerate(got) for n in stage}
    for node, deps in edges.items():
        for dep in deps:
            same = kind[node] in batched and kind[dep] == kind[node]
            assert level[dep] <= level[node] if same else level[dep] < level[node]


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


# IDs built from pieces that share prefixes, with the separators IDs really hold (`.`, `:`, `/`).
ID_PARTS = st.sampled_from(["v1", "web", "web.v2", "apps/v1", "networking.k8s.io/v1", "a", "a.b"])
IDS = st.lists(ID_PARTS, min_size=1, max_size=3).map(":".join)
SEGMENTS = st.sampled_from(["metadata", "name", "0", "12", "", "my key", "x:y", "v2", "b"])
PATHS = st.lists(SEGMENTS, max_size=3).map(tuple)


def _candidates(raw: str, known: set[str]) -> list[str]:
    rest = raw[len("$kusion_path."):]
    return [k for k in known if rest == k or rest.startswith(k + ".")]


@settings(max_examples=300, deadline=None)
@given(IDS, PATHS, st.sets(IDS, max_size=6))
def test_a_reference_reads_back_as_written_with_the_longest_known_id(
    rid: str, path: tuple[str, ...], others: set[str]
) -> None:
    known = {rid, *others}
    raw = str(Reference(rid, path))
    ref = parse_reference(raw, known)
    assert ref is not None and str(ref) == raw  # nothing lost, nothing escaped
    assert ref.resource_id in known
    assert len(ref.resource_id) == max(len(k) for k in _candidates(raw, known)) >= len(rid)
    assert parse_reference(raw, known - set(_candidates(raw, known))) is None


@settings(max_examples=200, deadline=None)
@given(IDS.filter(lambda i: "." not in i), PATHS, st.sets(IDS.filter(lambda i: "." not in i), max_size=4))
def test_ids_without_dots_are_read_as_kusion_reads_them(
    rid: str, path: tuple[str, ...], others: set[str]
) -> None:
    raw = str(Reference(rid, path))
    first, *rest = raw[len("$kusion_path."):].split(".")  # Kusion's graph.ReplaceRef
    assert parse_reference(raw, {rid, *others}) == Reference(first, tuple(rest))


ATTRIBUTES = st.recursive(
    st.one_of(st.integers(), st.none(), st.text(max_size=3),
              st.builds(lambda i, p: str(Reference(i, p)), IDS, PATHS)),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(ATTRIBUTES, st.sets(IDS, max_size=5))
def test_the_one_walk_sees_the_references_the_finders_see(attributes: Any, known: set[str]) -> None:
    seen: list[tuple[str, Reference | None]] = []

    def record(raw: str, ref: Reference | None) -> str:
        seen.append((raw, ref))
        return raw

    assert replace_references(attributes, known, record) == attributes
    assert [raw for raw, _ in seen] == list(reference_strings(attributes))
    assert all(ref == parse_reference(raw, known) for raw, ref in seen)
    found, unknown = referenced_ids(attributes, known)
    assert found == list(dict.fromkeys(ref.resource_id for _, ref in seen if ref is not None))
    assert unknown == list(dict.fromkeys(raw for raw, ref in seen if ref is None))


# --- ranks in linear form ---------------------------------------------------------------------


def _quadratic(edges: dict[str, set[str]], rank: dict[str, int]) -> dict[str, set[str]]:
    """What Kusion writes: every ranked node depends on every node of a lower rank."""
    return {n: ds | {m for m in rank if n in rank and rank[m] < rank[n]} for n, ds in edges.items()}


@st.composite
def ranked_graphs(draw: st.DrawFn) -> tuple[dict[str, set[str]], dict[str, int]]:
    """Random graphs (cycles allowed) with some nodes ranked, as Kubernetes kinds are."""
    edges = draw(st.one_of(dags(), digraphs()))
    ranked_nodes = draw(st.lists(st.sampled_from(sorted(edges)), unique=True))
    return edges, {n: draw(st.integers(0, 4)) for n in ranked_nodes}


@settings(max_examples=200, deadline=None)
@given(ranked_graphs(), st.sets(st.sampled_from("KT")))
def test_ranks_in_linear_form_give_kusions_partial_order(
    graph_and_ranks: tuple[dict[str, set[str]], dict[str, int]], batched: set[str]
) -> None:
    """Barriers say exactly what the quadratic edges say: the same expanded edges, the same
    apply and deletion orders, the same stages, the same cycles (named without barriers)."""
    edges, rank = graph_and_ranks
    linear = ranked(edges, rank)
    full = _quadratic(edges, rank)
    assert sum(map(len, linear.values())) <= sum(map(len, edges.values())) + 3 * len(rank)
    assert {n: set(d) for n, d in expanded(linear).items()} == full
    assert order(linear, strict=False) == order(full, strict=False)
    assert deletion_order(linear, strict=False) == deletion_order(full, strict=False)
    cycle = find_cycle(linear)
    assert (cycle is None) == (find_cycle(full) is None)
    if cycle is None:  # (stages of a cycle only promise not to loop)
        kind = {n: "K" if n in rank else "T" for n in edges}
        assert stages(linear, kind, batched) == stages(full, kind, batched)
    else:
        assert not any(is_barrier(n) for n in cycle)
        for a, b in zip(cycle, cycle[1:], strict=False):
            assert b in full[a], f"{a} -> {b} is not an edge"


def test_a_thousand_apps_kind_order_is_linear_not_quadratic() -> None:
    """1,000 Services and 1,000 Deployments after one Namespace: a million edges written out,
    a few thousand in linear form."""
    rank = {"ns": 0, **{f"svc{i:04}": 13 for i in range(1000)}, **{f"dep{i:04}": 18 for i in range(1000)}}
    linear = ranked({n: () for n in rank}, rank)
    assert sum(map(len, linear.values())) == 3002
    ordered = order(linear)
    assert ordered[0] == "ns" and set(ordered[1:1001]) == {f"svc{i:04}" for i in range(1000)}
