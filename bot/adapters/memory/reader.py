"""`ConfigReader` over one in-memory commit, by the rules `LocalConfigReader` reads a checkout.

Paths are POSIX and relative to the root; a path leading outside the repository is refused
with a `ConfigError` naming it, files larger than `MAX_FILE_BYTES` (UTF-8 encoded) are
refused, hidden files and directories are never listed (but may be read by name), and a
missing file reads as None. A commit has no symbolic links, so none is ever followed.
`MemoryReaders` turns a checkout name (`bot.adapters.memory.checkouts`) into its reader:
the bot's `Services.reader` over in-memory checkouts.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from bot.adapters.memory.checkouts import parse_checkout
from bot.adapters.memory.commits import Commits
from bot.core.errors import ConfigError, Problem

MAX_FILE_BYTES = 4 * 1024 * 1024  # the same limit as a checkout on disk


class MemoryConfigReader:
    """Reads the files of one commit."""

    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = files

    def _path(self, rel: str) -> str:
        """`rel` normalised ("" for the root); refused when it leads outside the repository."""
        normal = posixpath.normpath(rel)
        if normal.startswith("/") or normal == ".." or normal.startswith("../"):
            raise ConfigError([Problem(rel, 1, 1, "", "refused to read: the path leads outside the repository")])
        return "" if normal == "." else normal

    def read(self, path: str) -> str | None:
        text = self.files.get(self._path(path))
        if text is None:
            return None
        if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
            raise ConfigError([Problem(path, 1, 1, "", f"file is larger than {MAX_FILE_BYTES} bytes")])
        return text

    def list_files(self, directory: str, recursive: bool = False) -> list[str]:
        base = self._path(directory)
        prefix = f"{base}/" if base else ""
        out = []
        for path in self.files:
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            if (recursive or len(parts) == 1) and not any(p.startswith(".") for p in parts):
                out.append(path)
        return sorted(out)

    def is_dir(self, path: str) -> bool:
        base = self._path(path)
        return base == "" or any(p.startswith(f"{base}/") for p in self.files)


class MemoryReaders:
    """A checkout name -> the reader of its commit (`Services.reader` for in-memory checkouts)."""

    def __init__(self, commits: Commits) -> None:
        self.commits = commits

    def __call__(self, checkout: str) -> MemoryConfigReader:
        repo, sha = parse_checkout(checkout)
        return MemoryConfigReader(self.commits.files(repo, sha))
