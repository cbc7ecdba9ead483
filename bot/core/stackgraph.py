"""Dependencies between stacks: `stack.yaml`'s `dependsOn`, resolved, ordered and checked.

A stack names the stacks it depends on as `<project>/<stack>` (project.yaml's and stack.yaml's
names). `StackGraph.build` resolves those names to stack directories (an unknown or ambiguous
name is an error at the stack.yaml line naming it) and refuses a cycle with its path. The graph
is `bot.core.graph`'s (one topological sort for the project): `order` and `waves` use its
`order` and `stages`, a cycle is its `find_cycle`'s path, shown as stack names.

For the stacks one pull request touches, `among` keeps the order the whole graph gives: a
selected stack waits for a selected stack it depends on through unselected ones too. `skipped`
says which stacks cannot run because a stack they depend on failed, and which one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from bot.core import graph
from bot.core.affected import StackRef
from bot.core.config.project import Stack
from bot.core.errors import ConfigError, PlanError, Problem


def stack_name(ref: StackRef) -> str:
    """The name `dependsOn` uses for a stack: `<project>/<stack>`."""
    return f"{ref.project}/{ref.name}"


@dataclass(frozen=True)
class StackGraph:
    """Stack directory -> the directories of the stacks it depends on (sorted), and names."""

    depends_on: Mapping[str, tuple[str, ...]]
    names: Mapping[str, str]  # directory -> "<project>/<stack>"

    @staticmethod
    def build(stacks: Iterable[tuple[StackRef, Stack]]) -> StackGraph:
        """The graph of every stack of a repository; ConfigError for a `dependsOn` naming no
        stack or several, PlanError naming the cycle (as `a/x -> b/y -> a/x`) for a cycle."""
        pairs = sorted(stacks, key=lambda pair: pair[0].path)
        by_name: dict[str, list[str]] = {}
        for ref, _ in pairs:
            by_name.setdefault(stack_name(ref), []).append(ref.path)
        problems: list[Problem] = []
        edges: dict[str, tuple[str, ...]] = {}
        for ref, stack in pairs:
            deps: set[str] = set()
            for index, wanted in enumerate(stack.depends_on):
                paths = by_name.get(wanted, [])
                if len(paths) == 1:
                    deps.add(paths[0])
                    continue
                message = (
                    f"no stack is named {wanted!r} (project.yaml's name / stack.yaml's name)"
                    if not paths
                    else f"{wanted!r} names several stacks: {', '.join(paths)}"
                )
                problems.append(_located(stack, ref, ("dependsOn", index), message))
            edges[ref.path] = tuple(sorted(deps))
        if problems:
            raise ConfigError(problems)
        names = {ref.path: stack_name(ref) for ref, _ in pairs}
        cycle = graph.find_cycle(edges)
        if cycle is not None:
            raise PlanError(f"stacks depend on each other in a cycle: {' -> '.join(names[p] for p in cycle)}")
        return StackGraph(edges, names)

    def among(self, selected: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The graph on `selected` directories alone: each waits for the selected stacks it
        depends on, directly or through stacks not selected. Unknown directories have none."""
        chosen = set(selected)
        out: dict[str, tuple[str, ...]] = {}
        for path in sorted(chosen):
            found: set[str] = set()
            seen: set[str] = set()
            todo = list(self.depends_on.get(path, ()))
            while todo:
                dep = todo.pop()
                if dep in seen:
                    continue
                seen.add(dep)
                if dep in chosen:
                    found.add(dep)
                else:
                    todo.extend(self.depends_on.get(dep, ()))
            out[path] = tuple(sorted(found))
        return out

    def order(self, selected: Iterable[str]) -> tuple[str, ...]:
        """`selected` with dependencies first, ties by directory."""
        return graph.order(self.among(selected))

    def waves(self, selected: Iterable[str]) -> tuple[tuple[str, ...], ...]:
        """`selected` in waves: each stack in a later wave than every selected stack it
        depends on, as early as that allows; the stacks of one wave are independent."""
        edges = self.among(selected)
        return graph.stages(edges, dict.fromkeys(edges, "stack"), ())

    def skipped(self, selected: Iterable[str], failed: Iterable[str]) -> dict[str, str]:
        """Selected stacks that must not run, each with the failed stack it waits for
        (directly or through a skipped one): directory -> that stack's directory."""
        edges = self.among(selected)
        out: dict[str, str] = {}
        bad = set(failed)
        for path in graph.order(edges):
            if path in bad:
                continue
            cause = next((out.get(dep, dep) for dep in edges[path] if dep in bad or dep in out), None)
            if cause is not None:
                out[path] = cause
        return out


def _located(stack: Stack, ref: StackRef, path: tuple[str | int, ...], message: str) -> Problem:
    if stack.document is not None:
        return stack.document.problem(path, message)
    return Problem(f"{ref.path}/stack.yaml", 0, 0, "dependsOn", message)
