"""The module interface: a pure function from an app's block and its platform config to resources.

This is Kusion's module contract (`kusion-module-framework`'s `Generate` gRPC call) as a Python
protocol: the request carries project, stack and app names, the developer's block from
`main.yaml` (`dev_config`), the workspace's merged platform config for the module, the
workspace context and the resolved namespace; the result is a list of Spec resources and an
optional `Patcher`. A module reports bad input by raising `ModuleInputError` with field paths
relative to its dev config (or to its platform config); Generate turns them into
`file:line:col` problems.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.core.config.appconfig import AppConfiguration
from bot.core.config.checks import FieldProblem
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.spec import Resource

MERGE_PATCH = "MergePatch"
JSON_PATCH = "JSONPatch"
REMOVE = "ops://kusionstack.io/remove"


@dataclass(frozen=True, slots=True)
class JSONPatcher:
    """A patch for one resource by ID: RFC 7386 merge patch or RFC 6902 JSON patch."""

    type: str
    payload: Any


@dataclass(frozen=True, slots=True)
class Patcher:
    """Changes a module asks for on the app's workload and on other resources (Kusion's Patcher)."""

    environments: tuple[Mapping[str, Any], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    pod_annotations: Mapping[str, str] = field(default_factory=dict)
    json_patchers: Mapping[str, JSONPatcher] = field(default_factory=dict)


@dataclass(frozen=True)
class ModuleRequest:
    """Everything a module may look at. All mappings are plain data and read-only."""

    project: str
    stack: str
    app_name: str
    namespace: str
    dev_config: Mapping[str, Any]
    platform_config: Mapping[str, Any]
    context: Mapping[str, Any]
    workload: Mapping[str, Any] | None = None
    app_labels: Mapping[str, str] = field(default_factory=dict)
    app_annotations: Mapping[str, str] = field(default_factory=dict)
    secret_store: Mapping[str, Any] | None = None
    accessory: str | None = None  # None for the workload
    app: AppConfiguration | None = None  # the whole AppConfiguration, for modules that need more
    stack_path: str = ""
    files: ConfigSnapshot = field(default_factory=ConfigSnapshot)

    @property
    def unique_app_name(self) -> str:
        """Kusion's `UniqueAppName`: `<project>-<stack>-<app>`."""
        return f"{self.project}-{self.stack}-{self.app_name}"

    @property
    def app_labels_kusion(self) -> dict[str, str]:
        """Kusion's `UniqueAppLabels`: part-of the project, named after the app."""
        return {"app.kubernetes.io/name": self.app_name, "app.kubernetes.io/part-of": self.project}


@dataclass(frozen=True)
class ModuleResult:
    resources: tuple[Resource, ...] = ()
    patcher: Patcher | None = None


class ModuleInputError(Exception):
    """The module's input is wrong. Paths are relative to the dev config, or to the platform
    config when `platform` is set."""

    def __init__(self, problems: Sequence[FieldProblem], platform: bool = False) -> None:
        self.problems = tuple(problems)
        self.platform = platform
        super().__init__("; ".join(p.message for p in self.problems))


class Module(Protocol):
    """A generator registered by name; `_type: <name>.<Schema>` selects it."""

    name: str
    schemas: tuple[str, ...]

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult: ...
