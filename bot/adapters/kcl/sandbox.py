"""Where kcl-lib runs: under bubblewrap when it works here, with no network and no host files.

The child sees the system directories (`/usr` and its links), the Python installation and
virtual environment it runs from (read-only), this adapter's directory (the worker and the
shipped schemas, read-only) and the compile's temporary directory; nothing else of the host
(the bot's data, its settings, the GitHub App key, other checkouts) exists inside. A new
network namespace leaves it no network at all, not even the host's loopback; `--die-with-parent`
and the PID namespace end it with the bot. Without a working `bwrap` the compile still runs
in its child process with the import checks, limits and timeout of `compiler.py`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
_lock = threading.Lock()
_probed: dict[str, bool] = {}


@dataclass(frozen=True)
class Bubblewrap:
    """Runs a command under the `bwrap` at `path`, seeing `scratch` read-write."""

    path: str

    def wrap(self, argv: Sequence[str], scratch: Path, work: Path) -> list[str]:
        args = [self.path, "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--proc", "/proc",
                "--dev", "/dev", "--tmpfs", "/tmp"]
        for name in _SYSTEM:
            path = Path(name)
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), name]
            elif path.is_dir():
                args += ["--ro-bind", name, name]
        for path in _python_dirs():
            args += ["--ro-bind", str(path), str(path)]
        args += ["--ro-bind", str(HERE), str(HERE), "--bind", str(scratch), str(scratch), "--chdir", str(work), "--"]
        return [*args, *argv]


def _python_dirs() -> list[Path]:
    """The interpreter's installation and environment, outside the system directories."""
    found: list[Path] = []
    for raw in (sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parent.parent)):
        path = Path(raw).resolve()
        if not any(str(path) == s or str(path).startswith(s + "/") for s in _SYSTEM) and path not in found:
            found.append(path)
    return found


def find() -> Bubblewrap | None:
    """A working bubblewrap, probed once per binary; None (and a warning) when there is none."""
    found = shutil.which("bwrap")
    if found is None:
        with _lock:
            if "" not in _probed:
                _probed[""] = False
                log.warning("KCL compiles without a sandbox: bwrap is not installed "
                            "(Debian/Ubuntu: apt-get install bubblewrap)")
        return None
    sandbox = Bubblewrap(found)
    with _lock:
        if found not in _probed:
            scratch = Path(os.path.realpath(os.environ.get("TMPDIR", "/tmp")))
            try:
                probe = subprocess.run(sandbox.wrap([sys.executable, "-I", "-c", "import kcl_lib.api"], scratch, scratch),
                                       capture_output=True, text=True, timeout=60, check=False, env={})
                _probed[found] = probe.returncode == 0
                reason = probe.stderr.strip()[-300:]
            except (OSError, subprocess.TimeoutExpired) as exc:
                _probed[found], reason = False, str(exc)
            if not _probed[found]:
                log.warning("KCL compiles without a sandbox: %s does not work here: %s", found, reason)
    return sandbox if _probed[found] else None
