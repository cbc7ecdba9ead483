"""Execution plan: which operations run, in which groups, after which others.

An apply turns a change set into `Operation`s (create, update, replace, delete; unchanged
resources are recorded as they are). A replace runs like an update: its runtime's apply
replaces the resource itself (Terraform plans the -/+ and carries it out). An unchanged resource that the recorded state does not hold yet
(it was found live and equal to the Spec: made by another tool, or by an apply whose record
was lost) is *adopted*: it runs like an update, so its runtime takes it over (Kubernetes:
server-side apply as Shipmate's field manager; Terraform: import) and returns the State entry
that lets a later destroy remove it. Operations of a *batch* runtime (Terraform plans a whole stack at
once) are grouped into as few `Node`s as the dependency graph allows: two Terraform
resources share a node unless a resource of another runtime lies on a path between them.
Deletes run dependents-first, so their edges are reversed. The result is a DAG of nodes that
the executor walks in parallel.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from bot.core import graph
from bot.core.errors import PlanError
from bot.core.preview.model import Action, ChangeSet
from bot.core.spec import Resource, Spec, State, kind_ranks

CREATE, UPDATE, DELETE, UNCHANGED = Action.CREATE, Action.UPDATE, Action.DELETE, Action.UNCHANGED
REPLACE = Action.REPLACE


@dataclass(frozen=True, slots=True)
class Operation:
    """One resource to act on: the planned resource for create/update, the prior one for delete.

    `adopt`: an UnChanged resource not in the recorded state, applied so that it is recorded
    (see `mark_adoptions`)."""

    id: str
    action: Action
    resource: Resource
    adopt: bool = False

    @property
    def runs(self) -> bool:
        """True when the operation is handed to its runtime (every one but plain UnChanged)."""
        return self.action != UNCHANGED or self.adopt

    @property
    def runtime(self) -> str:
        return self.resource.type


@dataclass(frozen=True, slots=True)
class Node:
    """A unit of execution: one operation, or several of one batch runtime and one action kind."""

    key: str
    runtime: str
    deleting: bool
    operations: tuple[Operation, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(op.id for op in self.operations)


@dataclass(frozen=True, slots=True)
class Plan:
    nodes: Mapping[str, Node]
    depends_on: Mapping[str, frozenset[str]]  # node key → node keys it waits for

    def order(self) -> tuple[str, ...]:
        """A deterministic topological order of node keys (for display and tests)."""
        return graph.order(self.depends_on)


def operations_of(changeset: ChangeSet, spec: Spec, prior: State) -> list[Operation]:
    """The operations an apply of `spec` over `prior` runs for `changeset`: the planned resource
    for a create or update, the recorded one for a delete; an imported resource the Spec no
    longer holds is left out."""
    planned = spec.by_id()
    before = prior.by_id()
    ops: list[Operation] = []
    for step in changeset.steps:
        if step.action is Action.DELETE:
            resource = before.get(step.id)
            if resource is None:
                raise PlanError(f"cannot delete {step.id}: it is not in the recorded state")
        elif step.action is Action.UNCHANGED:
            resource = before.get(step.id) or planned[step.id]
            if step.id not in planned and step.id in before:
                continue  # imported resource left in place: dropped from state below
        else:
            resource = planned[step.id]
        ops.append(Operation(step.id, step.action, resource))
    return ops


def mark_adoptions(operations: Iterable[Operation], recorded: Collection[str]) -> list[Operation]:
    """`operations` with every UnChanged one whose ID is not in `recorded` (the IDs of the
    prior state) marked `adopt`: it exists live and equals the Spec, but nothing records it yet."""
    return [
        replace(op, adopt=True) if op.action == UNCHANGED and op.id not in recorded else op
        for op in operations
    ]


def build_plan(
    operations: Sequence[Operation],
    *,
    batch_runtimes: Iterable[str] = (),
    kind_order: Sequence[str] = (),
) -> Plan:
    """Group operations into nodes and compute node dependencies.

    Forward edges come from each planned resource's `depends_on` (only edges between
    operations in this plan count; finished or unchanged resources are already there).
    Adopted operations run like updates; other UnChanged ones are left out.
    Delete edges come from the prior resource's `depends_on`, reversed. The Spec's
    `kind_order` orders the Kubernetes operations among themselves the same way, in linear
    form: the plan's `depends_on` may name barriers (`graph.is_barrier`), which stand for
    every operation of a kind rank and hold no operation.
    """
    batch = frozenset(batch_runtimes)
    ops = {op.id: op for op in operations if op.runs}
    if len(ops) != len([op for op in operations if op.runs]):
        raise PlanError("an operation appears twice in the plan")
    edges: dict[str, set[str]] = {op_id: set() for op_id in ops}
    for op in ops.values():
        for dep in op.resource.depends_on:
            if dep not in ops or dep == op.id:
                continue
            if op.action == DELETE and ops[dep].action == DELETE:
                edges[dep].add(op.id)  # delete the dependent first
            elif op.action != DELETE and ops[dep].action != DELETE:
                edges[op.id].add(dep)
    ranks = kind_ranks((op.resource for op in ops.values()), kind_order)
    forward = {i: r for i, r in ranks.items() if ops[i].action != DELETE}
    backward = {i: -r for i, r in ranks.items() if ops[i].action == DELETE}  # dependents first
    ranked = graph.ranked(graph.ranked(edges, forward, "apply:"), backward, "delete:")
    edges = {n: set(ds) for n, ds in ranked.items()}
    order = graph.order(edges)  # PlanError naming a cycle

    # Operations of one batch runtime share a node when they share a stage and a direction:
    # a node never holds two operations with one of another runtime on a path between them.
    stage = {
        op_id: level
        for level, members_ in enumerate(graph.stages(edges, {i: op.runtime for i, op in ops.items()}, batch))
        for op_id in members_
    }
    node_of: dict[str, str] = {}
    members: dict[str, list[Operation]] = {}
    for op_id in order:
        op = ops[op_id]
        deleting = op.action == DELETE
        if op.runtime in batch:
            key = f"{op.runtime}:{'delete' if deleting else 'apply'}:{stage[op_id]}"
        else:
            key = op_id
        node_of[op_id] = key
        members.setdefault(key, []).append(op)
    barriers = [n for n in edges if graph.is_barrier(n)]
    node_of.update((b, b) for b in barriers)
    depends: dict[str, set[str]] = {key: set() for key in [*members, *barriers]}
    for op_id, deps in edges.items():
        for dep in deps:
            if node_of[dep] != node_of[op_id]:
                depends[node_of[op_id]].add(node_of[dep])
    nodes = {
        key: Node(key, ops_[0].runtime, ops_[0].action == DELETE, tuple(sorted(ops_, key=lambda o: o.id)))
        for key, ops_ in members.items()
    }
    plan = Plan(nodes=nodes, depends_on={k: frozenset(v) for k, v in depends.items()})
    plan.order()  # grouping must never create a cycle; guard anyway (PlanError)
    return plan
