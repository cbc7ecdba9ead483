"""A `kcl.mod`'s `[dependencies]` and `[profile] entries`: what each names, where, on which line.

Kusion's `kcl.mod` names `kam` (git) and the catalog modules (OCI, with a tag); offline, those
resolve to the schemas shipped in `schemas/`. A `path = "..."` dependency is a local package of
the config repository (Kusion's `kusion mod` layout). Anything else cannot be resolved here.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.core.errors import ConfigError, Problem

SCHEMAS = Path(__file__).with_name("schemas")
# Packages whose schemas ship with Shipmate: kam and the catalog modules it builds in.
SHIPPED = tuple(sorted(p.name for p in SCHEMAS.iterdir() if (p / "kcl.mod").is_file()))
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Dependency:
    """One dependency: `path` is the repository-relative directory of a local package, or ""
    for a shipped one; `line` is where `kcl.mod` names it."""

    name: str
    path: str
    line: int


def parse_kcl_mod(file: str, text: str) -> tuple[Dependency, ...]:
    """The dependencies `file` (a repository-relative `kcl.mod`) names, sorted by name."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, col = _position(str(exc))
        raise ConfigError([Problem(file, line, col, "", f"not valid TOML: {exc}")]) from None
    deps = data.get("dependencies", {})
    if not isinstance(deps, dict):
        raise ConfigError([Problem(file, _line_of(text, "dependencies", header=True), 1, "dependencies",
                                   "expected a table of dependencies")])
    found: list[Dependency] = []
    problems: list[Problem] = []
    base = posixpath.dirname(file)
    for name in sorted(deps):
        line = _line_of(text, name)
        where = f"dependencies.{name}"
        value: Any = deps[name]
        if not _NAME.match(name):
            problems.append(Problem(file, line, 1, where, "a dependency's name must be a KCL identifier"))
            continue
        local = value.get("path") if isinstance(value, dict) else None
        if local is not None:
            target = _local(base, local)
            if target is None:
                problems.append(Problem(file, line, 1, where, f"path {local!r} is not inside the repository"))
            else:
                found.append(Dependency(name, target, line))
        elif name in SHIPPED:
            found.append(Dependency(name, "", line))
        else:
            problems.append(Problem(
                file, line, 1, where,
                f"unknown dependency {name!r}: Shipmate ships the schemas of {', '.join(SHIPPED)}, and "
                "resolves other packages only from a local path (path = \"...\"), never from a registry"))
    if problems:
        raise ConfigError(problems)
    return tuple(found)


def profile_entries(file: str, text: str) -> tuple[tuple[str, int], ...]:
    """The `[profile] entries` of `file` (the main package's files, as kpm compiles them) as
    repository-relative paths with the line naming them; () when there are none."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return ()  # parse_kcl_mod reports it
    profile = data.get("profile", {})
    raw = profile.get("entries", []) if isinstance(profile, dict) else []
    line = _line_of(text, "entries", section="profile")
    if not isinstance(raw, list) or not all(isinstance(e, str) for e in raw):
        raise ConfigError([Problem(file, line, 1, "profile.entries", "expected a list of file paths")])
    found: list[tuple[str, int]] = []
    for entry in raw:
        target = _local(posixpath.dirname(file), entry)
        if target is None or not target:
            raise ConfigError([Problem(file, line, 1, "profile.entries",
                                       f"entry {entry!r} is not a file inside the repository")])
        found.append((target, line))
    return tuple(found)


def _local(base: str, raw: object) -> str | None:
    if not isinstance(raw, str) or not raw or raw.startswith("/"):
        return None
    target = posixpath.normpath(posixpath.join(base, raw))
    if target == ".":
        return ""
    if target == ".." or target.startswith("../"):
        return None
    return target


def _line_of(text: str, key: str, header: bool = False, section: str = "dependencies") -> int:
    pattern = re.compile(rf"^\s*\[\s*{re.escape(key)}\s*\]" if header else rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    inside = header
    for number, line in enumerate(text.splitlines(), 1):
        if not header and re.match(r"^\s*\[", line):
            inside = bool(re.match(rf"^\s*\[\s*{section}\s*\]", line))
            continue
        if inside and pattern.match(line):
            return number
    return 1


def _position(message: str) -> tuple[int, int]:
    match = re.search(r"at line (\d+), column (\d+)", message)
    return (int(match[1]), int(match[2])) if match else (1, 1)
