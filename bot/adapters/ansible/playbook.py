"""The plays the Ansible runtime runs: one per preview read, apply or delete, over every host.

A run gets a `Batch`: its resources in dependency order (dependents first for a delete), the
inventory alias of each one's host and the resources of the batch it depends on on the same
host. The play runs every host in parallel (`strategy: free`, forks = the bot's concurrency),
each host its own task list (`tasks/<alias>.yml`, included by `inventory_hostname`) so that
no host waits for or skips through another's tasks. Every task is named
`shipmate <index> <phase>` (the index into the batch) and registered as `r<index>[_<phase>]`,
which is how `runtime` maps Ansible's events back to resources. Every value taken from a
resource is written `!unsafe` (`untrusted`): Ansible never templates what a Spec says.

- read: `shipmate_probe` once per host (every object's live state in one call), then each
  present resource's module in check mode (nothing is changed; a failure is reported, or
  forgiven when a dependency in the batch would be created or changed first);
- apply: each resource's module, skipped when a dependency failed or was skipped; a started
  unit is restarted when something it depends on changed in this run, and is ready when it is
  active (`systemctl is-active`, retried) and its port accepts (`wait_for`);
- delete: each resource's removal, dependents first, skipped when a dependent failed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.adapters.ansible import objects, untrusted
from bot.adapters.ansible.untrusted import untemplated
from bot.core.modules.builtins.onprem import SYSTEMD
from bot.core.spec import Resource

PROBE = "probe"
DO = "do"
CHECK = "check"
ACTIVE = "active"
PORT = "port"
READY_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Batch:
    """Resources of one run, in the order their tasks run on each host."""

    resources: tuple[Resource, ...]
    aliases: tuple[str, ...]
    depends: tuple[tuple[int, ...], ...]

    def hosts(self) -> list[str]:
        return sorted(set(self.aliases))

    def on(self, alias: str) -> list[int]:
        return [i for i, a in enumerate(self.aliases) if a == alias]


def task_name(index: int, phase: str) -> str:
    return f"shipmate {index} {phase}"


def parse_name(name: str) -> tuple[int, str] | None:
    parts = name.split(" ")
    if len(parts) == 3 and parts[0] == "shipmate" and parts[1].isdigit():
        return int(parts[1]), parts[2]
    return None


def register(index: int, phase: str) -> str:
    return f"r{index}" if phase in (DO, CHECK) else f"r{index}_{phase}"


def phases(resource: Resource) -> tuple[str, ...]:
    """The apply phases of a resource: its module, then a unit's readiness."""
    ready = objects.readiness(resource)
    if not ready or resource.attributes.get("state") != objects.STARTED:
        return (DO,)
    return (DO, *((ACTIVE,) if ready.get("active", True) else ()), *((PORT,) if ready.get("port") else ()))


def _went_well(index: int, resource: Resource) -> list[str]:
    return [f"{register(index, p)} is not failed and {register(index, p)} is not skipped" for p in phases(resource)]


def read_tasks(batch: Batch, alias: str, keys: Mapping[int, str]) -> list[dict[str, Any]]:
    """Probe every object on the host, then check-run each one that exists."""
    mine = batch.on(alias)
    tasks: list[dict[str, Any]] = [{
        "name": task_name(0, PROBE),
        "shipmate_probe": {"objects": untemplated([objects.probe(batch.resources[i], keys[i]) for i in mine])},
        "register": "probe",
    }]
    for i in mine:
        resource = batch.resources[i]
        tasks.append({
            "name": task_name(i, CHECK),
            objects.module_of(resource): untemplated(objects.task_args(resource)),
            "check_mode": True,
            "ignore_errors": True,
            "register": register(i, CHECK),
            "when": f"probe.objects[{keys[i]!r}].exists",
        })
    return tasks


def apply_tasks(batch: Batch, alias: str, ready_seconds: int = READY_SECONDS) -> list[dict[str, Any]]:
    """Each resource's module, then a started unit's readiness, each given `ready_seconds`."""
    tasks: list[dict[str, Any]] = []
    for i in batch.on(alias):
        resource = batch.resources[i]
        deps = batch.depends[i]
        args = untemplated(objects.task_args(resource))
        if objects.readiness(resource) and args.get("state") == objects.STARTED and deps:
            changed = " or ".join(f"{register(j, DO)} is changed" for j in deps)
            args["state"] = f"{{{{ '{objects.RESTARTED}' if ({changed}) else '{objects.STARTED}' }}}}"
        when = [w for j in deps for w in _went_well(j, batch.resources[j])]
        tasks.append(_task(i, DO, {objects.module_of(resource): args}, when))
        ready = objects.readiness(resource)
        if phases(resource) == (DO,):
            continue
        so_far = [f"{register(i, DO)} is not failed and {register(i, DO)} is not skipped"]
        if ready.get("active", True):
            check = register(i, ACTIVE)
            tasks.append(_task(i, ACTIVE, {
                "ansible.builtin.command": {"argv": untemplated(["systemctl", "is-active", str(resource.attributes["name"])])},
                "until": f"{check}.rc == 0", "retries": max(1, ready_seconds), "delay": 1, "changed_when": False,
            }, so_far))
            so_far = [*so_far, f"{check} is not failed and {check} is not skipped"]
        if ready.get("port"):
            tasks.append(_task(i, PORT, {
                "ansible.builtin.wait_for": {"host": "127.0.0.1", "port": int(ready["port"]), "timeout": max(1, ready_seconds)},
            }, so_far))
    return tasks


def delete_tasks(batch: Batch, alias: str) -> list[dict[str, Any]]:
    """Removals in the batch's order (dependents first): each waits for its dependents' success."""
    tasks: list[dict[str, Any]] = []
    for i in batch.on(alias):
        module, args = objects.removal(batch.resources[i])
        dependents = [j for j in batch.on(alias) if i in batch.depends[j]]
        when = [f"{register(j, DO)} is not failed and {register(j, DO)} is not skipped" for j in dependents]
        body: dict[str, Any] = {module: untemplated(args)}
        if module == SYSTEMD:
            mine = register(i, DO)
            body["failed_when"] = f"{mine}.failed | default(false) and 'Could not find' not in ({mine}.msg | default(''))"
        tasks.append(_task(i, DO, body, when))
    return tasks


def _task(index: int, phase: str, body: Mapping[str, Any], when: Sequence[str]) -> dict[str, Any]:
    task: dict[str, Any] = {"name": task_name(index, phase), **body, "register": register(index, phase),
                            "ignore_errors": True}
    if when:
        task["when"] = list(when)
    return task


def write(directory: Path, batch: Batch, tasks_of: Any) -> Path:
    """Write the play and each host's task list under `directory`; the playbook's path."""
    tasks_dir = directory / "tasks"
    tasks_dir.mkdir()
    for alias in batch.hosts():
        (tasks_dir / f"{alias}.yml").write_text(untrusted.dump(tasks_of(alias)))
    play = [{
        "name": "shipmate",
        "hosts": ",".join(batch.hosts()) or "none",
        "gather_facts": False,
        "strategy": "free",
        "tasks": [{"name": "host tasks", "ansible.builtin.include_tasks": "tasks/{{ inventory_hostname }}.yml"}],
    }]
    path = directory / "play.yml"
    path.write_text(untrusted.dump(play))
    return path
