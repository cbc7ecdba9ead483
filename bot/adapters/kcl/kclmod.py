"""Which package each dependency of a Kusion `kcl.mod` is, offline.

Kusion's `kcl.mod` names `kam` (git) and the catalog modules (OCI, with a tag); here those
resolve to the schemas shipped in `schemas/`. A `path = "..."` dependency is a local package of
the config repository (Kusion's `kusion mod` layout). Anything else cannot be resolved: an
error at its `kcl.mod` line. Parsing is the core's (`bot.core.kclmod`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.core import kclmod
from bot.core.errors import ConfigError, Problem

SCHEMAS = Path(__file__).with_name("schemas")
# Packages whose schemas ship with Shipmate: kam and the modules it builds in.
SHIPPED = tuple(sorted(p.name for p in SCHEMAS.iterdir() if (p / "kcl.mod").is_file()))


@dataclass(frozen=True)
class Dependency:
    """One dependency: `path` is the repository-relative directory of a local package, or ""
    for a shipped one; `line` is where `kcl.mod` names it."""

    name: str
    path: str
    line: int


def parse_kcl_mod(file: str, text: str) -> tuple[Dependency, ...]:
    """The dependencies `file` (a repository-relative `kcl.mod`) names, sorted by name."""
    mod = kclmod.parse_kcl_mod(file, text)
    found: list[Dependency] = []
    problems: list[Problem] = []
    for dep in mod.dependencies:
        if dep.path is not None:
            found.append(Dependency(dep.name, dep.path, dep.line))
        elif dep.name in SHIPPED:
            found.append(Dependency(dep.name, "", dep.line))
        else:
            problems.append(Problem(
                file, dep.line, 1, f"dependencies.{dep.name}",
                f"unknown dependency {dep.name!r}: Shipmate ships the schemas of {', '.join(SHIPPED)}, and "
                "resolves other packages only from a local path (path = \"...\"), never from a registry"))
    if problems:
        raise ConfigError(problems)
    return tuple(found)


def profile_entries(file: str, text: str) -> tuple[tuple[str, int], ...]:
    """The `[profile] entries` of `file` (the main package's files, as kpm compiles them) as
    repository-relative paths with the line naming them; () when there are none."""
    return kclmod.parse_kcl_mod(file, text).entries
