"""The local filesystem as a config repository: find its root, read files into a snapshot.

`LocalConfigReader` implements the `ConfigReader` port over a directory. Hidden files and
directories (`.git`, Terraform working directories such as `.hashicorp_null_...`) are never
listed.
"""

from __future__ import annotations

import os
from pathlib import Path

from bot.core.config.repo import WORKSPACES_DIR
from bot.core.config.settings import SETTINGS_FILE
from bot.core.errors import ConfigError, Problem

ROOT_MARKERS = (WORKSPACES_DIR, SETTINGS_FILE, ".git")
MAX_FILE_BYTES = 4 * 1024 * 1024


def find_repo_root(start: Path) -> Path:
    """The nearest directory at or above `start` holding `workspaces/`, `shipmate.yaml` or `.git`."""
    current = start.resolve()
    for candidate in (current, *current.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    raise ConfigError([Problem(str(start), 0, 0, "", "not inside a config repository: no workspaces/, "
                               "shipmate.yaml or .git found in this directory or above it")])


class LocalConfigReader:
    """Reads text files below `root`; paths are POSIX and relative to it."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if path != self.root and self.root not in path.parents:
            raise ValueError(f"{rel!r} is outside the repository")
        return path

    def read(self, path: str) -> str | None:
        target = self._path(path)
        if not target.is_file():
            return None
        if target.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError([Problem(path, 0, 0, "", f"file is larger than {MAX_FILE_BYTES} bytes")])
        try:
            return target.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError([Problem(path, 0, 0, "", "expected a UTF-8 text file")]) from None
        except OSError as exc:
            raise ConfigError([Problem(path, 0, 0, "", f"cannot read: {exc.strerror or exc}")]) from None

    def list_files(self, directory: str, recursive: bool = False) -> list[str]:
        base = self._path(directory)
        if not base.is_dir():
            return []
        out: list[str] = []
        if recursive:
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in filenames:
                    if not name.startswith("."):
                        out.append((Path(dirpath) / name).relative_to(self.root).as_posix())
        else:
            out = [p.relative_to(self.root).as_posix() for p in base.iterdir()
                   if p.is_file() and not p.name.startswith(".")]
        return sorted(out)

    def is_dir(self, path: str) -> bool:
        return self._path(path).is_dir()
