"""The order the stacks of one run go in: `stack.yaml`'s `dependsOn`, wave by wave.

`graph_of` reads every stack.yaml of a tree into a `StackGraph` (a stack whose stack.yaml does
not parse has no dependencies here: loading it reports its errors). `in_waves` runs a run's
stacks wave by wave (`StackGraph.waves`): the stacks of one wave together (`run_wave`, the
caller's fan-out), a stack only once every stack it depends on has run. With `skip_failed`
(an apply), a stack depending on one that failed, or was itself skipped, does not run: its
outcome is `skipped(ref, dependency)`. `reverse` runs the waves last first (a destroy takes
dependents away before what they depend on). Outcomes come back in the input's order.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from typing import TypeVar

from bot.core.affected import StackRef
from bot.core.config.project import PROJECT_FILE, STACK_FILE, Stack, parse_stack
from bot.core.config.repo import list_stacks
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.errors import ConfigError
from bot.core.ports import ConfigReader
from bot.core.stackgraph import StackGraph

R = TypeVar("R")


def graph_of(reader: ConfigReader) -> StackGraph:
    """The dependencies between the stacks of the tree `reader` reads; ConfigError for an
    unknown name, PlanError for a cycle."""
    files: dict[str, str] = {}
    for rel in reader.list_files("", recursive=True):
        if posixpath.basename(rel) in (STACK_FILE, PROJECT_FILE):
            text = reader.read(rel)
            if text is not None:
                files[rel] = text
    pairs: list[tuple[StackRef, Stack]] = []
    for ref in list_stacks(ConfigSnapshot(files)):
        file = posixpath.join(ref.path, STACK_FILE)
        try:
            pairs.append((ref, parse_stack(file, files[file], ref.path)))
        except ConfigError:
            pairs.append((ref, Stack(ref.name, ref.path, ref.workspace)))
    return StackGraph.build(pairs)


def declares_dependencies(reader: ConfigReader, stacks: Sequence[StackRef]) -> bool:
    """True when a stack.yaml of the tree names `dependsOn` (cheap: no parsing otherwise); a
    run of one stack is checked too, so a cycle is refused whichever stack a change touches."""
    if not stacks:
        return False
    return any("dependsOn" in (reader.read(rel) or "")
               for rel in reader.list_files("", recursive=True) if posixpath.basename(rel) == STACK_FILE)


def in_waves(
    stacks: Sequence[StackRef],
    graph: StackGraph,
    run_wave: Callable[[Sequence[StackRef]], list[R]],
    *,
    failed: Callable[[R], bool],
    skipped: Callable[[StackRef, StackRef], R],
    skip_failed: bool,
    reverse: bool = False,
) -> list[R]:
    """`run_wave` over `stacks` wave by wave; see the module's docstring."""
    by_path = {ref.path: ref for ref in stacks}
    waves = graph.waves(by_path)
    results: dict[str, R] = {}
    bad: set[str] = set()
    for wave in reversed(waves) if reverse else waves:
        held = graph.skipped(by_path, bad) if skip_failed else {}
        runnable = [by_path[path] for path in wave if path not in held]
        for path in wave:
            if path in held:
                results[path] = skipped(by_path[path], by_path[held[path]])
        for ref, result in zip(runnable, run_wave(runnable), strict=True):
            results[ref.path] = result
            if failed(result):
                bad.add(ref.path)
    return [results[ref.path] for ref in stacks]
