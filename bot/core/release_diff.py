"""The difference between two releases of a project+workspace: what `shipmate release diff A B`
shows.

For the Spec and for the State, resources are matched by ID: added, removed, and for the
ones in both, every changed field of their attributes (and `dependsOn`), with its value on
each side. Then the release's own fields that differ (phase, trigger, actor, commit, ...).

The field-level comparison is deepdiff's (its tree view gives each change's path and both
values, lists compared by position); this module orders the result deterministically and
turns it into frozen values the renderings read (`bot.core.render.release_diff`). Releases
are read as the state branch stores them: secret values were masked before they were
written, so the diff shows them masked too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from deepdiff import DeepDiff

from bot.core.release import Release
from bot.core.spec import Resource

ChangeKind = Literal["added", "removed", "changed"]
ABSENT: Any = None  # the value shown for the side a field does not exist on

_KINDS: Mapping[str, ChangeKind] = {
    "values_changed": "changed",
    "type_changes": "changed",
    "dictionary_item_added": "added",
    "iterable_item_added": "added",
    "attribute_added": "added",
    "set_item_added": "added",
    "dictionary_item_removed": "removed",
    "iterable_item_removed": "removed",
    "attribute_removed": "removed",
    "set_item_removed": "removed",
}
_RELEASE_FIELDS = ("stack", "phase", "trigger", "actor", "commit", "pull_request", "error")


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs: its path inside the resource, how, and both values."""

    path: tuple[str | int, ...]
    kind: ChangeKind
    before: Any
    after: Any

    @property
    def dotted(self) -> str:
        return ".".join(str(p) for p in self.path) or "(whole value)"


@dataclass(frozen=True, slots=True)
class ResourceChange:
    id: str
    kind: ChangeKind
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True, slots=True)
class SectionDiff:
    """The resources of the Spec, or of the State, compared."""

    changes: tuple[ResourceChange, ...] = ()

    def count(self, kind: ChangeKind) -> int:
        return sum(1 for c in self.changes if c.kind == kind)


@dataclass(frozen=True, slots=True)
class ReleaseDiff:
    project: str
    workspace: str
    before: int
    after: int
    release: tuple[FieldChange, ...]  # the releases' own fields
    spec: SectionDiff
    state: SectionDiff

    @property
    def empty(self) -> bool:
        return not (self.release or self.spec.changes or self.state.changes)


def diff_releases(before: Release, after: Release) -> ReleaseDiff:
    """What changed from release `before` to release `after` (of one project+workspace)."""
    own = tuple(
        FieldChange((name,), "changed", _plain(getattr(before, name)), _plain(getattr(after, name)))
        for name in _RELEASE_FIELDS
        if getattr(before, name) != getattr(after, name)
    )
    return ReleaseDiff(
        before.project, before.workspace, before.revision, after.revision, own,
        _section(before.spec.resources, after.spec.resources),
        _section(before.state.resources, after.state.resources),
    )


def _section(before: Sequence[Resource], after: Sequence[Resource]) -> SectionDiff:
    old = {r.id: r for r in before}
    new = {r.id: r for r in after}
    changes: list[ResourceChange] = []
    for rid in sorted(old.keys() | new.keys()):
        if rid not in old:
            changes.append(ResourceChange(rid, "added"))
        elif rid not in new:
            changes.append(ResourceChange(rid, "removed"))
        else:
            fields = _fields(_comparable(old[rid]), _comparable(new[rid]))
            if fields:
                changes.append(ResourceChange(rid, "changed", fields))
    return SectionDiff(tuple(changes))


def _comparable(resource: Resource) -> dict[str, Any]:
    return {"attributes": dict(resource.attributes), "dependsOn": list(resource.depends_on),
            "extensions": dict(resource.extensions)}


def _fields(before: Any, after: Any) -> tuple[FieldChange, ...]:
    tree = DeepDiff(before, after, view="tree", verbose_level=2)
    out: list[FieldChange] = []
    for report, items in tree.items():
        kind = _KINDS.get(report, "changed")
        for item in items:
            path = tuple(item.path(output_format="list"))
            out.append(FieldChange(
                path, kind,
                ABSENT if kind == "added" else _plain(item.t1),
                ABSENT if kind == "removed" else _plain(item.t2),
            ))
    return tuple(sorted(out, key=lambda c: tuple(str(p) for p in c.path)))


def _plain(value: Any) -> Any:
    """A value as JSON would hold it (enums by their value)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
