"""Use cases over a config repository: snapshot a stack's files, generate its Spec, list stacks.

The files come through the `ConfigReader` port, so the same code generates from a local
checkout (`shipmate generate`) and from a pull request's commit (the bot). Modules are the
built-ins plus those installed packages declare in the `shipmate.modules` entry-point group;
an entry point names a module object, or a class or factory that makes one. A stack written
in KCL (`main.k` instead of `main.yaml`) is compiled by the `KclCompiler` the caller is given;
its render stands in the snapshot as the stack's `main.yaml`, and what generating finds wrong
with the render is reported at the app's definition in the KCL source.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata

from bot.core.affected import StackRef
from bot.core.config.appconfig import MAIN_FILE, parse_app_configurations
from bot.core.config.project import PROJECT_FILE, STACK_FILE
from bot.core.config.repo import WORKSPACES_DIR, list_stacks, load_stack
from bot.core.config.settings import SETTINGS_FILE
from bot.core.config.snapshot import ConfigSnapshot, join, normalize
from bot.core.errors import ConfigError, Problem, ShipmateError
from bot.core.generate import generate
from bot.core.kclmod import parse_kcl_mod
from bot.core.modules.base import Module
from bot.core.modules.builtins.k8s_manifest import MANIFEST_SUFFIXES, manifest_path
from bot.core.modules.registry import ENTRY_POINT_GROUP, ModuleRegistry, builtin_registry
from bot.core.ports import ConfigReader, KclCompiler, KclRender
from bot.core.spec import Spec
from bot.core.yamlio import load_data

STACK_SUFFIXES = (".yaml", ".yml", ".json")
KCL_MAIN_FILE = "main.k"
KCL_MOD_FILE = "kcl.mod"


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


@dataclass(frozen=True)
class StackFiles:
    """What generating a stack reads, and the render when the stack is written in KCL."""

    path: str
    snapshot: ConfigSnapshot
    render: KclRender | None = None

    @contextmanager
    def located(self) -> Iterator[None]:
        """Problems found in a KCL stack's render point at the app's definition in KCL."""
        try:
            yield
        except ConfigError as exc:
            if self.render is None:
                raise
            raise ConfigError([self._relocated(p) for p in exc.problems]) from None

    def _relocated(self, problem: Problem) -> Problem:
        assert self.render is not None
        if problem.file != join(self.path, MAIN_FILE):
            return problem
        place = self.render.apps.get(problem.field.split(".", 1)[0])
        file, line, column = place or (join(self.path, KCL_MAIN_FILE), 0, 0)
        return Problem(file, line, column, problem.field, problem.message)


def stack_files(reader: ConfigReader, stack_path: str, kcl: KclCompiler | None = None) -> StackFiles:
    """The files generating the stack at `stack_path` needs: settings, workspaces, the project
    file(s) above it, the stack's own YAML/JSON files, and manifests its apps name elsewhere.
    A KCL stack's render (by `kcl`) is its `main.yaml`."""
    path = normalize(stack_path)
    render: KclRender | None = None
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
        render = kcl.compile(reader, path)
        files[main] = render.text
    _add_outside_manifests(reader, path, files, add)
    return StackFiles(path, ConfigSnapshot(files), render)


def _add_outside_manifests(
    reader: ConfigReader, path: str, files: dict[str, str], add: Callable[[str], None]
) -> None:
    """Add the manifests `k8s_manifest` blocks name outside the stack directory: the apps'
    `paths` and those the workspaces' module config gives (Kusion's catalog lets `paths` be
    given only there)."""
    for raw in [*_app_manifest_paths(path, files), *_workspace_manifest_paths(files)]:
        try:
            target = manifest_path(path, raw)
        except ValueError:
            continue  # generate reports a path leaving the repository
        if target in files:
            continue
        if reader.is_dir(target):
            for rel in reader.list_files(target, recursive=True):
                if rel.endswith(MANIFEST_SUFFIXES):
                    add(rel)
        else:
            add(target)


