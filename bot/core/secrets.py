"""External secrets: `ref://` references resolved through the workspace's secret store.

Kusion writes an `external` workload secret as a Kubernetes Secret whose data values are
(base64 of) `ref://<name>[/<property>][?version=<v>]` strings, and lets workspace `context`
values be such references too. They are resolved at preview and apply time, never at
generate time, so a generated Spec holds no secret. Resolved values are returned so callers
can mask them everywhere.

Besides a Kubernetes Secret's data, any resource may mark fields `__sensitive__` (the
`onprem` modules' file contents and environment files): `ref://` references in those fields,
a whole string or embedded in text (`DB_PASSWORD="ref://db/password"`), are resolved too.
Credentials a runtime needs to connect (an on-prem host's key) are not resolved here: they stay
references in the Spec and the recorded State, and the runtime resolves them when it connects
(`resolver`, handed to it as `RuntimeTarget.resolve_secret`).

Providers: `fake` (Kusion's: `data: [{key, value | valueMap, version}]`), which needs nothing
outside the workspace file. Cloud stores (aws, vault, azure, alicloud, ...) need their own
clients and are refused with a clear error naming the provider.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bot.core.errors import ConfigError, Problem
from bot.core.spec import KUBERNETES, SENSITIVE_KEY, Resource, Spec

REF_PREFIX = "ref://"
SUPPORTED = ("fake",)
# A reference inside text: ref://<name>[/<property>][?version=<v>], ending where a name can't go.
EMBEDDED_REF = re.compile(r"ref://[A-Za-z0-9._-]+(?:/[A-Za-z0-9._/-]*[A-Za-z0-9._-])?(?:\?version=[A-Za-z0-9._-]+)?")


def _problem(where: str, message: str) -> ConfigError:
    return ConfigError([Problem("workspace secretStore", 0, 0, where, message)])


def _lookup(store: Mapping[str, Any] | None, ref: str, where: str) -> str:
    if not store or not isinstance(store.get("provider"), Mapping) or not store["provider"]:
        raise _problem(where, f"{ref} needs a secretStore in the workspace, and it has none")
    provider = store["provider"]
    name = sorted(provider)[0]
    if name not in SUPPORTED:
        raise _problem(where, f"{ref}: the {name} secret store is not supported (supported: {', '.join(SUPPORTED)})")
    parts = urlsplit(ref)
    key = parts.netloc
    prop = parts.path.strip("/")
    version = parse_qs(parts.query).get("version", [None])[0]
    for entry in (provider[name] or {}).get("data") or []:
        if not isinstance(entry, Mapping) or entry.get("key") != key:
            continue
        if version is not None and str(entry.get("version")) != version:
            continue
        if prop:
            value_map = entry.get("valueMap") or {}
            if prop not in value_map:
                raise _problem(where, f"{ref}: secret {key} has no property {prop}")
            return str(value_map[prop])
        if "value" not in entry:
            raise _problem(where, f"{ref}: secret {key} has no value (use ref://{key}/<property>)")
        return str(entry["value"])
    raise _problem(where, f"{ref}: no secret {key!r}" + (f" at version {version}" if version else "")
                   + f" in the {name} secret store")


def lookup(store: Mapping[str, Any] | None, ref: str, where: str = "") -> str:
    """The value of one `ref://` reference in `store` (ConfigError naming it when it has none)."""
    return _lookup(store, ref, where or ref)


def resolver(store: Mapping[str, Any] | None, found: Callable[[str], None]) -> Callable[[str], str]:
    """A function resolving references through `store`, telling `found` every value it gives
    (so the caller masks it)."""

    def resolve_one(ref: str) -> str:
        value = _lookup(store, ref, ref)
        found(value)
        return value

    return resolve_one


def embedded_refs(text: str) -> list[str]:
    """The `ref://` references inside `text`, in order."""
    return EMBEDDED_REF.findall(text)


def resolve(spec: Spec) -> tuple[Spec, frozenset[str]]:
    """The Spec with every `ref://` resolved, and the secret values that were filled in."""
    found: set[str] = set()
    store = spec.secret_store

    def value_of(raw: str, where: str) -> str:
        resolved = _lookup(store, raw, where)
        found.add(resolved)
        return resolved

    resources = []
    for r in spec.resources:
        if r.type == KUBERNETES and r.attributes.get("kind") == "Secret":
            r = _resolve_secret(r, value_of)
        elif isinstance(r.extensions.get(SENSITIVE_KEY), Mapping):
            r = _resolve_sensitive(r, r.extensions[SENSITIVE_KEY], value_of)
        resources.append(r)
    context = {
        k: value_of(v, f"context.{k}") if isinstance(v, str) and v.startswith(REF_PREFIX) else v
        for k, v in spec.context.items()
    }
    return replace(spec, resources=tuple(resources), context=context), frozenset(found)


def _resolve_secret(r: Resource, value_of: Any) -> Resource:
    attrs = dict(r.attributes)
    changed = False
    data = attrs.get("data")
    if isinstance(data, Mapping):
        new = {}
        for k, v in data.items():
            text = _b64(v)
            if text is not None and text.startswith(REF_PREFIX):
                v = base64.b64encode(value_of(text, f"{r.id} data.{k}").encode()).decode()
                changed = True
            new[k] = v
        attrs["data"] = new
    string_data = attrs.get("stringData")
    if isinstance(string_data, Mapping):
        new_s = {}
        for k, v in string_data.items():
            if isinstance(v, str) and v.startswith(REF_PREFIX):
                v = value_of(v, f"{r.id} stringData.{k}")
                changed = True
            new_s[k] = v
        attrs["stringData"] = new_s
    return replace(r, attributes=attrs) if changed else r


def _resolve_sensitive(r: Resource, marks: Mapping[str, Any], value_of: Any) -> Resource:
    """References in the fields `marks` names (a mapping mirroring the attributes, `true` at
    each sensitive field), whole or embedded in text."""

    def walk(value: Any, mark: Any, where: str) -> Any:
        if mark is True:
            return _fill(value, where)
        if isinstance(mark, Mapping) and isinstance(value, Mapping):
            return {k: walk(v, mark[k], f"{where}.{k}") if k in mark else v for k, v in value.items()}
        return value

    def _fill(value: Any, where: str) -> Any:
        if isinstance(value, str):
            return EMBEDDED_REF.sub(lambda m: value_of(m.group(0), where), value)
        if isinstance(value, Mapping):
            return {k: _fill(v, f"{where}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [_fill(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return value

    attrs = {k: walk(v, marks[k], f"{r.id} {k}") if k in marks else v for k, v in r.attributes.items()}
    return replace(r, attributes=attrs) if attrs != dict(r.attributes) else r


def _b64(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
