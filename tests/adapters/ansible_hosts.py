"""Test hosts for the Ansible runtime's tests: OpenSSH `sshd` processes on loopback ports.

Each host has its own host key, its own sshd_config and a `root` directory that the tests give
as the inventory's `baseDir` (the hosts share the machine's users and /etc, so tests use user
names of their own). A session on the host has `bin/` first on its PATH, where `systemctl` is
a test double at the SSH boundary (no systemd here): it knows the unit files under
`<root>/etc/systemd/system`, and `start` really runs the unit's ExecStart in the background, as
its User, with its EnvironmentFile (read under `<root>`), keeping the pid and state in
`<root>/run/units`, so that `is-active` and a port's readiness are real. It answers what
`ansible.builtin.systemd_service` asks: show, is-active, is-enabled, enable, disable, start,
stop, restart, daemon-reload. Stopping the hosts stops every unit they started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SSHD = "/usr/sbin/sshd"  # Debian's openssh-server (scripts/install)

SYSTEMCTL = r'''#!/usr/bin/python3
"""systemctl test double (tests/adapters/ansible_hosts.py): units under $UNIT_ROOT."""
import json, os, pwd, shlex, signal, subprocess, sys

ROOT = os.environ["UNIT_ROOT"]
STATE = ROOT + "/run/units"
words = [a.strip("'") for a in sys.argv[1:] if not a.startswith("-")]
command, unit = (words + ["", ""])[:2]


def unit_file():
    return ROOT + "/etc/systemd/system/" + unit


def state():
    path = STATE + "/" + unit + ".json"
    return json.load(open(path)) if os.path.exists(path) else {"pid": 0, "enabled": False, "starts": 0}


def save(s):
    os.makedirs(STATE, exist_ok=True)
    json.dump(s, open(STATE + "/" + unit + ".json", "w"))


def alive(pid):
    try:
        return bool(pid) and open("/proc/%d/stat" % pid).read().split()[2] != "Z"
    except OSError:
        return False


def start():
    s = state()
    if alive(s["pid"]):
        return
    spec = dict(l.strip().split("=", 1) for l in open(unit_file()) if "=" in l)
    env = {"PATH": "/usr/bin:/bin"}
    if "EnvironmentFile" in spec:
        for line in open(ROOT + spec["EnvironmentFile"]):
            key, sep, value = line.strip().partition("=")
            if sep:
                env[key] = shlex.split(value)[0] if value else ""
    user = pwd.getpwnam(spec["User"]) if "User" in spec else None

    def become():
        os.setsid()
        if user:
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    process = subprocess.Popen(shlex.split(spec["ExecStart"]), env=env, preexec_fn=become,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    s.update(pid=process.pid, starts=s["starts"] + 1)
    save(s)


def stop():
    s = state()
    if alive(s["pid"]):
        os.killpg(s["pid"], signal.SIGTERM)
    s["pid"] = 0
    save(s)


if command == "show":
    s = state()
    loaded = os.path.exists(unit_file())
    print("Id=%s\nNames=%s\nLoadState=%s\nActiveState=%s\nSubState=%s\nUnitFileState=%s" % (
        unit, unit, "loaded" if loaded else "not-found", "active" if alive(s["pid"]) else "inactive",
        "running" if alive(s["pid"]) else "dead", ("enabled" if s["enabled"] else "disabled") if loaded else ""))
elif command == "is-active":
    running = alive(state()["pid"])
    print("active" if running else "inactive")
    sys.exit(0 if running else 3)
elif command == "is-enabled":
    enabled = os.path.exists(unit_file()) and state()["enabled"]
    print("enabled" if enabled else "disabled")
    sys.exit(0 if enabled else 1)
elif command in ("enable", "disable"):
    s = state()
    s["enabled"] = command == "enable"
    save(s)
elif command == "start":
    start()
elif command == "stop":
    stop()
elif command == "restart":
    stop()
    start()
'''


@dataclass(frozen=True)
class Host:
    name: str
    port: int
    root: Path

    def entry(self, **over: Any) -> dict[str, Any]:
        """The host as an inventory entry (the `host` attribute of a resource)."""
        return {"name": self.name, "address": "127.0.0.1", "port": self.port, "user": "root",
                "baseDir": str(self.root), "auth": {"privateKey": "ref://ssh/key"}, **over}

    def unit(self, name: str) -> dict[str, Any]:
        """What the systemctl double keeps about a unit (pid, enabled, starts)."""
        path = self.root / "run" / "units" / f"{name}.json"
        return dict(json.loads(path.read_text())) if path.exists() else {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def ssh_hosts(directory: Path, names: tuple[str, ...], authorized_key: Path) -> Iterator[list[Host]]:
    """Start one sshd per name, each logging in `authorized_key`'s holder as root; stop them
    (and every unit they started) on leaving."""
    started: list[subprocess.Popen[bytes]] = []
    made: list[Host] = []
    Path("/run/sshd").mkdir(exist_ok=True)
    try:
        for name in names:
            home = directory / name
            (home / "root" / "etc" / "systemd" / "system").mkdir(parents=True)
            (home / "bin").mkdir()
            (home / "bin" / "systemctl").write_text(SYSTEMCTL)
            (home / "bin" / "systemctl").chmod(0o755)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "hostkey")], check=True)
            shutil.copy(authorized_key, home / "authorized_keys")
            port = free_port()
            (home / "sshd_config").write_text(
                f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'hostkey'}\n"
                f"AuthorizedKeysFile {home / 'authorized_keys'}\nPidFile {home / 'sshd.pid'}\n"
                "PermitRootLogin yes\nPasswordAuthentication no\nStrictModes no\nUsePAM no\n"
                f"SetEnv UNIT_ROOT={home / 'root'} PATH={home / 'bin'}:/usr/bin:/bin\n")
            started.append(subprocess.Popen([SSHD, "-D", "-e", "-f", str(home / "sshd_config")],
                                            stderr=subprocess.DEVNULL))
            made.append(Host(name, port, home / "root"))
        for host in made:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", host.port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        yield made
    finally:
        for process in started:
            process.terminate()
            process.wait(timeout=10)
        for host in made:
            for unit in (host.root / "run" / "units").glob("*.json"):
                pid = json.loads(unit.read_text()).get("pid")
                if pid:
                    try:
                        os.killpg(pid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
