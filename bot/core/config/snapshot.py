"""A read-only snapshot of the config repository's files: relative POSIX path → text.

The core never reads files. An adapter (the local filesystem, a git tree at a commit) fills a
`ConfigSnapshot` with the files a stack needs, and parsing and generation work on that value,
so the same code serves `shipmate generate` on a checkout and a preview of a pull request's
head commit.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field


def normalize(path: str) -> str:
    """`./a/../b/` → `b`; the repository root is `""`. Paths may not leave the root."""
    if path in ("", ".", "/"):
        return ""
    norm = posixpath.normpath(path.replace("\\", "/")).lstrip("/")
    if norm == ".":
        return ""
    if norm == ".." or norm.startswith("../"):
        raise ValueError(f"path {path!r} leaves the repository")
    return norm


def join(*parts: str) -> str:
    return normalize(posixpath.join(*[p for p in parts if p]))


@dataclass(frozen=True)
class ConfigSnapshot:
    """Files of a config repository by path relative to its root."""

    files: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", {normalize(k): v for k, v in self.files.items()})

    def read(self, path: str) -> str | None:
        return self.files.get(normalize(path))

    def has(self, path: str) -> bool:
        return normalize(path) in self.files

    def is_dir(self, path: str) -> bool:
        prefix = normalize(path)
        prefix = prefix + "/" if prefix else ""
        return any(p.startswith(prefix) for p in self.files)

    def under(self, directory: str) -> list[str]:
        """Every file below `directory` (recursively), sorted."""
        prefix = normalize(directory)
        prefix = prefix + "/" if prefix else ""
        return sorted(p for p in self.files if p.startswith(prefix))

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.files))

    def merged(self, more: Mapping[str, str]) -> ConfigSnapshot:
        return ConfigSnapshot({**self.files, **more})
