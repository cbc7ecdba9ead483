"""The resource dependency graph: order, deletion order, stages, cycles, and `$kusion_path`
references: the one parser and the one tree walk that generate, the preview, the plan, the
executor and the batch runtimes (Terraform's `main.tf.json`) all use.

An edge `a -> b` means *a depends on b*: b must exist before a is created, and a must be gone
before b is deleted. Edges come from a resource's explicit `dependsOn` and from implicit
references: any string value anywhere in `attributes` of the form
`$kusion_path.<resource id>.<attribute path>`.

How a reference is read (`parse_reference`; `str(Reference)` gives the same string back):

- Only a whole string value that starts with `$kusion_path.` is a reference; mapping keys and
  text around it are not looked at.
- The resource ID is the longest ID the caller knows (the Spec's resources; a runtime's call
  and its recorded state) that is the whole rest of the string or is followed by a `.`.
  Kusion takes the text up to the first `.` (`strings.Split(ref, ".")[0]` in its
  `graph.ReplaceRef`): the same for every ID without a dot, but it cannot name an ID that has
  one (`networking.k8s.io/v1:Ingress:shop:web`, `v1:Service:shop:web.v2`), which here works.
- A string that names no known ID is an unknown reference (None): generate reports it at its
  file and line, as Kusion fails with "can't find resource by key".
- The attribute path is the rest after the ID and its `.`, split at every `.` as Kusion
  splits it: no escaping, so a key that contains a dot cannot be named; an empty segment
  (`a..b`, a trailing `.`) names the key `""` and so resolves to nothing, as in Kusion. No path
  names the resource's whole attributes. A segment of digits also indexes a list (Kusion walks
  mappings only).

Everything is deterministic: orders break ties by resource ID.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.errors import PlanError
from bot.core.spec import KUSION_PATH_PREFIX, Resource, kind_ranks

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


def reference_strings(attributes: Any, prefix: str = KUSION_PATH_PREFIX) -> Iterator[str]:
    """Every `$kusion_path.` string (or one starting with `prefix`) anywhere in nested
    attributes, in document order."""
    stack = [attributes]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is str:
            if node.startswith(prefix):
                yield node
        elif kind is dict:  # the common case, checked without the ABC machinery
            stack.extend(reversed(list(node.values())))
        elif kind is list or kind is tuple:
            stack.extend(reversed(node))
        elif kind in _SCALARS:
            continue
        elif isinstance(node, str):
            if node.startswith(prefix):
                yield node
        elif isinstance(node, Mapping):
            stack.extend(reversed(list(node.values())))
        elif isinstance(node, list | tuple):
            stack.extend(reversed(node))


def parse_reference(value: str, known_ids: Iterable[str] | Mapping[str, Any]) -> Reference | None:
    """Split a reference into (resource ID, attribute path) by the rules above: the longest
    known ID, then the rest split at every `.`.

    Returns None when `value` is not a reference or names no known ID. `known_ids` should be a
    set or mapping for speed.
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
            return Reference(candidate, tuple(rest[cut + 1 :].split(".")))


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


def value_at(attributes: Any, path: Sequence[str]) -> Any:
    """The value a reference's path names in `attributes`: mapping keys, and list indices
    given as digits; KeyError when absent."""
    node = attributes
    for part in path:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list | tuple) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise KeyError(part)
    return node


def replace_references(
    value: Any,
    names: Iterable[str] | Mapping[str, Any],
    replace: Callable[[str, Reference | None], Any],
) -> Any:
    """A copy of `value` (mappings become dicts, lists and tuples lists) with every
    `$kusion_path.` string replaced by `replace(string, its Reference or None)`, the reference
    parsed against `names`. The one walk behind `resolve` and a batch runtime's native
    interpolations."""

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            if not node.startswith(KUSION_PATH_PREFIX):
                return node
            return replace(node, parse_reference(node, names))
        if isinstance(node, Mapping):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        return node

    return walk(value)


