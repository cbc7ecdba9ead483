"""The `Local` runtime: each resource is a text file under the workspace's `LOCAL_ROOT`.

A resource's attributes are `{path, content}` (`path` relative to the root). It declares
`import` only: a resource with `kusionstack.io/import-id` (a relative path) is taken over as
it is, never written; it has no batches and nothing to wait for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.core.errors import RuntimeFailed
from bot.core.ports import JSON, Runtime
from bot.core.runtimes import (
    Capability,
    RuntimeBuilder,
    RuntimePlugin,
    RuntimeSettings,
    RuntimeTarget,
)
from bot.core.spec import EXT_IMPORT_ID, Resource, State

TYPE = "Local"


class LocalRuntime:
    """`Runtime` for the files of one stack under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, resource: Resource, prior: State) -> Path:
        name = resource.extensions.get(EXT_IMPORT_ID) or resource.attributes.get("path")
        if not name:
            recorded = prior.by_id().get(resource.id)
            name = recorded.attributes.get("path") if recorded is not None else None
        if not isinstance(name, str) or not name:
            raise RuntimeFailed(f"{resource.id}: no path", failed_ids={resource.id})
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise RuntimeFailed(f"{resource.id}: {name!r} is outside {self.root}", failed_ids={resource.id})
        return path

    def _live(self, resource: Resource, prior: State) -> JSON | None:
        path = self._path(resource, prior)
        if not path.is_file():
            return None
        return {"path": path.relative_to(self.root.resolve()).as_posix(), "content": path.read_text()}

    @staticmethod
    def _imported(resource: Resource) -> bool:
        return bool(resource.extensions.get(EXT_IMPORT_ID)) and not resource.attributes

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        return {r.id: self._live(r, prior) for r in resources}

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        out: dict[str, JSON] = {}
        for r in planned:
            live = self._live(r, prior) if self._imported(r) else None
            out[r.id] = live if live is not None else {"path": r.attributes.get("path"),
                                                       "content": r.attributes.get("content", "")}
        return out

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        done: dict[str, Resource] = {}
        for r in planned:
            if self._imported(r):
                live = self._live(r, prior)
                if live is None:
                    raise RuntimeFailed(f"{r.id}: nothing to import at {r.extensions[EXT_IMPORT_ID]}",
                                        partial=done, failed_ids={r.id})
                done[r.id] = Resource(r.id, r.type, live, r.depends_on, r.extensions)
                continue
            path = self._path(r, prior)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(r.attributes.get("content", "")))
            done[r.id] = r
        return done

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        for r in resources:
            self._path(r, prior).unlink(missing_ok=True)

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        """Never called: `Local` declares no readiness (a written file is ready)."""


def configure(settings: RuntimeSettings) -> RuntimeBuilder:
    def build(target: RuntimeTarget) -> Runtime:
        root: Any = target.context.get("LOCAL_ROOT")
        if not isinstance(root, str) or not Path(root).is_absolute():
            raise RuntimeFailed("the workspace context needs LOCAL_ROOT, an absolute directory, for Local resources")
        return LocalRuntime(Path(root))

    return build


PLUGIN = RuntimePlugin(TYPE, frozenset({Capability.IMPORT}), configure)
