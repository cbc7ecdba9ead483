"""The `LocalObject` runtime: each resource is an API object (`apiVersion`, `kind`, `metadata`,
...) kept as a JSON file under the workspace's `LOCAL_ROOT`, served the way an API server
serves objects: a write fills in the server's own fields (`metadata.uid`,
`metadata.resourceVersion`, one more on every write, and `status`), and a dry run answers
with what the write would store.

Two plug-ins serve the type: `PLUGIN` declares `api-objects`, `PLAIN` declares nothing, so a
test installs one or the other and sees what the capability changes. The `localobject`
module turns an accessory `{_type: localobject.Object, manifest: {...}}` into one resource
`local:object:<app>-<accessory>` whose attributes are the manifest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.core.errors import RuntimeFailed
from bot.core.modules import ModuleRequest, ModuleResult
from bot.core.ports import JSON, Runtime
from bot.core.runtimes import (
    Capability,
    RuntimeBuilder,
    RuntimePlugin,
    RuntimeSettings,
    RuntimeTarget,
)
from bot.core.spec import Resource, State

TYPE = "LocalObject"


def object_file(root: Path, resource_id: str) -> Path:
    """Where the object of `resource_id` is kept under `root`."""
    return root / (resource_id.replace(":", "_") + ".json")


class LocalObjectRuntime:
    """`Runtime` for the objects of one stack under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _live(self, resource: Resource) -> dict[str, Any] | None:
        path = object_file(self.root, resource.id)
        if not path.is_file():
            return None
        live: dict[str, Any] = json.loads(path.read_text())
        return live

    def _written(self, resource: Resource) -> dict[str, Any]:
        """The object as a write of `resource` would store it."""
        live = self._live(resource) or {}
        version = int(live.get("metadata", {}).get("resourceVersion", "0")) + 1
        obj: dict[str, Any] = json.loads(json.dumps(dict(resource.attributes)))
        obj["metadata"] = {**obj.get("metadata", {}), "uid": f"uid-{resource.id}", "resourceVersion": str(version)}
        obj["status"] = {"phase": "Active"}
        return obj

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        return {r.id: self._live(r) for r in resources}

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        return {r.id: self._written(r) for r in planned}

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        done: dict[str, Resource] = {}
        for r in planned:
            obj = self._written(r)
            object_file(self.root, r.id).write_text(json.dumps(obj, indent=2, sort_keys=True))
            done[r.id] = Resource(r.id, r.type, obj, r.depends_on, r.extensions)
        return done

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        for r in resources:
            object_file(self.root, r.id).unlink(missing_ok=True)

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        """Never called: `LocalObject` declares no readiness (a written object is ready)."""


def configure(settings: RuntimeSettings) -> RuntimeBuilder:
    def build(target: RuntimeTarget) -> Runtime:
        root: Any = target.context.get("LOCAL_ROOT")
        if not isinstance(root, str) or not Path(root).is_absolute():
            raise RuntimeFailed("the workspace context needs LOCAL_ROOT, an absolute directory, for LocalObject resources")
        return LocalObjectRuntime(Path(root))

    return build


PLUGIN = RuntimePlugin(TYPE, frozenset({Capability.API_OBJECTS}), configure)
PLAIN = RuntimePlugin(TYPE, frozenset(), configure)


class LocalObjectModule:
    name = "localobject"
    schemas = ("Object",)

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        manifest = request.dev_config.get("manifest")
        resource = Resource(
            f"local:object:{request.app_name}-{request.accessory}", TYPE,
            dict(manifest) if isinstance(manifest, Mapping) else {},
        )
        return ModuleResult(resources=(resource,))
