"""Normalisation before comparing live and dry-run objects.

Three things make two objects "the same" for a preview even when their JSON differs:

1. **Server-populated fields** of API objects: `status` and
   `metadata.{uid, resourceVersion, generation, creationTimestamp, managedFields, selfLink}`
   are removed (Kusion's `normalizeServerSideFields`).
2. **Ignore-fields** given by the user: dotted paths removed from both sides. A path walks
   mappings by key and, on reaching a list, applies the rest of the path to every element, so
   `spec.template.spec.containers.image` drops the image of every container. A literal dot
   inside a key is written `\\.` (`metadata.annotations.deployment\\.kubernetes\\.io/revision`)
   and `*` matches every key of a mapping.
3. **Set-like lists**: Kubernetes merges some lists by a key (containers by `name`, ports by
   `containerPort`/`port` and `protocol`, volumes by `name`, ...); their order carries no
   meaning, so they compare order-insensitively and field paths name their elements by key
   (`containers[name=app]`). Every other list is ordered: container `args`, `command`, `env`
   and `envFrom`, and every list of a resource that is not an API object (Terraform orders
   its sets itself).

Rules 1 and 3 hold for **API objects**: the resources of the types whose runtime declares
`api-objects` (`bot.core.runtimes.Capability.API_OBJECTS`), which the caller passes as
`api_objects` (`StackRuntimes.having(...)`). A caller that passes nothing (None: a test or
a benchmark calling the core directly) gets the Spec format's own rule, `FORMAT_API_OBJECTS`:
Kusion's `Kubernetes` resources are Kubernetes API objects by definition of the format.

Everything here copies on write: inputs are never modified and untouched subtrees are shared.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from bot.core.errors import ConfigError
from bot.core.preview.model import KeySelector
from bot.core.spec import KUBERNETES

FORMAT_API_OBJECTS: frozenset[str] = frozenset({KUBERNETES})
"""The types the Spec format itself defines as API objects: what `api_object` assumes when its
caller does not say. The bot always says, from the runtimes' capabilities."""

SERVER_METADATA_FIELDS = frozenset(
    {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink"}
)

# Field name -> candidate key tuples, tried in order; the first whose first field is present in
# every element wins. Missing secondary fields take the Kubernetes default given here.
SET_LIKE_LISTS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "containers": (("name",),),
    "initContainers": (("name",),),
    "ephemeralContainers": (("name",),),
    "volumes": (("name",),),
    "volumeMounts": (("mountPath",),),
    "volumeDevices": (("devicePath",),),
    "ports": (("containerPort", "protocol"), ("port", "protocol")),
    "imagePullSecrets": (("name",),),
    "hostAliases": (("ip",),),
    "ownerReferences": (("uid",),),
    "conditions": (("type",),),
    "resourceClaims": (("name",),),
    "readinessGates": (("conditionType",),),
    "schedulingGates": (("name",),),
    "topologySpreadConstraints": (("topologyKey", "whenUnsatisfiable"),),
}
SET_LIKE_SCALAR_LISTS = frozenset({"finalizers"})
_KEY_DEFAULTS: Mapping[str, Any] = {"protocol": "TCP"}

IgnorePath = tuple[str, ...]


