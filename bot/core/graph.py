"""The resource dependency graph: build, validate, order, and resolve `$kusion_path` references.

An edge `a -> b` means *a depends on b*: b must exist before a is created, and a must be gone
before b is deleted. Edges come from a resource's explicit `dependsOn` and from implicit
references: any string value anywhere in `attributes` of the form
`$kusion_path.<resource id>.<attribute path>`.

Resource IDs may themselves contain dots (`v1:Service:shop:web.v2`), which Kusion's parser
gets wrong by cutting at the first dot. Here a reference is matched against the *known* IDs and
the longest ID that is a prefix of the reference (followed by `.` or the end) wins.

Everything is deterministic: orders break ties by resource ID.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import PlanError
from bot.core.spec import KUSION_PATH_PREFIX, Resource

_PREFIX_LEN = len(KUSION_PATH_PREFIX)
_SCALARS = frozenset({int, float, bool, type(None)})


# --- references -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed `$kusion_path.<resource_id>.<path...>` reference."""

    resource_id: str
    path: tuple[str, ...]

    def __str__(self) -> str:
        return KUSION_PATH_PREFIX + ".".join((self.resource_id, *self.path))


def is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(KUSION_PATH_PREFIX)


def reference_strings(attributes: Any) -> Iterator[str]:
    """Every `$kusion_path.` string anywhere in nested attributes, in document order."""
    stack = [attributes]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is str:
            if node.startswith(KUSION_PATH_PREFIX):
                yield node
        elif kind is dict:  # the common case, checked without the ABC machinery
            stack.extend(reversed(list(node.values())))
        elif kind is list or kind is tuple:
            stack.extend(reversed(node))
        elif kind in _SCALARS:
            continue
        elif isinstance(node, str):
            if node.startswith(KUSION_PATH_PREFIX):
                yield node
        elif isinstance(node, Mapping):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list | tuple):
            stack.extend(reversed(node))


def parse_reference(value: str, known_ids: Iterable[str] | Mapping[str, Any]) -> Reference | None:
    """Split a reference into (resource ID, attribute path) using the longest known ID.

    Returns None when no known ID matches. `known_ids` should be a set or mapping for speed.
    """
    if not value.startswith(KUSION_PATH_PREFIX):
        return None
    known = known_ids if isinstance(known_ids, Mapping | set | frozenset) else set(known_ids)
    rest = value[_PREFIX_LEN:]
    if rest in known:
        return Reference(rest, ())
    cut = len(rest)
    while True:
        cut = rest.rfind(".", 0, cut)
        if cut <= 0:
            return None
        candidate = rest[:cut]
        if candidate in known:
            tail = rest[cut + 1 :]
            return Reference(candidate, tuple(tail.split(".")) if tail else ())


def referenced_ids(attributes: Any, known_ids: Mapping[str, Any] | set[str] | frozenset[str]) -> tuple[
    list[str], list[str]
]:
    """(IDs referenced, reference strings that name no known ID), both deduplicated in order."""
    found: dict[str, None] = {}
    unknown: dict[str, None] = {}
    for raw in reference_strings(attributes):
        ref = parse_reference(raw, known_ids)
        if ref is None:
            unknown[raw] = None
        else:
            found[ref.resource_id] = None
    return list(found), list(unknown)


def lookup(attributes: Any, path: Sequence[str]) -> Any:
    """Walk mapping keys (and list indices given as digits); KeyError when absent."""
    node = attributes
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(part)
    return node


def resolve_references(attributes: Any, results_by_id: Mapping[str, Mapping[str, Any]]) -> Any:
    """A copy of `attributes` with each reference string replaced by the value it names.

    `results_by_id` holds the applied attributes of the resources already done. An unknown
    resource or attribute raises PlanError naming the reference.
    """
    if isinstance(attributes, str):
        if not attributes.startswith(KUSION_PATH_PREFIX):
            return attributes
        ref = parse_reference(attributes, results_by_id)
        if ref is None:
            raise PlanError(f"unresolved reference {attributes}: no such resource has been applied")
        try:
            return lookup(results_by_id[ref.resource_id], ref.path)
        except KeyError:
            raise PlanError(
                f"unresolved reference {attributes}: resource {ref.resource_id} has no attribute "
                f"{'.'.join(ref.path)}"
            ) from None
    if isinstance(attributes, Mapping):
        return {k: resolve_references(v, results_by_id) for k, v in attributes.items()}
    if isinstance(attributes, list | tuple):
        return [resolve_references(v, results_by_id) for v in attributes]
    return attributes


