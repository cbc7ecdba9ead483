"""The local filesystem as a config repository: find its root, read files into a snapshot.

`LocalConfigReader` implements the `ConfigReader` port over a directory (a user's working
copy for the CLI, a pull request's checkout for the bot). Hidden files and directories
(`.git`, Terraform working directories such as `.hashicorp_null_...`) are never listed.

The directory's content is untrusted: a symbolic link whose target lies outside the
repository, or inside one of its hidden directories, is refused with a `ConfigError` naming
the link's path (so a pull request cannot make the bot read `/proc/self/environ` or
`.git/config` as a stack file), as is a symbolic link loop; files are read up to
`MAX_FILE_BYTES`.

`bot.adapters.localfs.datafiles` keeps the bot's own bookkeeping in its data directory: the
repositories it has served (the `RepositoryBook` port) and small JSON documents;
`bot.adapters.localfs.jobstate` the scheduled jobs' state for a single process (the
`JobState` port: documents there, leases in memory).
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
        """The file `rel` names, refused when it (or a link on the way) leads out of the
        repository or into a hidden directory."""
        lexical = Path(os.path.normpath(self.root / rel))
        if lexical != self.root and self.root not in lexical.parents:
            raise _refused(rel, "the path leads outside the repository")
        try:
            path = lexical.resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
            raise _refused(rel, "a symbolic link loop") from None
        if path == lexical:
            return path
        if path != self.root and self.root not in path.parents:
            raise _refused(rel, "a symbolic link that leads outside the repository")
        if any(part.startswith(".") for part in path.relative_to(self.root).parts):
            raise _refused(rel, "a symbolic link that leads into a hidden directory")
        return path

    def read(self, path: str) -> str | None:
        target = self._path(path)
        if not target.is_file():
            return None
        try:
            with target.open("rb") as handle:
                data = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError([Problem(path, 1, 1, "", f"cannot read: {exc.strerror or exc}")]) from None
        if len(data) > MAX_FILE_BYTES:
            raise ConfigError([Problem(path, 1, 1, "", f"file is larger than {MAX_FILE_BYTES} bytes")])
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise ConfigError([Problem(path, line, column, "", "expected a UTF-8 text file")]) from None

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


def _refused(rel: str, why: str) -> ConfigError:
    return ConfigError([Problem(rel, 1, 1, "", f"refused to read: {why}")])
