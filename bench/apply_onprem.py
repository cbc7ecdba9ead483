"""Benchmark: previewing and applying an on-prem stack through the Ansible runtime vs running
the same tasks with `ansible-playbook` directly in one play.

Two test hosts (fixtures/sshd: real sshd, each in its own namespaces), each given what a
`hosts: web` stack gives it: a user, a directory, 25 files (50 files in all) and 5 units (a
unit file and the unit, started, enabled and ready: active and accepting on its port; 5 units
on 2 hosts). Both sides use the same connection settings (forks = the bot's concurrency, 10;
SSH ControlPersist, pipelining, piped transfers; hosts in parallel, `strategy: free`):

- *floor*: one hand-written play of the same tasks, one task per object plus each unit's
  readiness (`systemctl is-active`, `wait_for`), run with `ansible-playbook` - `--check` for
  the preview floors (on empty hosts a check that fails for want of a missing parent is
  forgiven), for real for the apply floor;
- *Shipmate*: the preview engine over `AnsibleRuntime` (one read: a probe per host and the
  check-run of what exists; one dry run) and the runtime's one `apply` call of all 60
  resources per host, recording each as it finishes.

Three phases, each on both sides: preview on empty hosts (everything a Create), apply from
empty, preview again (nothing changed: every object probed and check-run).
Goal: Shipmate within 1.5x of the floor in every phase.

    python bench/apply_onprem.py [--files 25] [--units 5] [--forks 10]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.adapters.ansible.runtime import AnsibleRuntime, AnsibleSettings  # noqa: E402
from bot.core.modules.builtins.onprem import COPY, EXT_READINESS, FILE, SYSTEMD, USER  # noqa: E402
from bot.core.preview.engine import preview  # noqa: E402
from bot.core.preview.model import Action  # noqa: E402
from bot.core.runtimes import RuntimeTarget  # noqa: E402
from bot.core.spec import ANSIBLE, EXT_RESOURCE_TYPE, Resource, Spec, State  # noqa: E402
from fixtures.sshd import ClientKey, TestHost, client_key, test_hosts  # noqa: E402

TARGET = 1.5
PHASES = ("preview (empty hosts)", "apply (from empty)", "preview (unchanged)")
FIRST_PORT = 18000


@dataclass(frozen=True, slots=True)
class Result:
    files: int
    units: int
    forks: int
    floor: tuple[float, ...]
    shipmate: tuple[float, ...]

    def ratio(self, i: int) -> float:
        return self.shipmate[i] / self.floor[i]

    def lines(self) -> list[str]:
        out = [
            f"on-prem: 2 hosts, each a user, a directory, {self.files} files and {self.units} units "
            f"({2 * self.files} files in all, the {self.units} units on both), forks {self.forks}",
            f"  {'phase':<24} {'floor':>8} {'shipmate':>10}   ratio",
        ]
        for i, phase in enumerate(PHASES):
            out.append(f"  {phase:<24} {self.floor[i]:7.2f} s {self.shipmate[i]:8.2f} s   {self.ratio(i):5.2f}x")
        worst = max(self.ratio(i) for i in range(len(PHASES)))
        out.append(f"  target: within {TARGET:g}x of ansible-playbook in one play: "
                   + ("met" if worst <= TARGET else "NOT met") + f" (worst {worst:.2f}x)")
        return out


@dataclass(frozen=True, slots=True)
class Obj:
    """One object on a host: its module, key, arguments, dependencies and readiness port."""

    module: str
    key: str
    args: dict[str, Any]
    deps: tuple[str, ...] = ()
    port: int = 0


def objects(files: int, units: int) -> list[Obj]:
    """What each host gets, in dependency order."""
    user = Obj(USER, "app", {"name": "app", "state": "present", "system": True, "home": "/var/lib/app"})
    conf = Obj(FILE, "/etc/app", {"path": "/etc/app", "state": "directory", "owner": "app", "mode": "0750"},
               (f"{USER}:app",))
    out = [user, conf]
    for i in range(files):
        path = f"/etc/app/f{i:03d}.conf"
        out.append(Obj(COPY, path, {"dest": path, "content": f"setting_{i} = {i}\n", "owner": "app", "mode": "0640"},
                       (f"{USER}:app", f"{FILE}:/etc/app")))
    for i in range(units):
        unit, port = f"app{i}.service", FIRST_PORT + i
        path = f"/etc/systemd/system/{unit}"
        body = (f"[Service]\nUser=app\nWorkingDirectory=/etc/app\n"
                f"ExecStart=/usr/bin/python3 -m http.server {port} --bind 127.0.0.1\n")
        out.append(Obj(COPY, path, {"dest": path, "content": body, "mode": "0644"}))
        out.append(Obj(SYSTEMD, unit, {"name": unit, "state": "started", "enabled": True, "daemon_reload": True},
                       (f"{USER}:app", f"{FILE}:/etc/app", f"{COPY}:{path}"), port))
    return out


def resources(hosts: list[TestHost], objs: list[Obj]) -> list[Resource]:
    out = []
    for host in hosts:
        entry = {"name": host.name, **host.entry(hostKey=host.host_key)}
        for o in objs:
            ext: dict[str, Any] = {EXT_RESOURCE_TYPE: o.module}
            if o.port:
                ext[EXT_READINESS] = {"active": True, "port": o.port}
            out.append(Resource(f"ansible:{host.name}:{o.module}:{o.key}", ANSIBLE, {**o.args, "host": entry},
                                tuple(f"ansible:{host.name}:{d}" for d in o.deps), ext))
    return out


# --- the floor: ansible-playbook, one play ----------------------------------------------------


def floor_play(objs: list[Obj]) -> list[dict[str, Any]]:
    forgive = "{{ ansible_check_mode }}"
    tasks: list[dict[str, Any]] = []
    for o in objs:
        tasks.append({"name": f"{o.module} {o.key}", o.module: o.args, "ignore_errors": forgive})
        if o.port:
            tasks.append({"name": f"active {o.key}", "ansible.builtin.command": {"argv": ["systemctl", "is-active", o.key]},
                          "register": "active", "until": "active.rc == 0", "retries": 60, "delay": 1,
                          "changed_when": False, "ignore_errors": forgive})
            tasks.append({"name": f"port {o.key}", "ansible.builtin.wait_for": {"host": "127.0.0.1", "port": o.port,
                                                                                  "timeout": 60},
                          "ignore_errors": forgive})
    return [{"hosts": "all", "gather_facts": False, "strategy": "free", "tasks": tasks}]


def floor_files(directory: Path, hosts: list[TestHost], key: ClientKey, objs: list[Obj], forks: int) -> dict[str, str]:
    directory.mkdir(parents=True)
    known = directory / "known_hosts"
    known.write_text("".join(f"[127.0.0.1]:{h.port} {h.host_key}\n" for h in hosts))
    (directory / "inventory.yaml").write_text(yaml.safe_dump({"all": {"hosts": {
        h.name: {"ansible_host": "127.0.0.1", "ansible_port": h.port, "ansible_user": "root",
                 "ansible_ssh_private_key_file": str(key.private), "ansible_python_interpreter": "/usr/bin/python3",
                 "ansible_ssh_extra_args": f"-o UserKnownHostsFile={known} -o StrictHostKeyChecking=yes"}
        for h in hosts}}}))
    (directory / "play.yaml").write_text(yaml.safe_dump(floor_play(objs), sort_keys=False))
    (directory / "ansible.cfg").write_text("\n".join([
        "[defaults]", f"forks = {forks}", "gathering = explicit", "retry_files_enabled = False",
        "host_key_checking = True", f"local_tmp = {directory / 'tmp'}", "",
        "[ssh_connection]", "pipelining = True", "transfer_method = piped",
        "ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=60s -o ServerAliveInterval=10",
        f"control_path_dir = {directory / 'cp'}", "control_path = %(directory)s/%%C", "",
    ]))
    return {**os.environ, "ANSIBLE_CONFIG": str(directory / "ansible.cfg"), "ANSIBLE_HOME": str(directory / "home"),
            "ANSIBLE_NOCOLOR": "1"}


def playbook(directory: Path, env: dict[str, str], *extra: str) -> None:
    binary = str(Path(sys.executable).with_name("ansible-playbook"))
    done = subprocess.run([binary, "-i", str(directory / "inventory.yaml"), str(directory / "play.yaml"), *extra],
                          env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"ansible-playbook {' '.join(extra)} failed:\n{done.stdout}\n{done.stderr}")


def timed(step: Callable[[], object]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def measure_floor(base: Path, objs: list[Obj], forks: int) -> tuple[float, ...]:
    key = client_key(base / "key")
    with test_hosts(base / "hosts", ("web1", "web2"), key) as hosts:
        env = floor_files(base / "play", hosts, key, objs, forks)
        return (timed(lambda: playbook(base / "play", env, "--check")),
                timed(lambda: playbook(base / "play", env)),
                timed(lambda: playbook(base / "play", env, "--check")))


# --- Shipmate: the preview engine and the runtime ---------------------------------------------


def measure_shipmate(base: Path, objs: list[Obj], forks: int) -> tuple[float, ...]:
    key = client_key(base / "key")
    with test_hosts(base / "hosts", ("web1", "web2"), key) as hosts:
        def resolve(reference: str) -> str:
            return key.text

        settings = AnsibleSettings(env=dict(os.environ), forks=forks, state_dir=base / "state")
        runtime: AnsibleRuntime = settings.runtime(
            RuntimeTarget("web", "dev", "dev", {}, scratch_dir=base / "scratch", resolve_secret=resolve))
        planned = resources(hosts, objs)
        spec = Spec(tuple(planned))

        def plan(prior: State, expected: Action) -> None:
            steps = preview(spec, prior, {ANSIBLE: runtime}, batched={ANSIBLE}).steps
            assert {s.action for s in steps} == {expected}, sorted({s.action for s in steps})

        def apply() -> None:
            applied = runtime.apply(planned, State())
            assert len(applied) == len(planned)

        return (timed(lambda: plan(State(), Action.CREATE)), timed(apply),
                timed(lambda: plan(State.of(planned), Action.UNCHANGED)))


def measure(files: int = 25, units: int = 5, *, forks: int = 10) -> Result:
    objs = objects(files, units)
    with tempfile.TemporaryDirectory(prefix="shipmate-bench-onprem-") as tmp:
        floor = measure_floor(Path(tmp) / "floor", objs, forks)
        shipmate = measure_shipmate(Path(tmp) / "shipmate", objs, forks)
    return Result(files, units, forks, floor, shipmate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=25, help="files per host")
    parser.add_argument("--units", type=int, default=5, help="units per host")
    parser.add_argument("--forks", type=int, default=10)
    args = parser.parse_args(argv)
    if not Path("/usr/sbin/sshd").is_file():
        print("sshd not found: /usr/sbin/sshd (run ./scripts/install)", file=sys.stderr)
        return 2
    print("\n".join(measure(args.files, args.units, forks=args.forks).lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
