"""Field-level diffs between two normalised objects: a list of (path, before, after).

Mappings are compared key by key; set-like Kubernetes lists (see `normalize`) element by
element matched on their merge key, so a reordering is no change and a changed container shows
as `spec.template.spec.containers[name=app].image`; other lists are ordered: equal lengths are
compared index by index, different lengths are aligned first (difflib), so inserting one
argument shows one added element, not a cascade of changes.

Scalars compare with JSON equality as Python sees it (`1 == 1.0`). The invariant the engine
relies on: `diff(a, b)` is empty exactly when `normalize.equivalent(a, b)`.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from bot.core.preview.model import ConcretePath, DiffKind, FieldDiff, Path
from bot.core.preview.normalize import (
    SET_LIKE_SCALAR_LISTS,
    canonical,
    selector,
    set_key,
)


def diff(before: Any, after: Any, kubernetes: bool = True) -> tuple[FieldDiff, ...]:
    """Every changed field from `before` to `after`, in a stable order (before's, then new keys)."""
    out: list[FieldDiff] = []
    _walk(before, after, (), None, kubernetes, out)
    return tuple(out)


def _walk(a: Any, b: Any, path: Path, field: str | None, k8s: bool, out: list[FieldDiff]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        if a == b:
            return
        for key in a:
            if key in b:
                _walk(a[key], b[key], (*path, key), key, k8s, out)
            else:
                out.append(FieldDiff((*path, key), DiffKind.REMOVED, before=a[key]))
        for key in b:
            if key not in a:
                out.append(FieldDiff((*path, key), DiffKind.ADDED, after=b[key]))
        return
    if isinstance(a, list) and isinstance(b, list):
        if a == b:
            return
        _walk_list(a, b, path, field, k8s, out)
        return
    if isinstance(a, dict | list) or isinstance(b, dict | list) or a != b:
        out.append(FieldDiff(path, DiffKind.CHANGED, before=a, after=b))


def _walk_list(
    a: list[Any], b: list[Any], path: Path, field: str | None, k8s: bool, out: list[FieldDiff]
) -> None:
    if k8s:
        if field in SET_LIKE_SCALAR_LISTS and not _has_containers(a) and not _has_containers(b):
            if canonical(a, field, k8s) != canonical(b, field, k8s):
                out.append(FieldDiff(path, DiffKind.CHANGED, before=a, after=b))
            return
        ka, kb = set_key(field, a), set_key(field, b)
        if ka is not None and ka == kb:
            _walk_keyed(a, b, ka, path, k8s, out)
            return
        if canonical(a, field, k8s) == canonical(b, field, k8s):
            return
    if len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _walk(x, y, (*path, i), None, k8s, out)
        return
    ta = [_token(canonical(x, None, k8s)) for x in a]
    tb = [_token(canonical(y, None, k8s)) for y in b]
    matcher = difflib.SequenceMatcher(a=ta, b=tb, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        paired = min(i2 - i1, j2 - j1)
        for n in range(paired):
            _walk(a[i1 + n], b[j1 + n], (*path, i1 + n), None, k8s, out)
        for i in range(i1 + paired, i2):
            out.append(FieldDiff((*path, i), DiffKind.REMOVED, before=a[i]))
        for j in range(j1 + paired, j2):
            out.append(FieldDiff((*path, j), DiffKind.ADDED, after=b[j]))


def _walk_keyed(
    a: list[Any], b: list[Any], fields: tuple[str, ...], path: Path, k8s: bool, out: list[FieldDiff]
) -> None:
    by_key_b = {selector(y, fields): y for y in b}
    keys_a = set()
    for x in a:
        sel = selector(x, fields)
        keys_a.add(sel)
        assert sel is not None
        if sel in by_key_b:
            _walk(x, by_key_b[sel], (*path, sel), None, k8s, out)
        else:
            out.append(FieldDiff((*path, sel), DiffKind.REMOVED, before=x))
    for y in b:
        sel = selector(y, fields)
        assert sel is not None
        if sel not in keys_a:
            out.append(FieldDiff((*path, sel), DiffKind.ADDED, after=y))


def _has_containers(items: list[Any]) -> bool:
    return any(isinstance(i, dict | list) for i in items)


def _token(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def sensitive_paths(tree: Any) -> frozenset[ConcretePath]:
    """Paths marked `true` in a sensitive-values tree (the shape Terraform reports; read by
    the preview engine and by masking)."""
    out: set[ConcretePath] = set()

    def walk(node: Any, path: ConcretePath) -> None:
        if node is True:
            out.add(path)
        elif isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, (*path, str(k)))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(tree, ())
    return frozenset(out)
