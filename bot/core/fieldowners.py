"""Who set a live object's fields: Kubernetes' `metadata.managedFields` read as field paths.

Each entry of `managedFields` names a manager (`kubectl-edit`, a controller, Shipmate's own),
its operation (`Apply` or `Update`), when, and the fields it owns as a `fieldsV1` tree: `f:<name>`
for a mapping key, `k:<json>` for a list element by its key, `v:<json>` for a list element by
value, `i:<n>` by index, and `.` for the field itself. `parse` flattens each tree to the paths
of its leaves (`data.greeting`, `spec.containers[name=web].image`); `owners_of` gives the
entries owning a changed field or anything under it, so a drift issue can say who changed it.
Written here because the kubernetes client has no reader for `fieldsV1`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class FieldOwner:
    """One manager's claim on one field."""

    path: str  # dotted, list elements as `[key=value]`
    manager: str
    operation: str
    time: str


def _segment(key: str) -> str | None:
    kind, _, rest = key.partition(":")
    if kind == "f":
        return rest
    if kind == "k":
        try:
            fields = json.loads(rest)
        except ValueError:
            return f"[{rest}]"
        if isinstance(fields, Mapping):
            return "[" + ",".join(f"{k}={v}" for k, v in sorted(fields.items())) + "]"
        return f"[{rest}]"
    if kind in ("v", "i"):
        return f"[{rest}]"
    return None


def _join(prefix: str, segment: str) -> str:
    if not prefix:
        return segment
    return prefix + segment if segment.startswith("[") else f"{prefix}.{segment}"


def leaves(tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The paths a `fieldsV1` tree owns (its leaves; a `.` marks a field owned as a whole)."""
    out: list[str] = []
    for key, child in sorted(tree.items()):
        if key == ".":
            if prefix:
                out.append(prefix)
            continue
        segment = _segment(key)
        if segment is None:
            continue
        path = _join(prefix, segment)
        if isinstance(child, Mapping) and child:
            out.extend(leaves(child, path))
        else:
            out.append(path)
    return out


def parse(managed: Iterable[Any]) -> tuple[FieldOwner, ...]:
    """Every (field, manager) claim of a `managedFields` list; malformed entries are skipped."""
    owners: list[FieldOwner] = []
    for entry in managed:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("fieldsV1"), Mapping):
            continue
        manager, operation = str(entry.get("manager") or "?"), str(entry.get("operation") or "")
        when = str(entry.get("time") or "")
        owners.extend(FieldOwner(path, manager, operation, when) for path in leaves(entry["fieldsV1"]))
    return tuple(owners)


def owners_of(owners: Sequence[FieldOwner], path: str) -> tuple[FieldOwner, ...]:
    """The claims on `path` itself or on a field under it, latest first."""
    found = [o for o in owners if o.path == path or o.path.startswith(path + ".") or o.path.startswith(path + "[")]
    return tuple(sorted(found, key=lambda o: (o.time, o.manager), reverse=True))