def resolve(
    value: Any,
    known: Mapping[str, Mapping[str, Any]],
    *,
    inside: Iterable[str] = (),
    names: Iterable[str] | None = None,
    strict: bool = True,
    unknown: Any = None,
) -> Any:
    """A copy of `value` with each `$kusion_path.<id>.<attr>` reference to a resource in
    `known` (id -> attributes) replaced by the value it names: the one set of rules the preview
    and the apply share.

    - References to a resource in `inside` (the members of one batch) are left as they are:
      the batch runtime turns them into native interpolations (Terraform does).
    - `names` (default: `known` and `inside`) are the IDs a reference is matched against,
      longest ID first, so IDs containing dots work.
    - `strict` (the apply): a reference to a resource not applied yet, or to an attribute it
      does not have, is a PlanError naming the reference. Otherwise (the preview): the first
      is left as it is, the second becomes `unknown` (known only after the apply).
    """
    members = frozenset(inside)
    ids = frozenset(names) if names is not None else frozenset(known) | members

    def replace(raw: str, ref: Reference | None) -> Any:
        if ref is not None and ref.resource_id in members:
            return raw
        if ref is None or ref.resource_id not in known:
            if strict:
                raise PlanError(f"unresolved reference {raw}: no such resource has been applied")
            return raw
        try:
            return value_at(known[ref.resource_id], ref.path)
        except KeyError:
            if strict:
                raise PlanError(
                    f"unresolved reference {raw}: resource {ref.resource_id} has no attribute "
                    f"{'.'.join(ref.path)}"
                ) from None
            return unknown

    return replace_references(value, ids, replace)


# --- the graph --------------------------------------------------------------------------------
#
# The one topological sort of the project: generate (cycle errors at file:line), the preview
# engine (display order of a change set, deletions reversed, reference stages), the plan (node
# order and batch stages) and the executor (dependents of a failed node) all go through here.


class CycleError(PlanError):
    """A dependency cycle; `cycle` is the path, its first and last resource the same."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__(f"dependency cycle: {' -> '.join(self.cycle)}")


# --- ranks: an all-to-all order in linear form -------------------------------------------------
#
# Kusion orders Kubernetes resources by kind: each depends on every resource of a kind listed
# earlier. Written out as edges that is quadratic (1,000 apps: a million edges). `ranked` says
# the same partial order with one *barrier* per rank present: barrier j waits for every node
# of rank j and for barrier j-1, and a node of the next rank present waits for barrier j. The
# functions below treat barriers as transparent: `order`, `deletion_order` and `stages` never
# return them, `find_cycle` leaves them out of the path it names, and a barrier adds no stage.

BARRIER = "\u2027rank:"  # "‧rank:<rank>": no resource ID or plan node key starts with it


def is_barrier(node: str) -> bool:
    """True for the barrier nodes `ranked` adds."""
    return node.startswith(BARRIER)


def ranked(
    depends_on: Mapping[str, Iterable[str]], rank: Mapping[str, int], label: str = ""
) -> dict[str, tuple[str, ...]]:
    """`depends_on` plus "every node in `rank` depends on every node of a lower rank", in
    linear form (barrier nodes, see above; `label` keeps the barriers of two orders over one
    graph apart). Nodes of `rank` missing from `depends_on` are ignored; without ranks the
    edges are returned as they are."""
    out = {n: tuple(ds) for n, ds in depends_on.items()}
    groups: dict[int, list[str]] = {}
    for node, r in rank.items():
        if node in out:
            groups.setdefault(r, []).append(node)
    previous: str | None = None
    for r in sorted(groups):
        members = groups[r]
        if previous is not None:
            for node in members:
                out[node] = (*out[node], previous)
        barrier = f"{BARRIER}{label}{r}"
        out[barrier] = (*members, *((previous,) if previous is not None else ()))
        previous = barrier
    if previous is not None:
        del out[previous]  # nothing waits for the last rank's barrier
    return out


def resource_edges(resources: Iterable[Resource], kind_order: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
    """id -> what it depends on: each resource's `dependsOn`, and the `kind_order` of its Spec
    (`Spec.kind_order`) in linear form. The one place a Spec's edges are read from."""
    resources = list(resources)
    return ranked({r.id: r.depends_on for r in resources}, kind_ranks(resources, kind_order))


