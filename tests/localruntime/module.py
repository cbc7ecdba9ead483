"""The `localfile` module: an accessory `{_type: localfile.File, path, content}` becomes one
`Local` resource `local:file:<app>-<accessory>`."""

from __future__ import annotations

from bot.core.modules import ModuleRequest, ModuleResult
from bot.core.spec import Resource
from tests.localruntime.runtime import TYPE


class LocalFile:
    name = "localfile"
    schemas = ("File",)

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        config = request.dev_config
        resource = Resource(
            f"local:file:{request.app_name}-{request.accessory}", TYPE,
            {"path": str(config.get("path", "")), "content": str(config.get("content", ""))},
        )
        return ModuleResult(resources=(resource,))
