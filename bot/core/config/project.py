"""`project.yaml` and `stack.yaml` (Kusion's Project and Stack), and namespace resolution.

```yaml
# project.yaml                           # <project>/<stack>/stack.yaml
name: shop                               name: prod
description: the web shop                workspace: prod      # default: the stack's name
labels: {team: web}                      dependsOn: [network/prod]   # <project>/<stack>
                                         extensions:
extensions:                                - kind: kubernetesNamespace
  - kind: kubernetesNamespace                kubernetesNamespace: {namespace: shop-prod}
    kubernetesNamespace: {namespace: shop}
```

Kusion ignores a stack's `workspace` field and takes the workspace from a flag; Shipmate reads
it (a Git repository has no "current workspace"), defaulting to the stack's name.
`dependsOn` is Shipmate's (Kusion has no dependencies between stacks): the stacks, by
`<project>/<stack>` (project.yaml's and stack.yaml's names), previewed and applied before this
one; their resolution and order is `bot.core.stackgraph`'s.

Other keys are ignored with a warning (`Project.warnings`, `Stack.warnings`), as Kusion's YAML
decoding ignores them: konfig's projects carry `generator:`, Kusion's Stack struct has `path`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.config.checks import Checker, describe
from bot.core.errors import Problem
from bot.core.yamlio import Document, FieldPath, load

PROJECT_FILE = "project.yaml"
STACK_FILE = "stack.yaml"
EXTENSION_KINDS = ("kubernetesNamespace", "kubernetesMetadata")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Extension:
    kind: str
    namespace: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    name: str
    path: str
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    extensions: tuple[Extension, ...] = ()
    document: Document | None = field(default=None, compare=False, repr=False)
    warnings: tuple[Problem, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Stack:
    name: str
    path: str
    workspace: str
    description: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    extensions: tuple[Extension, ...] = ()
    document: Document | None = field(default=None, compare=False, repr=False)
    warnings: tuple[Problem, ...] = field(default=(), compare=False)
    depends_on: tuple[str, ...] = ()  # "<project>/<stack>", in the file's order


PROJECT_FIELDS = ("name", "description", "labels", "extensions")
STACK_FIELDS = ("name", "description", "labels", "extensions", "workspace", "backend", "dependsOn")


def _ignored(doc: Document, data: Any, allowed: tuple[str, ...]) -> tuple[Problem, ...]:
    """Warnings for the top-level keys Shipmate (like Kusion) does not read."""
    if not isinstance(data, dict):
        return ()
    w = Checker()
    w.fields(data, (), allowed)
    return tuple(
        dataclasses.replace(p, message=p.message.replace("unknown field", "ignored unknown field", 1))
        for p in w.located(doc)
    )


def parse_project(file: str, text: str, path: str) -> Project:
    doc = load(file, text)
    c = Checker()
    data = c.mapping(doc.data, (), optional=False)
    if "name" not in data:
        c.add((), "missing required field 'name'")
    name = _name(c, data)
    description = c.get(data, "description", (), "string", "")
    labels = c.get(data, "labels", (), "string-map", {})
    extensions = _extensions(c, data.get("extensions"))
    c.raise_for(doc)
    return Project(name, path, description, labels, extensions, doc, _ignored(doc, data, PROJECT_FIELDS))


def parse_stack(file: str, text: str, path: str) -> Stack:
    doc = load(file, text)
    c = Checker()
    data = c.mapping(doc.data, (), optional=False)
    if "name" not in data:
        c.add((), "missing required field 'name'")
    name = _name(c, data)
    workspace = c.get(data, "workspace", (), "string", name)
    if "workspace" in data and isinstance(workspace, str) and not _NAME.match(workspace):
        c.add(("workspace",), f"expected a workspace name (letters, digits, '-', '_', '.'), got {workspace!r}")
    c.get(data, "backend", (), "string")
    description = c.get(data, "description", (), "string", "")
    labels = c.get(data, "labels", (), "string-map", {})
    extensions = _extensions(c, data.get("extensions"))
    depends_on = _depends_on(c, data.get("dependsOn"))
    c.raise_for(doc)
    return Stack(name, path, workspace or name, description, labels, extensions, doc,
                 _ignored(doc, data, STACK_FIELDS), depends_on)


def _depends_on(c: Checker, raw: Any) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        c.wrong_type(("dependsOn",), "a list of '<project>/<stack>'", raw)
        return ()
    out: list[str] = []
    for i, item in enumerate(raw):
        project, _, stack = item.partition("/") if isinstance(item, str) else ("", "", "")
        if not (_NAME.match(project) and _NAME.match(stack)):
            got = repr(item) if isinstance(item, str) else describe(item)
            c.add(("dependsOn", i), f"expected '<project>/<stack>', got {got}")
        elif item in out:
            c.add(("dependsOn", i), f"{item!r} is listed twice")
        else:
            out.append(item)
    return tuple(out)


def _name(c: Checker, data: Mapping[str, Any]) -> str:
    name = c.get(data, "name", (), "string", "")
    if "name" in data and isinstance(name, str) and not _NAME.match(name):
        c.add(("name",), f"expected a name of letters, digits, '-', '_' or '.', got {name!r}")
    return name if isinstance(name, str) else ""


def _extensions(c: Checker, raw: Any) -> tuple[Extension, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        c.wrong_type(("extensions",), "a list of extensions", raw)
        return ()
    out: list[Extension] = []
    for i, item in enumerate(raw):
        path: FieldPath = ("extensions", i)
        ext = c.mapping(item, path, optional=False)
        c.fields(ext, path, ("kind", "kubernetesNamespace", "kubernetesMetadata"), required=("kind",))
        kind = ext.get("kind")
        if "kind" not in ext:
            continue
        if not c.one_of(kind, (*path, "kind"), EXTENSION_KINDS):
            continue
        if kind == "kubernetesNamespace":
            body = c.mapping(ext.get("kubernetesNamespace"), (*path, "kubernetesNamespace"), optional=False)
            c.fields(body, (*path, "kubernetesNamespace"), ("namespace",), required=("namespace",))
            ns = c.get(body, "namespace", (*path, "kubernetesNamespace"), "string", "")
            if isinstance(ns, str) and ns and not _DNS_LABEL.match(ns):
                c.add(
                    (*path, "kubernetesNamespace", "namespace"),
                    f"expected a Kubernetes namespace name (lowercase letters, digits and '-'), got {ns!r}",
                )
            out.append(Extension(str(kind), namespace=ns or None))
        else:
            body = c.mapping(ext.get("kubernetesMetadata"), (*path, "kubernetesMetadata"))
            c.fields(body, (*path, "kubernetesMetadata"), ("labels", "annotations"))
            labels = c.get(body, "labels", (*path, "kubernetesMetadata"), "string-map", {})
            annotations = c.get(body, "annotations", (*path, "kubernetesMetadata"), "string-map", {})
            out.append(Extension(str(kind), labels=labels, annotations=annotations))
    return tuple(out)


def resolve_namespace(project: Project, stack: Stack) -> str:
    """The stack's kubernetesNamespace extension, else the project's, else the project name."""
    for owner in (stack, project):
        for ext in owner.extensions:
            if ext.kind == "kubernetesNamespace" and ext.namespace:
                return ext.namespace
    return project.name