def _app_manifest_paths(path: str, files: Mapping[str, str]) -> list[str]:
    main = files.get(join(path, MAIN_FILE))
    if main is None or ("k8s_manifest" not in main and "\\" not in main):
        return []  # no app names the module (a `\` escape could spell it otherwise)
    try:
        apps = parse_app_configurations(join(path, MAIN_FILE), main).apps
    except ConfigError:
        return []  # generate reports these problems
    out: list[str] = []
    for app in apps:
        for block in app.blocks():
            if block.module == "k8s_manifest" and isinstance(block.config.get("paths"), list):
                out.extend(raw for raw in block.config["paths"] if isinstance(raw, str))
    return out


def _workspace_manifest_paths(files: Mapping[str, str]) -> list[str]:
    """`paths` of every `k8s_manifest` config block of the workspace files (any workspace: a
    file added for another workspace is only unused)."""
    out: list[str] = []
    for rel, text in sorted(files.items()):
        if not rel.startswith(f"{WORKSPACES_DIR}/"):
            continue
        try:
            data = load_data(rel, text)
        except ConfigError:
            continue  # generate reports these problems
        modules = data.get("modules") if isinstance(data, Mapping) else None
        module = modules.get("k8s_manifest") if isinstance(modules, Mapping) else None
        configs = module.get("configs") if isinstance(module, Mapping) else None
        for block in configs.values() if isinstance(configs, Mapping) else ():
            if isinstance(block, Mapping) and isinstance(block.get("paths"), list):
                out.extend(raw for raw in block["paths"] if isinstance(raw, str))
    return out


def generate_from(
    reader: ConfigReader,
    stack_path: str,
    registry: ModuleRegistry | None = None,
    secret_salt: str = "",
    kcl: KclCompiler | None = None,
    warn: Callable[[Problem], None] | None = None,
    *,
    kusion_exact: bool = False,
) -> Spec:
    """Generate the Spec of the stack at `stack_path` (relative to the repository root);
    `warn` hears each located warning of its config (keys Kusion ignores too);
    `kusion_exact`: Kusion's literal `dependsOn` lists (`bot.core.generate`)."""
    files = stack_files(reader, stack_path, kcl)
    with files.located():
        config = load_stack(files.snapshot, stack_path)
        for warning in config.warnings:
            (warn or (lambda _: None))(warning)
        return generate(config, registry or default_registry(), secret_salt, kusion_exact=kusion_exact)


def discover_stacks(reader: ConfigReader) -> tuple[StackRef, ...]:
    """Every stack of the repository, for mapping changed files to stacks."""
    files: dict[str, str] = {}
    for rel in reader.list_files("", recursive=True):
        if posixpath.basename(rel) in (STACK_FILE, PROJECT_FILE):
            text = reader.read(rel)
            if text is not None:
                files[rel] = text
    return list_stacks(ConfigSnapshot(files))


def kcl_inputs(reader: ConfigReader, stack_path: str) -> tuple[str, ...]:
    """What a KCL stack reads outside its own directory: `kcl.mod`'s `[profile] entries` and
    its `path` packages (theirs too), repository-relative; () for a YAML stack or a broken
    `kcl.mod` (generating reports that)."""
    path = normalize(stack_path)
    found: list[str] = []
    todo, seen = [path], set[str]()
    while todo:
        directory = todo.pop()
        if directory in seen:
            continue
        seen.add(directory)
        mod_file = join(directory, KCL_MOD_FILE)
        text = reader.read(mod_file)
        if text is None:
            continue
        try:
            mod = parse_kcl_mod(mod_file, text)
        except ConfigError:
            continue
        found += [entry for entry, _line in mod.entries]
        for dep in mod.dependencies:
            if dep.path is not None:
                found.append(dep.path)
                todo.append(dep.path)
    return tuple(sorted({p for p in found if not _under(p, path)}))


def with_kcl_inputs(reader: ConfigReader, changed: Iterable[str], stacks: Iterable[StackRef]) -> list[str]:
    """`changed`, plus the `kcl.mod` of every KCL stack that reads a changed file outside its
    directory, so that the change selects it too."""
    paths = [normalize(p) for p in changed]
    extra: list[str] = []
    for stack in stacks:
        inputs = kcl_inputs(reader, stack.path)
        if any(_under(p, i) for p in paths for i in inputs):
            extra.append(join(stack.path, KCL_MOD_FILE))
    return [*paths, *extra]


def _under(path: str, directory: str) -> bool:
    return directory == "" or path == directory or path.startswith(directory + "/")
