"""`main.yaml`: AppConfigurations, as the YAML that KCL produces for Kusion.

```yaml
web:                                   # the app name
  workload:                            # optional: stacks of Terraform resources need none
    _type: service.Service             # <module>.<Schema> selects the module
    containers: {web: {image: nginx:1.25}}
    secrets: {db: {type: basic, data: {username: admin}}}
  accessories:
    network: {_type: network.Network, ports: [{port: 80}]}
  labels: {team: web}
  annotations: {}
```

Only the envelope is checked here (types, `_type` syntax); each module validates its own
block. KCL's raw render carries `_type` on every schema instance (the app itself, containers,
secrets, probes, ports, ...): the checker accepts it wherever it appears (`config.checks`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.config.checks import TYPE_KEY, Checker
from bot.core.yamlio import Document, FieldPath, load

MAIN_FILE = "main.yaml"
_TYPE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*(\.[A-Za-z_][A-Za-z0-9_\-]*)+$")


@dataclass(frozen=True, slots=True)
class Block:
    """A workload or accessory block: which module, its dev config, and where it was written."""

    name: str  # "workload" or the accessory name
    module: str
    schema: str
    config: Mapping[str, Any]
    path: FieldPath  # in main.yaml, e.g. ("web", "accessories", "network")


@dataclass(frozen=True)
class AppConfiguration:
    name: str
    workload: Block | None
    accessories: tuple[Block, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def blocks(self) -> tuple[Block, ...]:
        """The workload first, then accessories by name."""
        return ((self.workload,) if self.workload else ()) + self.accessories


@dataclass(frozen=True)
class AppFile:
    document: Document
    apps: tuple[AppConfiguration, ...]


def split_type(value: str) -> tuple[str, str]:
    """`service.Service` → (`service`, `Service`); `a.b.C` → (`a`, `b.C`)."""
    module, _, schema = value.partition(".")
    return module, schema


def parse_app_configurations(file: str, text: str) -> AppFile:
    """Parse main.yaml into AppConfigurations sorted by app name."""
    doc = load(file, text)
    c = Checker()
    data = c.mapping(doc.data, ())
    apps: list[AppConfiguration] = []
    for name in sorted(data, key=str):
        raw = data[name]
        path: FieldPath = (name,)
        if not isinstance(name, str) or not name:
            c.add(path, "expected an app name (a non-empty string)", at_key=True)
            continue
        body = c.mapping(raw, path, optional=False)
        c.fields(body, path, ("workload", "accessories", "labels", "annotations"))
        workload = None
        if body.get("workload") is not None:
            workload = _block(c, "workload", body["workload"], (name, "workload"))
        accessories: list[Block] = []
        for acc_name, acc in sorted(c.mapping(body.get("accessories"), (*path, "accessories")).items(), key=lambda kv: str(kv[0])):
            block = _block(c, str(acc_name), acc, (name, "accessories", acc_name))
            if block is not None:
                accessories.append(block)
        labels = c.get(body, "labels", path, "string-map", {})
        annotations = c.get(body, "annotations", path, "string-map", {})
        apps.append(AppConfiguration(name, workload, tuple(accessories), labels, annotations))
    c.raise_for(doc)
    return AppFile(doc, tuple(apps))


def _block(c: Checker, name: str, raw: Any, path: FieldPath) -> Block | None:
    body = c.mapping(raw, path, optional=False)
    if not body and not isinstance(raw, dict):
        return None
    if TYPE_KEY not in body:
        c.add(path, "missing required field '_type': expected '<module>.<Schema>', e.g. service.Service")
        return None
    type_ = body[TYPE_KEY]
    if not isinstance(type_, str) or not _TYPE.match(type_):
        c.add((*path, TYPE_KEY), f"expected '<module>.<Schema>' (e.g. service.Service), got {type_!r}")
        return None
    module, schema = split_type(type_)
    return Block(name, module, schema, body, path)
