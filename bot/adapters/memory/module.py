"""The `memory` module: an accessory `{_type: memory.Object, ...}` becomes one `Memory` resource
`memory:object:<app>-<accessory>` whose attributes are the accessory's other keys, and
`dependsOn: [<id>, ...]` its explicit dependencies. Registered next to the `Memory` runtime
(`bot.adapters.memory.runtime`) under `shipmate.modules` by the tests that use it."""

from __future__ import annotations

from bot.adapters.memory.runtime import TYPE
from bot.core.modules import ModuleRequest, ModuleResult
from bot.core.spec import Resource


class MemoryObject:
    name = "memory"
    schemas = ("Object",)

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        config = dict(request.dev_config)
        config.pop("_type", None)
        depends = config.pop("dependsOn", None) or []
        resource = Resource(
            f"memory:object:{request.app_name}-{request.accessory}", TYPE, config,
            depends_on=tuple(str(d) for d in depends),
        )
        return ModuleResult(resources=(resource,))
