"""Three-way removal under server-side apply: taking over fields the prior release declared.

Server-side apply removes a field only when its applier stops declaring it and no other field
manager owns it. An object created by someone else (Kusion's create, `kubectl create` or a
client-side `kubectl apply`) has every field it was created with owned by that manager, so a
field dropped from the Spec would stay for ever; Kusion's three-way JSON merge patch
(original = the prior release's state, modified = the Spec, current = live) deletes it.

This module gives the same result the way `kubectl apply --server-side` upgrades objects that
were applied client-side (`k8s.io/client-go/util/csaupgrade`, `UpgradeManagedFields`): the
fields that the prior state holds and the planned object does not are moved, in
`metadata.managedFields`, from every other manager's set into the applier's `Apply` set, so
the next apply (which no longer declares them) removes them. Paths are read from the
managers' own `fieldsV1` sets (`f:` field, `k:` keyed list item, `v:` set item, `i:` index)
and looked up in the prior and planned objects, so no schema is needed. Pure functions over
JSON; the runtime does the requests.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
Path = tuple[str, ...]
APPLY = "Apply"


@dataclass(frozen=True, slots=True)
class Takeover:
    """The new `metadata.managedFields` and the paths moved into the applier's set."""

    managed_fields: list[JSON]
    paths: tuple[Path, ...]


def members(tree: Mapping[str, Any], prefix: Path = ()) -> Iterator[Path]:
    """The paths a `fieldsV1` tree owns: leaves and nodes marked with `.`."""
    for key, sub in tree.items():
        if key == ".":
            if prefix:
                yield prefix
            continue
        path = (*prefix, key)
        if isinstance(sub, Mapping) and sub:
            yield from members(sub, path)
        else:
            yield path


def _child(value: Any, element: str) -> tuple[bool, Any]:
    """Step into `value` by one `fieldsV1` path element: (found, child)."""
    kind, _, raw = element.partition(":")
    if kind == "f":
        if isinstance(value, Mapping) and raw in value:
            return True, value[raw]
        return False, None
    if not isinstance(value, list):
        return False, None
    if kind == "i":
        index = int(raw) if raw.isdigit() else -1
        return (True, value[index]) if 0 <= index < len(value) else (False, None)
    try:
        wanted = json.loads(raw)
    except ValueError:
        return False, None
    for item in value:
        if kind == "v" and item == wanted:
            return True, item
        if kind == "k" and isinstance(item, Mapping) and isinstance(wanted, Mapping) and _keyed(item, wanted):
            return True, item
    return False, None


def _keyed(item: Mapping[str, Any], key: Mapping[str, Any]) -> bool:
    """Whether a list item has the key; a key field the item leaves out (the server defaults
    it, as a port's `protocol`) matches, but at least one must be written and equal."""
    written = [k for k in key if k in item]
    return bool(written) and all(item[k] == key[k] for k in written)


def present(obj: Any, path: Path) -> bool:
    """Whether `path` (`fieldsV1` elements) exists in `obj`."""
    value = obj
    for element in path:
        found, value = _child(value, element)
        if not found:
            return False
    return True


def _remove_member(tree: JSON, path: Path) -> None:
    """Remove one owned path from a `fieldsV1` tree, pruning what it leaves empty."""
    head, rest = path[0], path[1:]
    sub = tree.get(head)
    if not rest:
        if isinstance(sub, dict) and sub and set(sub) != {"."}:
            sub.pop(".", None)  # the node stays for its children, no longer owned itself
        else:
            tree.pop(head, None)
        return
    if not isinstance(sub, dict):
        return
    _remove_member(sub, rest)
    if not sub:
        tree.pop(head, None)


def _add_member(tree: JSON, path: Path) -> None:
    node = tree
    for element in path[:-1]:
        if element in node and not node[element]:
            node[element] = {".": {}}  # it was a leaf member: keep owning it as a node
        node = node.setdefault(element, {})
    last = node.get(path[-1])
    if isinstance(last, dict) and last:
        last["."] = {}
    else:
        node[path[-1]] = {}


def takeover(
    managed_fields: Sequence[Mapping[str, Any]] | None,
    prior: Mapping[str, Any],
    planned: Mapping[str, Any],
    *,
    manager: str,
    api_version: str,
    now: str,
) -> Takeover | None:
    """Move every field another manager owns that `prior` has and `planned` lacks into
    `manager`'s Apply set; None when there is no such field (nothing to send).

    Status (subresource) entries are left alone: a status is never in the Spec.
    """
    entries = [copy.deepcopy(dict(e)) for e in managed_fields or ()]
    others = [
        e for e in entries
        if not (e.get("manager") == manager and e.get("operation") == APPLY)
        and not e.get("subresource") and isinstance(e.get("fieldsV1"), dict)
    ]
    owned = {id(e): [p for p in members(e["fieldsV1"]) if p[:1] != ("f:status",)] for e in others}
    dropped = {
        p for paths in owned.values() for p in paths if present(prior, p) and not present(planned, p)
    }
    # A dropped list item goes whole (Kusion's lists are atomic): what anyone owns inside it
    # (the server's defaults, which the creating manager owns too) goes with it.
    items = [p for p in dropped if not p[-1].startswith("f:")]
    taken: set[Path] = set()
    for entry in others:
        moved = [
            p for p in owned[id(entry)]
            if p in dropped or any(p[: len(i)] == i for i in items)
        ]
        for path in sorted(moved, key=len, reverse=True):
            _remove_member(entry["fieldsV1"], path)
        taken.update(moved)
    if not taken:
        return None
    mine = next(
        (e for e in entries if e.get("manager") == manager and e.get("operation") == APPLY
         and not e.get("subresource")),
        None,
    )
    if mine is None:
        mine = {"manager": manager, "operation": APPLY, "apiVersion": api_version,
                "time": now, "fieldsType": "FieldsV1", "fieldsV1": {}}
        entries.append(mine)
    if not isinstance(mine.get("fieldsV1"), dict):
        mine["fieldsV1"] = {}
    for path in sorted(taken, key=len):
        _add_member(mine["fieldsV1"], path)
    kept = [e for e in entries if e is mine or e.get("fieldsV1")]
    return Takeover(kept, tuple(sorted(taken)))


def without(obj: Mapping[str, Any], paths: Sequence[Path]) -> JSON:
    """A copy of `obj` with `paths` removed: what the apply will leave.

    Shallow paths go first: a keyed item is found by its key fields, which are paths too.
    """
    out = copy.deepcopy(dict(obj))
    for path in sorted(paths, key=len):
        parent: Any = out
        for element in path[:-1]:
            found, parent = _child(parent, element)
            if not found:
                break
        else:
            _drop(parent, path[-1])
    return out


def _drop(container: Any, element: str) -> None:
    kind, _, raw = element.partition(":")
    if kind == "f":
        if isinstance(container, dict):
            container.pop(raw, None)
        return
    found, item = _child(container, element)
    if found and isinstance(container, list):
        for i, candidate in enumerate(container):
            if candidate is item:
                del container[i]
                return
