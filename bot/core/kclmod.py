"""A Kusion `kcl.mod`, parsed: its `[dependencies]` and `[profile] entries`, each with the line
that names it, local paths resolved against the repository (never leaving it).

Pure: the KCL adapter resolves the dependencies to packages and compiles; the app reads the
local paths to know which files outside a stack's directory its KCL reads.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from dataclasses import dataclass
from typing import Any

from bot.core.errors import ConfigError, Problem

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class KclDependency:
    """One dependency: `path` is the repository-relative directory of a local package
    (`path = "..."`), None for any other source (OCI, git, a version); `line` names it."""

    name: str
    path: str | None
    line: int


@dataclass(frozen=True)
class KclMod:
    """A parsed `kcl.mod`: dependencies sorted by name, entries in their order."""

    file: str
    dependencies: tuple[KclDependency, ...]
    entries: tuple[tuple[str, int], ...]  # repository-relative path, line


def parse_kcl_mod(file: str, text: str) -> KclMod:
    """Parse `file` (a repository-relative `kcl.mod`); ConfigError at the offending line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+), column (\d+)", str(exc))
        line, col = (int(match[1]), int(match[2])) if match else (1, 1)
        raise ConfigError([Problem(file, line, col, "", f"not valid TOML: {exc}")]) from None
    base = posixpath.dirname(file)
    problems: list[Problem] = []
    deps = data.get("dependencies", {})
    found: list[KclDependency] = []
    if not isinstance(deps, dict):
        problems.append(Problem(file, line_of(text, "dependencies", header=True), 1, "dependencies",
                                "expected a table of dependencies"))
        deps = {}
    for name in sorted(deps):
        line = line_of(text, name)
        where = f"dependencies.{name}"
        value: Any = deps[name]
        if not _NAME.match(name):
            problems.append(Problem(file, line, 1, where, "a dependency's name must be a KCL identifier"))
            continue
        raw = value.get("path") if isinstance(value, dict) else None
        if raw is None:
            found.append(KclDependency(name, None, line))
            continue
        target = inside(base, raw)
        if target is None:
            problems.append(Problem(file, line, 1, where, f"path {raw!r} is not inside the repository"))
        else:
            found.append(KclDependency(name, target, line))
    profile = data.get("profile", {})
    raw_entries = profile.get("entries", []) if isinstance(profile, dict) else []
    entries: list[tuple[str, int]] = []
    line = line_of(text, "entries", section="profile")
    if not isinstance(raw_entries, list) or not all(isinstance(e, str) for e in raw_entries):
        problems.append(Problem(file, line, 1, "profile.entries", "expected a list of file paths"))
        raw_entries = []
    for entry in raw_entries:
        target = inside(base, entry)
        if not target:
            problems.append(Problem(file, line, 1, "profile.entries",
                                    f"entry {entry!r} is not a file inside the repository"))
        else:
            entries.append((target, line))
    if problems:
        raise ConfigError(problems)
    return KclMod(file, tuple(found), tuple(entries))


def inside(base: str, raw: object) -> str | None:
    """`raw` joined to the directory `base`, or None when it is not a path inside the repository."""
    if not isinstance(raw, str) or not raw or raw.startswith("/"):
        return None
    target = posixpath.normpath(posixpath.join(base, raw))
    if target == ".":
        return ""
    if target == ".." or target.startswith("../"):
        return None
    return target


def line_of(text: str, key: str, header: bool = False, section: str = "dependencies") -> int:
    """The line of `key = ...` in `[section]` (or of the header `[key]`); 1 when not found."""
    pattern = re.compile(rf"^\s*\[\s*{re.escape(key)}\s*\]" if header else rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
    within = header
    for number, line in enumerate(text.splitlines(), 1):
        if not header and re.match(r"^\s*\[", line):
            within = bool(re.match(rf"^\s*\[\s*{section}\s*\]", line))
            continue
        if within and pattern.match(line):
            return number
    return 1
