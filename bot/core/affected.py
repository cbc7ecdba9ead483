"""Which stacks a change touches: changed file paths → the stacks to preview or apply.

A file belongs to the stack whose directory (the one holding `stack.yaml`) is its nearest
ancestor. A change to `project.yaml` touches every stack of that project; a change to a
workspace file touches every stack that uses that workspace; a change to `shipmate.yaml`
touches every stack. Files outside any stack (docs, CI files) touch nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True, slots=True, order=True)
class StackRef:
    """A stack by its directory relative to the repository root, e.g. `shop/dev`."""

    path: str
    project: str
    name: str
    workspace: str


def affected_stacks(changed: Iterable[str], stacks: Iterable[StackRef]) -> tuple[StackRef, ...]:
    """The stacks touched by `changed` paths (renames: pass old and new path), sorted by path."""
    all_stacks = sorted(set(stacks))
    by_dir = {s.path: s for s in all_stacks}
    hit: set[StackRef] = set()
    for raw in changed:
        path = PurePosixPath(raw.lstrip("/"))
        if str(path) == "shipmate.yaml":
            return tuple(all_stacks)
        if len(path.parts) == 2 and path.parts[0] == "workspaces" and path.suffix in (".yaml", ".yml"):
            hit.update(s for s in all_stacks if s.workspace == path.stem)
            continue
        if path.name == "project.yaml":
            project_dir = str(path.parent)
            hit.update(s for s in all_stacks if _is_under(s.path, project_dir))
            continue
        for parent in path.parents:
            stack = by_dir.get(str(parent))
            if stack is not None:
                hit.add(stack)
                break
    return tuple(sorted(hit))


def _is_under(path: str, directory: str) -> bool:
    return directory in ("", ".") or path == directory or path.startswith(directory + "/")
