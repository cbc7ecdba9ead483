"""A `Store` on a plain directory, same layout as the state branch, for the CLI outside git.

Transactions are serialised across processes by an exclusive `fcntl.flock` on
`<dir>/.shipmate.lock`; each file is written to a fresh temporary file (created with
O_EXCL, flushed and fsynced) and renamed over its target with `os.replace`, so readers see
the old or the new file, never half of one. Within a transaction the index is written after
the release file and lock records last, so a crash between the two leaves at worst an
unlisted release file that the next create overwrites.

The directory may also hold Kusion's own files (`workspaces/`, `config.yaml`): a Kusion
`$KUSION_HOME` can serve as the directory.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bot.core import statelayout as layout
from bot.core.errors import ConfigError, Problem, StateConflict
from bot.core.statelayout import Done, Write

T = TypeVar("T")

LOCK_FILE = ".shipmate.lock"
_TMP_PREFIX = ".tmp-"


class DirStore:
    """A `layout.Store` rooted at `root` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str], timeout_seconds: float = 60.0) -> None:
        self.root = Path(root).expanduser()
        if self.root.exists() and not self.root.is_dir():
            raise ConfigError([Problem(str(self.root), 0, 0, "backend", "is not a directory")])
        self.timeout_seconds = timeout_seconds
        self.description = f"directory {self.root}"

    def close(self) -> None:
        """Nothing is held between calls."""

    def snapshot(self) -> DirSnapshot:
        return DirSnapshot(self.root)

    def transact(self, fn: Callable[[layout.Snapshot], Write[T] | Done[T]]) -> T:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            self._lock(fd)
            out = fn(DirSnapshot(self.root))
            if isinstance(out, Done):
                return out.result
            for path, data in out.ordered():
                target = self.root / path
                if data is None:
                    try:
                        target.unlink()
                    except FileNotFoundError:
                        pass
                else:
                    _atomic_write(target, data)
            return out.result
        finally:
            os.close(fd)  # closing drops the flock

    def _lock(self, fd: int) -> None:
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StateConflict(
                        f"{self.description} stayed busy for {self.timeout_seconds:.0f}s "
                        f"(another process holds {self.root / LOCK_FILE})"
                    ) from None
                time.sleep(0.005)


class DirSnapshot:
    """Reads straight from the directory (the flock makes it consistent during a write)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, path: str) -> bytes | None:
        try:
            return (self.root / path).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def list_dir(self, path: str) -> tuple[str, ...]:
        try:
            names = os.listdir(self.root / path)
        except (FileNotFoundError, NotADirectoryError):
            return ()
        return tuple(sorted(n for n in names if not n.startswith(_TMP_PREFIX)))

    def label(self, path: str) -> str:
        return str(self.root / path)


def _atomic_write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
