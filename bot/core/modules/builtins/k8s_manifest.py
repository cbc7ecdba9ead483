"""The `k8s_manifest` accessory (Kusion catalog `k8s_manifest.K8sManifest`): raw manifests.

`paths` lists YAML files or directories, relative to the stack directory (a leading `/` means
the repository root). A directory contributes every `.yaml`, `.yml` and `.json` file below it,
in path order; a file may hold several documents. Every document must be a Kubernetes object
with `apiVersion`, `kind` and `metadata.name`; it is added to the Spec as written. The files
come from the config snapshot, which the loader fills with the stack directory's files (and
any other path named here). As in the catalog's module (`CompleteConfig`), the workspace's
`k8s_manifest` config may list `paths` too: they are added to the app's (or stand alone), and
the accessory needs at least one path from either.
"""

from __future__ import annotations

from typing import Any

from bot.core.config.checks import INT64_MAX, INT64_MIN, Checker, FieldProblem, describe
from bot.core.config.snapshot import join, normalize
from bot.core.errors import ConfigError, Problem
from bot.core.modules.base import ModuleInputError, ModuleRequest, ModuleResult
from bot.core.modules.kube import k8s_resource
from bot.core.spec import Resource
from bot.core.yamlio import FieldPath, load_all

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_path(stack_path: str, path: str) -> str:
    """The repository-relative path a `paths` entry names."""
    return normalize(path) if path.startswith("/") else join(stack_path, path)


def _files(c: Checker, request: ModuleRequest, paths: list[str]) -> list[str]:
    """The manifest files `paths` name, each directory expanded in path order."""
    files: list[str] = []
    for i, raw in enumerate(paths):
        try:
            target = manifest_path(request.stack_path, raw)
        except ValueError:
            c.add(("paths", i), f"path {raw!r} leaves the repository")
            continue
        if request.files.has(target):
            files.append(target)
        elif request.files.is_dir(target):
            found = [p for p in request.files.under(target) if p.endswith(MANIFEST_SUFFIXES)]
            if not found:
                c.add(("paths", i), f"directory {raw!r} holds no .yaml, .yml or .json files")
            files.extend(found)
        else:
            c.add(("paths", i), f"no such file or directory: {raw!r} (looked for {target or '.'})")
    return files


class K8sManifestModule:
    name: str = "k8s_manifest"
    schemas: tuple[str, ...] = ("K8sManifest",)

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        c = Checker()
        dev = dict(request.dev_config)
        c.fields(dev, (), ("paths",))
        paths = c.get(dev, "paths", (), "string-list", [])
        files = _files(c, request, paths)
        if not c.ok:
            raise ModuleInputError(c.problems)
        platform = Checker()
        platform_paths = platform.get(request.platform_config, "paths", (), "string-list", [])
        extra = [p for p in platform_paths if p not in paths]  # catalog CompleteConfig: the union
        positions = [platform_paths.index(p) for p in extra]
        found = _files(platform, request, extra)
        if not platform.ok:
            raise ModuleInputError([
                FieldProblem((p.path[0], positions[p.path[1]], *p.path[2:]), p.message, p.at_key)
                if len(p.path) > 1 and isinstance(p.path[1], int) else p
                for p in platform.problems
            ], platform=True)
        if not paths and not extra:
            c.add(() if "paths" not in dev else ("paths",),
                  "paths must be specified, here or in the workspace's k8s_manifest config")
            raise ModuleInputError(c.problems)
        files.extend(f for f in found if f not in files)
        resources: list[Resource] = []
        problems: list[Problem] = []
        for file in files:
            text = request.files.read(file) or ""
            for doc in load_all(file, text):
                obj = doc.data
                if not isinstance(obj, dict):
                    problems.append(doc.problem((), f"expected a Kubernetes object (a mapping), got {describe(obj)}"))
                    continue
                bad = False
                for key in ("apiVersion", "kind"):
                    if not isinstance(obj.get(key), str) or not obj.get(key):
                        problems.append(doc.problem((key,) if key in obj else (), f"expected a non-empty string field {key!r}"))
                        bad = True
                meta: Any = obj.get("metadata")
                if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta.get("name"):
                    at = ("metadata", "name") if isinstance(meta, dict) else ("metadata",) if "metadata" in obj else ()
                    problems.append(doc.problem(at, "expected metadata.name (a non-empty string)"))
                    bad = True
                elif meta.get("namespace") is not None and not isinstance(meta.get("namespace"), str):
                    problems.append(doc.problem(("metadata", "namespace"), "expected a string"))
                    bad = True
                for where, number in _out_of_int64(obj, ()):
                    problems.append(doc.problem(where, f"expected an integer from {INT64_MIN} to {INT64_MAX} "
                                                f"(Kubernetes numbers are 64-bit), got {len(str(abs(number)))} digits"))
                    bad = True
                if not bad:
                    resources.append(k8s_resource(obj))
        if problems:
            raise ConfigError(problems)
        return ModuleResult(resources=tuple(resources))


def _out_of_int64(value: Any, path: FieldPath) -> list[tuple[FieldPath, int]]:
    """Every integer in a manifest that no Kubernetes field can hold, with its path (the
    loader bounds the depth, so recursion is safe)."""
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [] if INT64_MIN <= value <= INT64_MAX else [(path, value)]
    if isinstance(value, dict):
        return [hit for k, v in value.items() for hit in _out_of_int64(v, (*path, k))]
    if isinstance(value, list):
        return [hit for i, v in enumerate(value) for hit in _out_of_int64(v, (*path, i))]
    return []
