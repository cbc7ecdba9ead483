"""Applying module patchers: Kusion's `PatchWorkload` and `JSONPatch`.

`patch_workload` merges labels and annotations into the workload and its pod template and
prepends environment variables to every container (so developers' own variables can refer to
them); the value `ops://kusionstack.io/remove` removes a label, annotation or variable
instead. `merge_patch` is RFC 7386; `json_patch` is RFC 6902 with Kusion's options: removing a
missing path is not an error, and `add` creates missing parent objects.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.errors import PlanError
from bot.core.modules.base import JSON_PATCH, MERGE_PATCH, REMOVE, JSONPatcher, Patcher


def patch_workload(attributes: Mapping[str, Any], patcher: Patcher) -> dict[str, Any]:
    """A patched copy of a workload manifest (Deployment, Job, CronJob, ...)."""
    out = copy.deepcopy(dict(attributes))
    meta = out.setdefault("metadata", {})
    _merge_map(meta, "labels", patcher.labels)
    _merge_map(meta, "annotations", patcher.annotations)
    template = _pod_template(out)
    if patcher.pod_labels or patcher.pod_annotations:
        if template is None:
            raise PlanError(f"cannot patch pod labels of {out.get('kind')}: it has no pod template")
        tmeta = template.setdefault("metadata", {})
        _merge_map(tmeta, "labels", patcher.pod_labels)
        _merge_map(tmeta, "annotations", patcher.pod_annotations)
    if patcher.environments:
        if template is None:
            raise PlanError(f"cannot patch environment of {out.get('kind')}: it has no pod template")
        remove = {e.get("name") for e in patcher.environments if e.get("value") == REMOVE}
        add = [dict(e) for e in patcher.environments if e.get("value") != REMOVE]
        for container in (template.get("spec") or {}).get("containers") or []:
            env = [e for e in container.get("env") or [] if e.get("name") not in remove]
            for item in add:
                env.insert(0, copy.deepcopy(item))
            container["env"] = env
    return out


def _pod_template(manifest: dict[str, Any]) -> dict[str, Any] | None:
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template")
    return template if isinstance(template, dict) else None


def _merge_map(owner: dict[str, Any], key: str, values: Mapping[str, str]) -> None:
    if not values:
        return
    current = dict(owner.get(key) or {})
    for k, v in values.items():
        if v == REMOVE:
            current.pop(k, None)
        else:
            current[k] = v
    owner[key] = current


def apply_json_patcher(attributes: Mapping[str, Any], patcher: JSONPatcher, resource_id: str) -> Any:
    if patcher.type == MERGE_PATCH:
        return merge_patch(attributes, patcher.payload)
    if patcher.type == JSON_PATCH:
        if not isinstance(patcher.payload, list):
            raise PlanError(f"JSON patch for {resource_id}: expected a list of operations")
        return json_patch(attributes, patcher.payload, resource_id)
    raise PlanError(f"patch for {resource_id}: unsupported patch type {patcher.type!r}")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: Any, operations: Sequence[Mapping[str, Any]], resource_id: str = "") -> Any:
    """RFC 6902 JSON patch (remove of a missing path is allowed; add creates parents)."""
    doc = copy.deepcopy(target)
    for i, op in enumerate(operations):
        try:
            doc = _apply_op(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise PlanError(f"JSON patch for {resource_id}: operation {i} ({op.get('op')} {op.get('path')}) failed: {exc}") from None
    return doc


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"bad JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _get(doc: Any, parts: list[str]) -> Any:
    for p in parts:
        doc = doc[int(p)] if isinstance(doc, list) else doc[p]
    return doc


def _parent(doc: Any, parts: list[str], create: bool) -> Any:
    node = doc
    for p in parts[:-1]:
        if isinstance(node, list):
            node = node[int(p)]
        else:
            if p not in node and create:
                node[p] = {}
            node = node[p]
    return node


def _apply_op(doc: Any, op: Mapping[str, Any]) -> Any:
    kind = op.get("op")
    parts = _pointer(str(op.get("path", "")))
    if kind in ("add", "replace"):
        value = copy.deepcopy(op.get("value"))
        if not parts:
            return value
        parent = _parent(doc, parts, create=kind == "add")
        last = parts[-1]
        if isinstance(parent, list):
            if kind == "add":
                parent.insert(len(parent) if last == "-" else int(last), value)
            else:
                parent[int(last)] = value
        else:
            if kind == "replace" and last not in parent:
                raise KeyError(last)
            parent[last] = value
        return doc
    if kind == "remove":
        try:
            parent = _parent(doc, parts, create=False)
            if isinstance(parent, list):
                del parent[int(parts[-1])]
            else:
                parent.pop(parts[-1], None)
        except (KeyError, IndexError):
            pass
        return doc
    if kind in ("move", "copy"):
        src = _pointer(str(op.get("from", "")))
        value = copy.deepcopy(_get(doc, src))
        if kind == "move":
            doc = _apply_op(doc, {"op": "remove", "path": op.get("from")})
        return _apply_op(doc, {"op": "add", "path": op.get("path"), "value": value})
    if kind == "test":
        if _get(doc, parts) != op.get("value"):
            raise ValueError("test failed")
        return doc
    raise ValueError(f"unknown op {kind!r}")