# --- the graph --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Graph:
    """Nodes (resource IDs) and, per node, the nodes it depends on."""

    depends_on: Mapping[str, frozenset[str]]
    _dependents: dict[str, set[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(sorted(self.depends_on))

    def __contains__(self, node: object) -> bool:
        return node in self.depends_on

    def __len__(self) -> int:
        return len(self.depends_on)

    def edges(self) -> Iterator[tuple[str, str]]:
        """(dependent, dependency) pairs, sorted."""
        for node in self.nodes:
            for dep in sorted(self.depends_on[node]):
                yield node, dep

    def dependencies(self, node: str) -> tuple[str, ...]:
        return tuple(sorted(self.depends_on[node]))

    def dependents(self, node: str) -> tuple[str, ...]:
        if not self._dependents:
            for n, deps in self.depends_on.items():
                self._dependents.setdefault(n, set())
                for d in deps:
                    self._dependents.setdefault(d, set()).add(n)
        return tuple(sorted(self._dependents.get(node, ())))

    def ancestors(self, node: str) -> frozenset[str]:
        """Everything `node` depends on, directly or not."""
        return self._reach(node, lambda n: self.depends_on[n])

    def descendants(self, node: str) -> frozenset[str]:
        """Everything that depends on `node`, directly or not."""
        return self._reach(node, self.dependents)

    def _reach(self, node: str, step: Any) -> frozenset[str]:
        seen: set[str] = set()
        todo = list(step(node))
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo.extend(step(n))
        return frozenset(seen)

    def find_cycle(self) -> list[str] | None:
        """A cycle as a path whose first and last node are equal, or None."""
        white, grey, black = 0, 1, 2
        color = dict.fromkeys(self.depends_on, white)
        for start in self.nodes:
            if color[start] != white:
                continue
            path = [start]
            color[start] = grey
            iters = [iter(sorted(self.depends_on[start]))]
            while iters:
                nxt = next(iters[-1], None)
                if nxt is None:
                    color[path.pop()] = black
                    iters.pop()
                    continue
                if color.get(nxt, black) == grey:
                    return path[path.index(nxt) :] + [nxt]
                if color.get(nxt) == white:
                    color[nxt] = grey
                    path.append(nxt)
                    iters.append(iter(sorted(self.depends_on[nxt])))
        return None

    def check_acyclic(self) -> None:
        cycle = self.find_cycle()
        if cycle is not None:
            raise PlanError(f"dependency cycle: {' -> '.join(cycle)}")

    def topological_order(self) -> tuple[str, ...]:
        """Dependencies first; ties broken by ID. Raises PlanError on a cycle."""
        remaining = {n: len(d) for n, d in self.depends_on.items()}
        ready = [n for n, c in remaining.items() if c == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            node = heapq.heappop(ready)
            order.append(node)
            for dependent in self.dependents(node):
                remaining[dependent] -= 1
                if remaining[dependent] == 0:
                    heapq.heappush(ready, dependent)
        if len(order) != len(remaining):
            self.check_acyclic()
        return tuple(order)

    def reverse_order(self) -> tuple[str, ...]:
        """Dependents first: the order to delete in."""
        return tuple(reversed(self.topological_order()))

    def layers(self) -> tuple[tuple[str, ...], ...]:
        """Nodes grouped by longest distance from a node without dependencies."""
        depth: dict[str, int] = {}
        for node in self.topological_order():
            depth[node] = 1 + max((depth[d] for d in self.depends_on[node]), default=-1)
        grouped: dict[int, list[str]] = {}
        for node, d in depth.items():
            grouped.setdefault(d, []).append(node)
        return tuple(tuple(sorted(grouped[d])) for d in sorted(grouped))

    def transitive_reduction(self) -> Graph:
        """The smallest graph with the same reachability (drops implied edges)."""
        order = self.topological_order()
        bit = {n: 1 << i for i, n in enumerate(order)}
        reach: dict[str, int] = {}
        for node in order:
            r = 0
            for dep in self.depends_on[node]:
                r |= bit[dep] | reach[dep]
            reach[node] = r
        reduced: dict[str, frozenset[str]] = {}
        for node in order:
            deps = self.depends_on[node]
            implied = 0
            for dep in deps:
                implied |= reach[dep]
            reduced[node] = frozenset(d for d in deps if not bit[d] & implied)
        return Graph(reduced)

    def reversed(self) -> Graph:
        """The same graph with every edge turned around (for deletion walks)."""
        return Graph({n: frozenset(self.dependents(n)) for n in self.depends_on})


def graph_of(edges: Mapping[str, Iterable[str]]) -> Graph:
    """A graph from `node -> dependencies`; dependencies that are not nodes are an error."""
    deps = {n: frozenset(d) for n, d in edges.items()}
    for node in sorted(deps):
        missing = sorted(d for d in deps[node] if d not in deps)
        if missing:
            raise PlanError(f"{node}: depends on unknown resource {missing[0]}")
    return Graph(deps)


def build_graph(resources: Iterable[Resource], check: bool = True) -> Graph:
    """The graph of a Spec's (or State's) resources: explicit `dependsOn` plus references.

    With `check`, unknown dependencies, unknown references and cycles raise PlanError.
    """
    items = list(resources)
    known: dict[str, Resource] = {}
    for res in items:
        if res.id in known:
            raise PlanError(f"duplicate resource ID {res.id}")
        known[res.id] = res
    edges: dict[str, frozenset[str]] = {}
    for res in items:
        deps = set(res.depends_on)
        refs, unknown = referenced_ids(res.attributes, known)
        deps.update(refs)
        if not check:
            deps.discard(res.id)
        else:
            if unknown:
                raise PlanError(f"{res.id}: reference {unknown[0]} names no resource in the Spec")
            missing = sorted(d for d in deps if d not in known)
            if missing:
                raise PlanError(f"{res.id}: depends on unknown resource {missing[0]}")
        edges[res.id] = frozenset(d for d in deps if d in known)
    graph = Graph(edges)
    if check:
        graph.check_acyclic()
    return graph
