"""`workspaces/<name>.yaml`: Kusion workspaces (module platform configs, secret store, context).

```yaml
modules:
  service:
    path: oci://ghcr.io/kusionstack/service   # optional for Shipmate's Python modules
    version: 0.2.0                            # optional likewise
    configs:
      default: {replicas: 2}                  # platform config for every project
      bigger: {replicas: 4, projectSelector: [shop]}   # a patcher block
secretStore:
  provider: {aws: {region: us-east-1}}        # exactly one provider
context: {KUBECONFIG_PATH: /etc/kube/config}
```

Validation and the merge rule are Kusion's (`pkg/workspace/validation.go`, `util.go`):
a patcher block may not be named `default`, must hold a non-empty `projectSelector` list of
non-empty project names and at least one other key; a project may appear once per block and in
at most one block per module; `default` may not hold `projectSelector`. A project's config for a
module is `default` overlaid (key by key) with the one patcher block that selects it.
`importedResources` (Kusion ID → import ID) and `healthPolicy` are read from any block.
The name of the workspace is its file name. Unlike Kusion, `path` and `version` are optional,
since Shipmate's modules are Python packages rather than OCI artifacts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.config.checks import Checker
from bot.core.config.inventory import parse_inventory
from bot.core.errors import ConfigError
from bot.core.yamlio import Document, FieldPath, load

DEFAULT_BLOCK = "default"
PROJECT_SELECTOR = "projectSelector"
IMPORTED_RESOURCES = "importedResources"
HEALTH_POLICY = "healthPolicy"
ONPREM_MODULE = "onprem"
INVENTORY = "inventory"  # the onprem module's hosts (bot.core.config.inventory)
SECRET_PROVIDERS = ("aws", "vault", "azure", "alicloud", "viettelcloud", "fake", "onpremises")
_PROVIDER_REQUIRED = {
    "aws": ("region",),
    "vault": ("server",),
    "azure": ("vaultUrl", "tenantId"),
    "alicloud": ("region",),
}


@dataclass(frozen=True, slots=True)
class PatcherBlock:
    name: str
    project_selector: tuple[str, ...]
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ModuleConfig:
    """One module's entry in a workspace."""

    name: str
    path: str | None = None
    version: str | None = None
    default: Mapping[str, Any] = field(default_factory=dict)
    patchers: tuple[PatcherBlock, ...] = ()

    def for_project(self, project: str) -> Mapping[str, Any]:
        """`default` overlaid with the keys of the patcher block that selects `project`."""
        merged = dict(self.default)
        for block in self.patchers:
            if project in block.project_selector:
                merged.update(block.config)
                break
        return merged

    def source_block(self, project: str, key: str) -> str:
        """The name of the block a merged key came from (for locating problems)."""
        for block in self.patchers:
            if project in block.project_selector and key in block.config:
                return block.name
        return DEFAULT_BLOCK


@dataclass(frozen=True)
class Workspace:
    """A parsed workspace file."""

    name: str
    file: str
    modules: Mapping[str, ModuleConfig] = field(default_factory=dict)
    secret_store: Mapping[str, Any] | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    document: Document | None = field(default=None, compare=False, repr=False)

    def module_configs(self, project: str) -> dict[str, Mapping[str, Any]]:
        """Every module's merged platform config for `project`, by module name."""
        return {name: cfg.for_project(project) for name, cfg in sorted(self.modules.items())}

    def imported_resources(self, project: str) -> dict[str, str]:
        """Kusion ID → import ID from every module's config for `project`.

        The same Kusion ID mapped to two different import IDs is an error, as in Kusion.
        """
        out: dict[str, str] = {}
        problems = []
        for name, cfg in sorted(self.modules.items()):
            merged = cfg.for_project(project)
            for kusion_id, import_id in sorted((merged.get(IMPORTED_RESOURCES) or {}).items()):
                if kusion_id in out and out[kusion_id] != import_id:
                    path = self.config_path(name, project, IMPORTED_RESOURCES) + (kusion_id,)
                    message = (
                        f"resource {kusion_id} is imported twice with different IDs: "
                        f"{out[kusion_id]!r} and {import_id!r}"
                    )
                    problems.append(self.problem(path, message))
                out[kusion_id] = import_id
        if problems:
            raise ConfigError(problems)
        return out

    def config_path(self, module: str, project: str, key: str) -> FieldPath:
        cfg = self.modules[module]
        return ("modules", module, "configs", cfg.source_block(project, key), key)

    def problem(self, path: FieldPath, message: str, at_key: bool = False) -> Any:
        if self.document is None:
            from bot.core.errors import Problem

            return Problem(self.file, 0, 0, ".".join(str(p) for p in path), message)
        return self.document.problem(path, message, at_key)


def parse_workspace(file: str, text: str, name: str) -> Workspace:
    """Parse and validate a workspace file; ConfigError lists every problem in it."""
    doc = load(file, text)
    c = Checker()
    data = c.mapping(doc.data, ())
    c.fields(data, (), ("modules", "secretStore", "context"))
    modules: dict[str, ModuleConfig] = {}
    for mod_name, raw in sorted(c.mapping(data.get("modules"), ("modules",)).items(), key=lambda kv: str(kv[0])):
        mod = _module(c, str(mod_name), raw)
        if mod is not None:
            modules[str(mod_name)] = mod
    secret_store = _secret_store(c, data.get("secretStore")) if "secretStore" in data else None
    context = c.mapping(data.get("context"), ("context",))
    for key in context:
        if not isinstance(key, str):
            c.add(("context", key), "expected a string key", at_key=True)
    c.raise_for(doc)
    return Workspace(
        name=name,
        file=file,
        modules=modules,
        secret_store=secret_store,
        context=context,
        document=doc,
    )


