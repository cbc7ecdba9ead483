"""How Ansible reaches the hosts of one run: a private directory with the inventory, the keys
and Ansible's configuration, gone when the run ends.

`RunDir` (a context manager) makes a directory of its own (0700) for one ansible-playbook run:
the inventory (`inventory.yml`, every value `!unsafe`: address, port, user, become, and the path of the host's key
file or its password), each private key resolved from its `ref://` reference at this moment
and written 0600, the `ansible.cfg` the run reads instead of the user's (no ~/.ansible.cfg,
no ~/.ssh/config: `ssh -F /dev/null`), Ansible's local temp directory and the SSH control
sockets. SSH connections are reused (ControlMaster with ControlPersist, pipelining), host keys
are checked: a host's `hostKey` from the inventory when it gives one, else accept-new against
a known_hosts file of the stack's that outlives the run. On leaving, the control masters are
told to exit and the directory (keys included) is removed, whatever happened.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from bot.adapters.ansible import untrusted
from bot.core.config.inventory import REF_PREFIX
from bot.core.errors import ConfigError, RuntimeFailed

PLUGINS = Path(__file__).parent / "plugins"
PYTHONS = ("/usr/bin/python3", "/usr/libexec/platform-python", "/usr/local/bin/python3", "python3")


class RunDir:
    """The private directory of one run; `secrets` are the values resolved for it (to mask)."""

    def __init__(
        self,
        hosts: Mapping[str, Mapping[str, Any]],
        *,
        forks: int,
        known_hosts: Path,
        resolve_secret: Callable[[str], str] | None,
        timeout_seconds: int = 10,
    ) -> None:
        self.hosts = dict(hosts)
        self.forks = forks
        self.known_hosts = known_hosts
        self.resolve_secret = resolve_secret
        self.timeout_seconds = timeout_seconds
        self.secrets: set[str] = set()
        self.path = Path(tempfile.mkdtemp(prefix="shipmate-ansible-", dir=_short_temp_dir()))

    def __enter__(self) -> RunDir:
        try:
            os.chmod(self.path, 0o700)
            for sub in ("keys", "tmp", "cp", "home"):
                (self.path / sub).mkdir(mode=0o700)
            inventory = {"all": {"hosts": {alias: self._vars(alias, h) for alias, h in sorted(self.hosts.items())}}}
            # Every value is a Spec's or a credential: Ansible must not template any of it.
            _private(self.path / "inventory.yml", untrusted.dump(untrusted.untemplated(inventory)))
            _private(self.path / "ansible.cfg", self._config())
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def inventory(self) -> Path:
        return self.path / "inventory.yml"

    def env(self) -> dict[str, str]:
        """Ansible's own variables for the run (the caller adds them to the child environment)."""
        return {
            "ANSIBLE_CONFIG": str(self.path / "ansible.cfg"),
            "ANSIBLE_HOME": str(self.path / "home"),
            "ANSIBLE_LOCAL_TEMP": str(self.path / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_DEPRECATION_WARNINGS": "0",
        }

    def close(self) -> None:
        """Tell every SSH control master of the run to exit, then remove the directory."""
        control = self.path / "cp"
        if control.is_dir():
            for socket in sorted(control.iterdir()):
                subprocess.run(
                    ["ssh", "-F", "/dev/null", "-o", f"ControlPath={socket}", "-O", "exit", "shipmate-run"],
                    capture_output=True, check=False, timeout=10,
                )
        shutil.rmtree(self.path, ignore_errors=True)

    def _secret(self, reference: Any, host: str, what: str) -> str:
        if not isinstance(reference, str) or not reference.startswith(REF_PREFIX):
            raise RuntimeFailed(f"host {host}: its {what} must be a {REF_PREFIX} reference to the workspace's secret store")
        if self.resolve_secret is None:
            raise RuntimeFailed(f"host {host}: its {what} {reference} needs the workspace's secret store, and the stack has none")
        try:
            value = self.resolve_secret(reference)
        except ConfigError as exc:
            raise RuntimeFailed(f"host {host}: {exc}") from exc
        self.secrets.add(value)
        return value

    def _vars(self, alias: str, host: Mapping[str, Any]) -> dict[str, Any]:
        name = str(host.get("name", alias))
        out: dict[str, Any] = {
            "ansible_host": host["address"],
            "ansible_port": int(host.get("port", 22)),
            "ansible_user": host["user"],
            "ansible_connection": "ssh",
            # The system's Python first: a version manager's shims on the PATH may name an
            # interpreter that is not installed (Ansible's own list starts with python3.13).
            "ansible_interpreter_python_fallback": list(PYTHONS),
        }
        ssh = ["-o", "IdentitiesOnly=yes", "-o", f"ConnectTimeout={self.timeout_seconds}"]
        auth = host.get("auth") or {}
        if auth.get("privateKey") is not None:
            key = self._secret(auth["privateKey"], name, "private key")
            path = self.path / "keys" / alias
            _private(path, key if key.endswith("\n") else key + "\n")
            out["ansible_ssh_private_key_file"] = str(path)
            ssh += ["-o", "BatchMode=yes", "-o", "PasswordAuthentication=no"]
        elif auth.get("password") is not None:
            out["ansible_password"] = self._secret(auth["password"], name, "password")
            ssh += ["-o", "PubkeyAuthentication=no"]
        else:
            ssh += ["-o", "BatchMode=yes"]
        host_key = host.get("hostKey")
        if isinstance(host_key, str) and host_key.strip():
            pinned = self.path / "keys" / f"{alias}.known_hosts"
            where = host["address"] if int(host.get("port", 22)) == 22 else f"[{host['address']}]:{host['port']}"
            _private(pinned, f"{where} {host_key.strip()}\n")
            ssh += ["-o", f"UserKnownHostsFile={pinned}", "-o", "StrictHostKeyChecking=yes"]
        else:
            self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
            ssh += ["-o", f"UserKnownHostsFile={self.known_hosts}", "-o", "StrictHostKeyChecking=accept-new"]
        out["ansible_ssh_extra_args"] = shlex.join(ssh)
        become = host.get("become")
        if isinstance(become, Mapping):
            out["ansible_become"] = True
            out["ansible_become_method"] = str(become.get("method", "sudo"))
            out["ansible_become_user"] = str(become.get("user", "root"))
            if become.get("password") is not None:
                out["ansible_become_password"] = self._secret(become["password"], name, "become password")
        return out

    def _config(self) -> str:
        lines: Sequence[str] = (
            "[defaults]",
            f"forks = {max(1, self.forks)}",
            "gathering = explicit",
            "interpreter_python = auto_silent",
            "retry_files_enabled = False",
            "stdout_callback = shipmate_events",
            f"callback_plugins = {PLUGINS / 'callback'}",
            f"library = {PLUGINS / 'modules'}",
            f"local_tmp = {self.path / 'tmp'}",
            f"timeout = {self.timeout_seconds}",
            "host_key_checking = True",
            "nocows = 1",
            "",
            "[ssh_connection]",
            "pipelining = True",
            "transfer_method = piped",  # one exec per file, also where the host offers no sftp
            "ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=10",
            f"control_path_dir = {self.path / 'cp'}",
            "control_path = %(directory)s/%%C",
            "",
        )
        return "\n".join(lines)


def _private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


SUN_PATH_MAX = 104  # bytes of a Unix socket's path, less than every platform's limit (108 on Linux)


def _short_temp_dir() -> str | None:
    """The temporary directory, unless SSH's control sockets under it (`<dir>/shipmate-ansible-
    XXXXXXXX/cp/<40 hex digits>`) would not fit in a Unix socket's path: then `/tmp`."""
    base = tempfile.gettempdir()
    longest = len(os.path.join(base, "shipmate-ansible-xxxxxxxx", "cp", "x" * 40))
    return None if longest < SUN_PATH_MAX or not os.path.isdir("/tmp") else "/tmp"