def parse_ignore_fields(fields: Iterable[str]) -> tuple[IgnorePath, ...]:
    """Parse `--ignore-fields` values (each may hold several paths separated by commas)."""
    out: list[IgnorePath] = []
    for raw in fields:
        for item in _split_unescaped(raw, ","):
            item = item.strip()
            if not item:
                continue
            parts = tuple(
                p.replace("\\.", ".").replace("\\,", ",") for p in _split_unescaped(item, ".")
            )
            if any(not p for p in parts):
                raise ConfigError(f"ignore-fields: empty segment in path {item!r}")
            out.append(parts)
    return tuple(dict.fromkeys(out))


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def strip_server_fields(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy of an API object without server-populated fields."""
    out = {k: v for k, v in attributes.items() if k != "status"}
    meta = out.get("metadata")
    if isinstance(meta, Mapping) and not SERVER_METADATA_FIELDS.isdisjoint(meta):
        out["metadata"] = {k: v for k, v in meta.items() if k not in SERVER_METADATA_FIELDS}
    return out


def remove_path(value: Any, path: Sequence[str]) -> Any:
    """`value` without what `path` points at (copy on write; unchanged input if nothing matched)."""
    if not path:
        return value
    if isinstance(value, Mapping):
        head, rest = path[0], path[1:]
        keys = list(value) if head == "*" else ([head] if head in value else [])
        if not keys:
            return value
        out = dict(value)
        changed = False
        for key in keys:
            if not rest:
                del out[key]
                changed = True
                continue
            new = remove_path(value[key], rest)
            if new is not value[key]:
                out[key] = new
                changed = True
        return out if changed else value
    if isinstance(value, list):
        items = [remove_path(item, path) for item in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return items
    return value


def api_object(resource_type: str, api_objects: Collection[str] | None) -> bool:
    """Whether the resources of `resource_type` are API objects: their type is one of
    `api_objects` (the types whose runtime declares `api-objects`), or, when the caller does
    not say (None), one of the Spec format's (`FORMAT_API_OBJECTS`)."""
    return resource_type in (FORMAT_API_OBJECTS if api_objects is None else api_objects)


def normalize_attributes(
    attributes: Mapping[str, Any] | None,
    resource_type: str,
    ignore: Sequence[IgnorePath] = (),
    api_objects: Collection[str] | None = None,
) -> dict[str, Any]:
    """The attributes to compare and show: server fields (API objects, see `api_object`) and
    ignored paths removed."""
    if attributes is None:
        return {}
    out: Any = strip_server_fields(attributes) if api_object(resource_type, api_objects) else dict(attributes)
    for path in ignore:
        out = remove_path(out, path)
    return dict(out)


def set_key(field: str | None, items: list[Any]) -> tuple[str, ...] | None:
    """The key fields of a set-like list under `field`, or None if the list is ordered.

    A list is set-like only when every element has the key and the keys are unique: anything
    else (a malformed manifest) is compared in order, which can only over-report.
    """
    if field is None or not items:
        return None
    candidates = SET_LIKE_LISTS.get(field)
    if candidates is None:
        return None
    for fields in candidates:
        if not all(isinstance(i, dict) and fields[0] in i for i in items):
            continue
        seen: set[KeySelector] = set()
        for item in items:
            sel = selector(item, fields)
            if sel is None or sel in seen:
                return None
            seen.add(sel)
        return fields
    return None


def selector(item: Mapping[str, Any], fields: tuple[str, ...]) -> KeySelector | None:
    values: list[tuple[str, Any]] = []
    for f in fields:
        v = item.get(f, _KEY_DEFAULTS.get(f))
        if isinstance(v, dict | list):
            return None
        values.append((f, v))
    return KeySelector(tuple(values))


def _sort_token(value: Any) -> tuple[int, Any]:
    """An order for scalars in which values that compare equal (`1`, `1.0`, `True`) tie."""
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, repr(value))


def canonical(value: Any, field: str | None = None, kubernetes: bool = True) -> Any:
    """A form of `value` in which set-like lists are sorted by key, for equality checks."""
    if isinstance(value, dict):
        return {k: canonical(v, k, kubernetes) for k, v in value.items()}
    if isinstance(value, list):
        items = [canonical(v, None, kubernetes) for v in value]
        if not kubernetes:
            return items
        if field in SET_LIKE_SCALAR_LISTS and all(not isinstance(i, dict | list) for i in items):
            return sorted(items, key=_sort_token)
        fields = set_key(field, items)
        if fields is not None:
            return sorted(items, key=lambda i: _selector_token(selector(i, fields)))
        return items
    return value


def _selector_token(sel: KeySelector | None) -> tuple[tuple[str, tuple[int, Any]], ...]:
    assert sel is not None
    return tuple((k, _sort_token(v)) for k, v in sel.fields)


def equivalent(a: Mapping[str, Any], b: Mapping[str, Any], kubernetes: bool = True) -> bool:
    """Whether two normalised objects are the same for a preview (fast path first)."""
    if a == b:
        return True
    if not kubernetes:
        return False
    return bool(canonical(a, None, True) == canonical(b, None, True))