def _module(c: Checker, name: str, raw: Any) -> ModuleConfig | None:
    path: FieldPath = ("modules", name)
    if name == "":
        c.add(path, "expected a non-empty module name", at_key=True)
        return None
    if raw is None:
        c.add(path, "empty module config: expected a mapping with 'configs'")
        return None
    data = c.mapping(raw, path, optional=False)
    c.fields(data, path, ("path", "version", "configs"))
    mod_path = c.get(data, "path", path, "string")
    version = c.get(data, "version", path, "string")
    for key, value in (("path", mod_path), ("version", version)):
        if key in data and value == "":
            c.add((*path, key), f"expected a non-empty {key}")
    configs = c.mapping(data.get("configs"), (*path, "configs"))
    default: dict[str, Any] = {}
    patchers: list[PatcherBlock] = []
    owner: dict[str, str] = {}
    for block_name, block in configs.items():
        bpath = (*path, "configs", block_name)
        if not isinstance(block_name, str) or block_name == "":
            c.add(bpath, "empty patcher block name in module config", at_key=True)
            continue
        if block_name == DEFAULT_BLOCK:
            default = c.mapping(block, bpath)
            if PROJECT_SELECTOR in default:
                c.add((*bpath, PROJECT_SELECTOR), "the default block must not have a projectSelector", at_key=True)
                default = {k: v for k, v in default.items() if k != PROJECT_SELECTOR}
            _block_values(c, default, bpath, name)
            continue
        if block is None:
            c.add(bpath, "empty patcher block: expected a mapping with projectSelector and config keys")
            continue
        body = c.mapping(block, bpath, optional=False)
        selector_raw = body.get(PROJECT_SELECTOR)
        config = {k: v for k, v in body.items() if k != PROJECT_SELECTOR}
        if not config:
            c.add(bpath, "empty config in patcher block: expected at least one key besides projectSelector")
        selector: list[str] = []
        if PROJECT_SELECTOR not in body or selector_raw in (None, []):
            c.add(bpath, "empty projectSelector in patcher block: expected a list of project names")
        elif not isinstance(selector_raw, list):
            c.wrong_type((*bpath, PROJECT_SELECTOR), "a list of project names", selector_raw)
        else:
            for i, project in enumerate(selector_raw):
                ppath = (*bpath, PROJECT_SELECTOR, i)
                if not isinstance(project, str) or project == "":
                    c.add(ppath, "expected a non-empty project name")
                    continue
                if project in selector:
                    c.add(ppath, f"project {project!r} appears twice in this projectSelector")
                    continue
                if project in owner:
                    c.add(
                        ppath,
                        f"project {project!r} is already selected by patcher block {owner[project]!r}; "
                        "a project may be selected by at most one block per module",
                    )
                    continue
                owner[project] = block_name
                selector.append(project)
        _block_values(c, config, bpath, name)
        patchers.append(PatcherBlock(block_name, tuple(selector), config))
    return ModuleConfig(
        name=name,
        path=mod_path,
        version=version,
        default=default,
        patchers=tuple(sorted(patchers, key=lambda b: b.name)),
    )


def _block_values(c: Checker, block: Mapping[str, Any], path: FieldPath, module: str) -> None:
    if IMPORTED_RESOURCES in block:
        c.value(block[IMPORTED_RESOURCES], (*path, IMPORTED_RESOURCES), "string-map", {})
    if HEALTH_POLICY in block:
        c.value(block[HEALTH_POLICY], (*path, HEALTH_POLICY), "mapping", {})
    if module == ONPREM_MODULE and INVENTORY in block:
        parse_inventory(c, block[INVENTORY], (*path, INVENTORY))


def _secret_store(c: Checker, raw: Any) -> dict[str, Any] | None:
    path: FieldPath = ("secretStore",)
    if raw is None:
        return None
    data = c.mapping(raw, path, optional=False)
    c.fields(data, path, ("provider",))
    if "provider" not in data or not data.get("provider"):
        where = (*path, "provider") if "provider" in data else path
        c.add(where, "invalid secret store: missing provider config; expected one of: " + ", ".join(SECRET_PROVIDERS))
        return data
    provider = c.mapping(data["provider"], (*path, "provider"), optional=False)
    c.fields(provider, (*path, "provider"), SECRET_PROVIDERS)
    chosen = [p for p in SECRET_PROVIDERS if p in provider]
    if len(chosen) > 1:
        c.add((*path, "provider"), f"expected exactly one secret store provider, got {', '.join(chosen)}")
    for name in chosen:
        ppath = (*path, "provider", name)
        body = c.mapping(provider[name], ppath)
        for key in _PROVIDER_REQUIRED.get(name, ()):
            value = body.get(key)
            if not isinstance(value, str) or not value:
                c.add(ppath if key not in body else (*ppath, key), f"{name} secret store needs a non-empty {key!r}")
    return data
