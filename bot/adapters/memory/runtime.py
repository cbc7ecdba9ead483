"""The `Memory` runtime: objects by resource ID in a named in-memory world, a `shipmate.runtimes`
plug-in like any runtime written outside Shipmate.

A stack's workspace names its world in the context (`MEMORY_WORLD`, default `default`), as a
kubeconfig names a cluster; `worlds.open(name)` gives tests the same `World` to look at and to
change by hand (drift). A world's `refuse(verb, id, message)` makes that operation fail with
`RuntimeFailed` (after the resources before it in the call are done), for failure tests. The
runtime declares no capability: each resource is its own operation, applied means ready.

The plug-in is not registered by Shipmate's own distribution (a production bot has no use
for it); a test registers `Memory = bot.adapters.memory.runtime:PLUGIN` in the
`shipmate.runtimes` group, with the `memory` module (`bot.adapters.memory.module`) in
`shipmate.modules`, through a distribution on `sys.path` as any package would.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping, Sequence
from typing import Literal

from bot.core.errors import RuntimeFailed
from bot.core.ports import JSON, Runtime
from bot.core.runtimes import RuntimeBuilder, RuntimePlugin, RuntimeSettings, RuntimeTarget
from bot.core.spec import Resource, State

TYPE = "Memory"
WORLD_KEY = "MEMORY_WORLD"
Verb = Literal["read", "dry_run", "apply", "delete"]


class World:
    """Live objects by resource ID, the refusals set for them, and the calls made."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.objects: dict[str, JSON] = {}
        self.refusals: dict[tuple[str, str], str] = {}
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.lock = threading.Lock()

    def refuse(self, verb: Verb, resource_id: str, message: str) -> None:
        """Make `verb` of `resource_id` fail with `message` until `allow`."""
        with self.lock:
            self.refusals[(verb, resource_id)] = message

    def allow(self, verb: Verb, resource_id: str) -> None:
        with self.lock:
            self.refusals.pop((verb, resource_id), None)

    def check(self, verb: Verb, resource_id: str, partial: Mapping[str, object] | None = None) -> None:
        message = self.refusals.get((verb, resource_id))
        if message is not None:
            raise RuntimeFailed(f"{resource_id}: {message}", partial=partial, failed_ids={resource_id})


class Worlds:
    """Worlds by name, made on first use."""

    def __init__(self) -> None:
        self._worlds: dict[str, World] = {}
        self._lock = threading.Lock()

    def open(self, name: str) -> World:
        with self._lock:
            return self._worlds.setdefault(name, World(name))

    def forget(self, name: str) -> None:
        with self._lock:
            self._worlds.pop(name, None)


worlds = Worlds()


class MemoryRuntime:
    """The `Runtime` port over one `World`."""

    def __init__(self, world: World) -> None:
        self.world = world

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        w = self.world
        with w.lock:
            w.calls.append(("read", tuple(r.id for r in resources)))
            for r in resources:
                w.check("read", r.id)
            return {r.id: copy.deepcopy(w.objects.get(r.id)) for r in resources}

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        w = self.world
        with w.lock:
            w.calls.append(("dry_run", tuple(r.id for r in planned)))
            for r in planned:
                w.check("dry_run", r.id)
            return {r.id: copy.deepcopy(dict(r.attributes)) for r in planned}

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        w = self.world
        done: dict[str, Resource] = {}
        with w.lock:
            w.calls.append(("apply", tuple(r.id for r in planned)))
            for r in planned:
                w.check("apply", r.id, partial=done)
                w.objects[r.id] = copy.deepcopy(dict(r.attributes))
                done[r.id] = r
        return done

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        w = self.world
        with w.lock:
            w.calls.append(("delete", tuple(r.id for r in resources)))
            for r in resources:
                w.check("delete", r.id, partial={})
                w.objects.pop(r.id, None)

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        """Never called: `Memory` declares no readiness (an applied object is ready)."""


def configure(settings: RuntimeSettings) -> RuntimeBuilder:
    def build(target: RuntimeTarget) -> Runtime:
        return MemoryRuntime(worlds.open(str(target.context.get(WORLD_KEY) or "default")))

    return build


PLUGIN = RuntimePlugin(TYPE, frozenset(), configure)
