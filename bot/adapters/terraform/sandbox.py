"""Where Terraform runs: a bubblewrap sandbox, and the process group that ends with the bot.

A stack's Terraform configuration comes from a pull request: untrusted code that Terraform
evaluates (`file()`, `templatefile()`, providers, `local-exec`). Under bubblewrap (`bwrap`)
it sees only:

- its working directory (read-write) and, read-only, the Terraform binary, the CLI config
  file, the provider mirrors and plugin cache that config names (the plugin cache is
  writable during `init` only), and the TLS settings its environment names;
- the system directories needed to execute (`/usr`, `/lib*`, `/bin`, `/sbin`), the TLS
  roots, `/etc/resolv.conf`, `/etc/hosts`, `/etc/nsswitch.conf` and a minimal
  `/etc/passwd` and `/etc/group`;
- its own `/proc` (a new PID namespace: no other process, `/proc/1/environ` is the
  sandbox's own built environment), a private `/dev`, `/tmp` and an empty home, and no
  capability even when the bot runs as root;
- the network (providers need it).

Nothing else of the host (the bot's data directory, its settings file, the GitHub App
key, other stacks' working directories) exists inside. `--die-with-parent` and the PID
namespace end every process of the sandbox when the bot dies, even by SIGKILL.

`SHIPMATE_TERRAFORM_SANDBOX` (see `bot.settings`) chooses: `auto` uses bwrap when it is
installed and works (probed once per binary), `bwrap` requires it, `off` never uses it.
Without bwrap Terraform still runs in its own session and process group under a small
reaper (`bot/adapters/terraform/reaper.py`) that kills the whole group when the bot dies.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import ConfigError, Problem

log = logging.getLogger(__name__)

MODES = ("auto", "bwrap", "off")
REAPER = Path(__file__).with_name("reaper.py")
# System directories bound read-only (or re-created as the same symlinks).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
_SYSTEM_FILES = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/localtime",
)
_TLS_DIRS = ("/etc/ssl/certs", "/etc/ca-certificates", "/etc/pki/tls/certs", "/etc/pki/ca-trust")
_TLS_ENV = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_QUOTED_PATH = re.compile(r'"(/[^"\n]+)"')
_PASSWD = "terraform:x:{uid}:{gid}:terraform:{home}:/usr/sbin/nologin\n"
_GROUP = "terraform:x:{gid}:\n"

_probe_lock = threading.Lock()
_probed: dict[str, str | None] = {}  # bwrap path -> None when it works, else the reason


@dataclass(frozen=True, slots=True)
class Mounts:
    """What one command sees besides the system: paths are bound at the same place."""

    work_dir: Path
    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class Bubblewrap:
    """Runs commands under `bwrap` (the binary at `path`)."""

    path: str
    support_dir: Path  # holds the minimal /etc/passwd and /etc/group

    def wrap(self, argv: Sequence[str], mounts: Mounts, env: Mapping[str, str]) -> list[str]:
        """The bwrap command line running `argv` in `mounts.work_dir`."""
        args = [
            self.path,
            "--unshare-all",
            "--share-net",
            "--die-with-parent",
            "--cap-drop",  # when the bot runs as root: no capability inside either
            "ALL",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--tmpfs",
            "/tmp",
        ]
        home = env.get("HOME", "")
        if home.startswith("/") and home not in ("/", "/tmp") and not _under_system(Path(home)):
            args += ["--tmpfs", home]
        for name in _SYSTEM_DIRS:
            path = Path(name)
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), name]
            elif path.is_dir():
                args += ["--ro-bind", name, name]
        for name in (*_TLS_DIRS, *_SYSTEM_FILES):
            args += ["--ro-bind-try", name, name]
        passwd, group = self._identity_files(home or str(mounts.work_dir))
        args += ["--ro-bind", str(passwd), "/etc/passwd", "--ro-bind", str(group), "/etc/group"]
        for name in _TLS_ENV:
            value = env.get(name, "")
            if value.startswith("/") and not _under_system(Path(value)):
                args += ["--ro-bind-try", value, value]
        for path in _unique(mounts.read_only):
            if not _under_system(path):
                args += ["--ro-bind-try", str(path), str(path)]
        for path in _unique(mounts.writable):
            args += ["--bind-try", str(path), str(path)]
        work = str(mounts.work_dir)
        args += ["--bind", work, work, "--chdir", work, "--"]
        return [*args, *argv]

    def _identity_files(self, home: str) -> tuple[Path, Path]:
        uid, gid = os.getuid(), os.getgid()
        passwd = self.support_dir / f"passwd-{uid}"
        group = self.support_dir / f"group-{gid}"
        wanted = {passwd: _PASSWD.format(uid=uid, gid=gid, home=home), group: _GROUP.format(gid=gid)}
        self.support_dir.mkdir(parents=True, exist_ok=True)
        for path, text in wanted.items():
            if not path.is_file() or path.read_text() != text:
                tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
                tmp.write_text(text)
                os.replace(tmp, path)
        return passwd, group


def _under_system(path: Path) -> bool:
    text = str(path)
    return any(text == d or text.startswith(d + "/") for d in _SYSTEM_DIRS)


def _unique(paths: Iterable[Path]) -> list[Path]:
    seen: list[Path] = []
    for path in paths:
        if path not in seen:
            seen.append(path)
    return seen


def config_paths(cli_config: Path | None) -> list[Path]:
    """Absolute paths a Terraform CLI config names (filesystem mirrors, plugin cache)."""
    if cli_config is None:
        return []
    try:
        text = cli_config.read_text()
    except OSError:
        return []
    return [Path(m) for m in _QUOTED_PATH.findall(text) if not m.startswith("//")]


def parse_mode(value: str | None, where: str = "SHIPMATE_TERRAFORM_SANDBOX") -> str:
    """`auto` (default), `bwrap` or `off`; a ConfigError naming `where` otherwise."""
    mode = (value or "auto").strip().lower()
    if mode not in MODES:
        raise ConfigError(
            [Problem("environment", 0, 0, where, f"must be one of {', '.join(MODES)}, got {value!r}")]
        )
    return mode


def resolve(mode: str, env: Mapping[str, str], support_dir: Path) -> Bubblewrap | None:
    """The sandbox for `mode`: None for `off` (or `auto` without a working bwrap).

    `bwrap` mode raises ConfigError when bubblewrap is missing or does not work here.
    """
    mode = parse_mode(mode)
    if mode == "off":
        return None
    found = shutil.which("bwrap", path=env.get("PATH") or os.defpath)
    reason = "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    if found is not None:
        sandbox = Bubblewrap(found, support_dir)
        failure = _probe(sandbox, env)
        if failure is None:
            return sandbox
        reason = f"{found} does not work here: {failure}"
    if mode == "bwrap":
        raise ConfigError(
            [Problem("environment", 0, 0, "SHIPMATE_TERRAFORM_SANDBOX", f"is bwrap but {reason}")]
        )
    log.warning("Terraform runs without a sandbox: %s (SHIPMATE_TERRAFORM_SANDBOX=auto)", reason)
    return None


def _probe(sandbox: Bubblewrap, env: Mapping[str, str]) -> str | None:
    """None when bwrap can run a program here; else why not. Once per bwrap binary."""
    with _probe_lock:
        if sandbox.path in _probed:
            return _probed[sandbox.path]
        true = shutil.which("true", path="/usr/bin:/bin") or "/bin/true"
        sandbox.support_dir.mkdir(parents=True, exist_ok=True)
        argv = sandbox.wrap([true], Mounts(work_dir=sandbox.support_dir), env)
        try:
            done = subprocess.run(
                argv, env=dict(env), capture_output=True, text=True, timeout=30, check=False
            )
            failure = None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            failure = str(exc)
        _probed[sandbox.path] = failure
        return failure


def reaper_argv(argv: Sequence[str]) -> list[str]:
    """`argv` under the reaper: killed with its whole process group when the bot dies."""
    return [sys.executable, "-I", "-S", str(REAPER), str(os.getpid()), *argv]
