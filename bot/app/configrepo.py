"""Use cases over a config repository: snapshot a stack's files, generate its Spec, list stacks.

The files come through the `ConfigReader` port, so the same code generates from a local
checkout (`shipmate generate`) and from a pull request's commit (the bot). Modules are the
built-ins plus those installed packages declare in the `shipmate.modules` entry-point group;
an entry point names a module object, or a class or factory that makes one. A stack written
in KCL (`main.k` instead of `main.yaml`) is compiled by the `KclCompiler` the caller is given,
and its render stands in the snapshot as the stack's `main.yaml`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from importlib import metadata

from bot.core.affected import StackRef
from bot.core.config.appconfig import MAIN_FILE, parse_app_configurations
from bot.core.config.project import PROJECT_FILE, STACK_FILE
from bot.core.config.repo import WORKSPACES_DIR, list_stacks
from bot.core.config.settings import SETTINGS_FILE
from bot.core.config.snapshot import ConfigSnapshot, join, normalize
from bot.core.errors import ConfigError, Problem, ShipmateError
from bot.core.generate import generate_stack
from bot.core.modules.base import Module
from bot.core.modules.builtins.k8s_manifest import MANIFEST_SUFFIXES, manifest_path
from bot.core.modules.registry import ENTRY_POINT_GROUP, ModuleRegistry, builtin_registry
from bot.core.ports import ConfigReader, KclCompiler
from bot.core.spec import Spec

STACK_SUFFIXES = (".yaml", ".yml", ".json")
KCL_MAIN_FILE = "main.k"


class ModuleLoadError(ShipmateError):
    """An installed module package is broken (its entry point does not load or is not a module)."""

    exit_code = 2


def default_registry(group: str = ENTRY_POINT_GROUP) -> ModuleRegistry:
    """Built-in modules plus every module the installed packages declare under `group`."""
    registry = builtin_registry()
    for ep in sorted(metadata.entry_points(group=group), key=lambda e: e.name):
        try:
            loaded = ep.load()
            module: Module = loaded() if isinstance(loaded, type) or (
                callable(loaded) and not hasattr(loaded, "generate")
            ) else loaded
            registry.register(module)
        except Exception as exc:
            raise ModuleLoadError(
                f"module entry point {ep.name!r} ({ep.value}) in group {group} cannot be used: {exc}"
            ) from None
    return registry


def stack_snapshot(reader: ConfigReader, stack_path: str, kcl: KclCompiler | None = None) -> ConfigSnapshot:
    """The files generating the stack at `stack_path` needs: settings, workspaces, the project
    file(s) above it, the stack's own YAML/JSON files, and manifests its apps name elsewhere.
    A KCL stack's render (by `kcl`) is its `main.yaml`."""
    path = normalize(stack_path)
    files: dict[str, str] = {}

    def add(rel: str) -> None:
        if rel not in files:
            text = reader.read(rel)
            if text is not None:
                files[rel] = text

    add(SETTINGS_FILE)
    for ws in reader.list_files(WORKSPACES_DIR):
        if ws.endswith((".yaml", ".yml")):
            add(ws)
    current = path
    while True:
        add(join(current, PROJECT_FILE))
        if current == "":
            break
        current = posixpath.dirname(current)
    for rel in reader.list_files(path, recursive=True):
        if rel.endswith(STACK_SUFFIXES):
            add(rel)
    main = join(path, MAIN_FILE)
    if main not in files and reader.read(join(path, KCL_MAIN_FILE)) is not None:
        if kcl is None:
            raise ConfigError([Problem(join(path, KCL_MAIN_FILE), 0, 0, "", "KCL stacks are not available here")])
        files[main] = kcl.compile(reader, path)
    _add_outside_manifests(reader, path, files, add)
    return ConfigSnapshot(files)


def _add_outside_manifests(
    reader: ConfigReader, path: str, files: dict[str, str], add: Callable[[str], None]
) -> None:
    main = files.get(join(path, MAIN_FILE))
    if main is None:
        return
    try:
        apps = parse_app_configurations(join(path, MAIN_FILE), main).apps
    except ConfigError:
        return  # generate reports these problems
    for app in apps:
        for block in app.blocks():
            if block.module != "k8s_manifest" or not isinstance(block.config.get("paths"), list):
                continue
            for raw in block.config["paths"]:
                if not isinstance(raw, str):
                    continue
                try:
                    target = manifest_path(path, raw)
                except ValueError:
                    continue
                if target in files:
                    continue
                if reader.is_dir(target):
                    for rel in reader.list_files(target, recursive=True):
                        if rel.endswith(MANIFEST_SUFFIXES):
                            add(rel)
                else:
                    add(target)


def generate_from(
    reader: ConfigReader,
    stack_path: str,
    registry: ModuleRegistry | None = None,
    secret_salt: str = "",
    kcl: KclCompiler | None = None,
) -> Spec:
    """Generate the Spec of the stack at `stack_path` (relative to the repository root)."""
    snapshot = stack_snapshot(reader, stack_path, kcl)
    return generate_stack(snapshot, stack_path, registry or default_registry(), secret_salt)


def discover_stacks(reader: ConfigReader) -> tuple[StackRef, ...]:
    """Every stack of the repository, for mapping changed files to stacks."""
    files: dict[str, str] = {}
    for rel in reader.list_files("", recursive=True):
        if posixpath.basename(rel) in (STACK_FILE, PROJECT_FILE):
            text = reader.read(rel)
            if text is not None:
                files[rel] = text
    return list_stacks(ConfigSnapshot(files))