def expanded(depends_on: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    """The same partial order with every barrier replaced by the edges it stands for (what
    Kusion writes out: quadratic; for comparison and tests)."""
    memo: dict[str, tuple[str, ...]] = {}

    def through(barrier: str) -> tuple[str, ...]:
        if barrier not in memo:
            found: dict[str, None] = {}
            for d in depends_on.get(barrier, ()):
                if is_barrier(d):
                    found.update(dict.fromkeys(through(d)))
                else:
                    found[d] = None
            memo[barrier] = tuple(found)
        return memo[barrier]

    out: dict[str, tuple[str, ...]] = {}
    for node, deps in depends_on.items():
        if is_barrier(node):
            continue
        found: dict[str, None] = {}
        for d in deps:
            if is_barrier(d):
                found.update(dict.fromkeys(through(d)))
            else:
                found[d] = None
        out[node] = tuple(found)
    return out


def dependents_of(depends_on: Mapping[str, Iterable[str]]) -> dict[str, set[str]]:
    """node -> the nodes that depend on it (edges to unknown nodes are ignored)."""
    out: dict[str, set[str]] = {n: set() for n in depends_on}
    for node, deps in depends_on.items():
        for dep in deps:
            if dep in out and dep != node:
                out[dep].add(node)
    return out


def order(depends_on: Mapping[str, Iterable[str]], *, strict: bool = True) -> tuple[str, ...]:
    """Dependencies first, ties broken by ID (Kahn's algorithm over a heap). Self-edges and
    edges to unknown nodes are ignored. On a cycle: `strict` raises CycleError naming it;
    otherwise the nodes left are appended in ID order (a display order never fails). A node
    depending on itself is a cycle when `strict`, ignored otherwise. Barriers are left out."""
    return tuple(n for n in _order_all(depends_on, strict=strict) if not n.startswith(BARRIER))


def _order_all(depends_on: Mapping[str, Iterable[str]], *, strict: bool = False) -> tuple[str, ...]:
    deps = {n: {d for d in ds if d in depends_on and (strict or d != n)} for n, ds in depends_on.items()}
    dependents = dependents_of(deps)
    pending = {n: len(d) for n, d in deps.items()}
    ready: list[str] = []
    out: list[str] = []

    def finish(node: str) -> None:
        # A barrier passes the moment it is free, so its dependents become ready exactly when
        # the edges it stands for would have made them ready.
        stack = [node]
        while stack:
            n = stack.pop()
            out.append(n)
            for child in dependents[n]:
                pending[child] -= 1
                if pending[child] == 0:
                    if child.startswith(BARRIER):
                        stack.append(child)
                    else:
                        heapq.heappush(ready, child)

    for n, count in pending.items():
        if count == 0:
            if n.startswith(BARRIER):
                finish(n)
            else:
                heapq.heappush(ready, n)
    while ready:
        finish(heapq.heappop(ready))
    if len(out) < len(deps):
        if strict:
            cycle = find_cycle(deps)
            if cycle is not None:  # always: Kahn stops short only on a cycle
                raise CycleError(cycle)
        done = set(out)
        out.extend(sorted(n for n in deps if n not in done))
    return tuple(out)


def deletion_order(depends_on: Mapping[str, Iterable[str]], *, strict: bool = True) -> tuple[str, ...]:
    """Dependents before what they depend on; ties broken by ID."""
    return order(dependents_of(depends_on), strict=strict)


def find_cycle(depends_on: Mapping[str, Iterable[str]]) -> tuple[str, ...] | None:
    """A cycle as a path whose first and last node are equal (the first found from the
    smallest ID, following dependencies in ID order), or None. Edges to unknown nodes are
    ignored."""
    edges = {n: sorted(d for d in ds if d in depends_on) for n, ds in depends_on.items()}
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(edges, white)
    for start in sorted(edges):
        if color[start] != white:
            continue
        path = [start]
        color[start] = grey
        iters = [iter(edges[start])]
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                color[path.pop()] = black
                iters.pop()
                continue
            if color[nxt] == grey:
                return tuple(n for n in (*path[path.index(nxt) :], nxt) if not n.startswith(BARRIER))
            if color[nxt] == white:
                color[nxt] = grey
                path.append(nxt)
                iters.append(iter(edges[nxt]))
    return None


def stages(
    depends_on: Mapping[str, Iterable[str]],
    kind: Mapping[str, str],
    batched: Collection[str],
) -> tuple[tuple[str, ...], ...]:
    """The nodes grouped into stages, each node in a later stage than what it depends on,
    except that a node may share a stage with a dependency of its own `kind` when that kind
    is in `batched` (its runtime handles such references itself, as Terraform plans a whole
    stack at once). Which kinds batch is the caller's to say. Stages are as early as the
    edges allow; within a stage nodes keep the order of `depends_on`. Edges to unknown nodes
    and self-edges are ignored; a cycle does not loop (generate reports it)."""
    level: dict[str, int] = {}
    # A barrier is transparent: it keeps, per kind, the latest stage of what it stands for.
    through: dict[str, dict[str, int]] = {}
    for node in _order_all(depends_on):
        deps = [d for d in depends_on[node] if d != node and (d in level or d in through)]
        if node.startswith(BARRIER):
            latest: dict[str, int] = {}
            for d in deps:
                for k, v in (through[d].items() if d in through else ((kind[d], level[d]),)):
                    latest[k] = max(latest.get(k, v), v)
            through[node] = latest
            continue
        own = kind[node]
        batches = own in batched
        level[node] = max(
            (
                v + (0 if batches and k == own else 1)
                for d in deps
                for k, v in (through[d].items() if d in through else ((kind[d], level[d]),))
            ),
            default=0,
        )
    out: list[list[str]] = [[] for _ in range(max(level.values(), default=-1) + 1)]
    for node in depends_on:
        if not node.startswith(BARRIER):
            out[level[node]].append(node)
    return tuple(tuple(s) for s in out)
