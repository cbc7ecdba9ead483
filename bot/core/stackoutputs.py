"""Outputs between stacks: `$kusion_stack.<project>/<stack>.<resource id>.<attribute path>`.

A whole string value of a resource's attributes starting with `$kusion_stack.` names a
resource attribute another stack recorded: the stack (`<project>/<stack>`, as `dependsOn`
names it; the longest such name followed by a `.` when names hold dots), then the rest read
as a `$kusion_path` reference is (`bot.core.graph.parse_reference`: the longest resource ID
of that stack's latest Release, then the attribute path split at every `.`).

`resolve_outputs` fills them in from `releases` (stack name -> its latest Release, None when
it has none), which the caller gives for the stacks the referring stack's `dependsOn` lists:

- a stack not among them is an error naming it (list it in `dependsOn`, so it runs first);
- a stack in `pending` (it changes in the same run: a preview) gives `KNOWN_AFTER_APPLY`;
- otherwise a stack with no release, a resource its release lacks, or an attribute the
  resource lacks, is a PlanError naming the reference and what is missing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

from bot.core.errors import PlanError
from bot.core.graph import parse_reference, reference_strings, value_at
from bot.core.ports import KNOWN_AFTER_APPLY
from bot.core.release import Release
from bot.core.spec import KUSION_PATH_PREFIX, Resource, Spec

KUSION_STACK_PREFIX = "$kusion_stack."


def split_stack(value: str, stacks: Collection[str]) -> tuple[str, str] | None:
    """(stack name, the rest after it and its `.`) for a `$kusion_stack.` string, the longest
    name in `stacks` first; None when it names none of them (or is no such reference)."""
    if not value.startswith(KUSION_STACK_PREFIX):
        return None
    rest = value[len(KUSION_STACK_PREFIX):]
    for name in sorted(stacks, key=len, reverse=True):
        if rest.startswith(name + ".") and len(rest) > len(name) + 1:
            return name, rest[len(name) + 1:]
    return None


def resolve_outputs(
    spec: Spec,
    releases: Mapping[str, Release | None],
    *,
    pending: Collection[str] = (),
) -> Spec:
    """`spec` with every `$kusion_stack.` reference replaced by its value; see the module."""
    def value_of(raw: str) -> Any:
        found = split_stack(raw, releases)
        if found is None:
            raise PlanError(f"unresolved reference {raw}: it names no stack this stack's dependsOn lists "
                            f"({', '.join(sorted(releases)) or 'none'})")
        name, rest = found
        if name in pending:
            return KNOWN_AFTER_APPLY
        release = releases[name]
        if release is None:
            raise PlanError(f"unresolved reference {raw}: stack {name} has no release yet")
        recorded = release.state.by_id()
        ref = parse_reference(KUSION_PATH_PREFIX + rest, recorded)
        if ref is None:
            raise PlanError(f"unresolved reference {raw}: {name}'s release r{release.revision} has no such resource")
        try:
            return value_at(recorded[ref.resource_id].attributes, ref.path)
        except KeyError:
            raise PlanError(f"unresolved reference {raw}: resource {ref.resource_id} of {name} "
                            f"(r{release.revision}) has no attribute {'.'.join(ref.path)}") from None

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return value_of(node) if node.startswith(KUSION_STACK_PREFIX) else node
        if isinstance(node, Mapping):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [walk(v) for v in node]
        return node

    if not mentions(spec):
        return spec
    resources = tuple(dataclasses.replace(r, attributes=walk(r.attributes)) if _mentions(r) else r
                      for r in spec.resources)
    return dataclasses.replace(spec, resources=resources)


def mentions(spec: Spec) -> bool:
    """Whether any resource of `spec` holds a `$kusion_stack.` reference."""
    return any(_mentions(r) for r in spec.resources)


def _mentions(resource: Resource) -> bool:
    return next(reference_strings(resource.attributes, KUSION_STACK_PREFIX), None) is not None


def references(spec: Spec) -> dict[str, dict[tuple[str | int, ...], str]]:
    """Where `spec`'s `$kusion_stack.` references are: resource ID -> attribute path -> the
    reference as written (what an approval pins, whatever value it takes when applied)."""
    found: dict[str, dict[tuple[str | int, ...], str]] = {}

    def walk(node: Any, path: tuple[str | int, ...], into: dict[tuple[str | int, ...], str]) -> None:
        if isinstance(node, str) and node.startswith(KUSION_STACK_PREFIX):
            into[path] = node
        elif isinstance(node, Mapping):
            for key, value in node.items():
                walk(value, (*path, str(key)), into)
        elif isinstance(node, list | tuple):
            for index, value in enumerate(node):
                walk(value, (*path, index), into)

    for resource in spec.resources:
        into: dict[tuple[str | int, ...], str] = {}
        walk(resource.attributes, (), into)
        if into:
            found[resource.id] = into
    return found


