"""The Ansible runtime: a stack's `type: Ansible` resources on machines over SSH.

One ansible-playbook run per call, over every host at once (the runtime declares `batch`):
`read` probes the hosts and check-runs the module of every object that exists (the probe says
what is there and so what differs, with the Spec's keys; check mode says whether the module
can apply it, and a failure there is the preview's error unless a dependency in the batch
will first create or change what it lacks, such as the user a file is owned by), and keeps
what `dry_run` will answer for the same resources: the Spec's object, with a started unit
`restarted` when something it depends on on its host changes; `apply` runs the modules in dependency
order per host and reports each resource as it finishes (`runtimes.finished`), `delete`
removes them dependents first. Plays: `playbook`; connection, keys and configuration:
`connection`; the process and its events: `runner`; what each Ansible module means:
`objects`.

Failures are per resource: a failed task names the host, the module and Ansible's message;
an unreachable host (or one refusing the key) fails each of its resources not yet done, and
says so; what depends on a failure inside the batch is skipped; the rest is applied and
recorded (`RuntimeFailed.partial`, `.messages`, `.skipped`). Messages never hold a resolved
credential.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.adapters.ansible import objects, playbook
from bot.adapters.ansible.connection import RunDir
from bot.adapters.ansible.playbook import Batch
from bot.adapters.ansible.runner import Finished, TaskEvent, run_playbook
from bot.core import graph
from bot.core.errors import RuntimeFailed
from bot.core.runtimes import RuntimeTarget, finished
from bot.core.spec import Resource, State

JSON = dict[str, Any]
AUTH_SIGNS = ("Permission denied", "Authentication failed", "authentication", "Invalid/incorrect password")


@dataclass(frozen=True, slots=True)
class AnsibleSettings:
    """How every stack's Ansible runs: the parent environment, forks (the bot's concurrency),
    where per-stack files live when the bot gives no scratch directory, how long one
    ansible-playbook run may take, a host may take to answer, and a unit to become active and
    to accept on its port."""

    env: Mapping[str, str]
    forks: int
    state_dir: Path
    timeout_seconds: float = 1800.0
    connect_timeout_seconds: int = 10
    ready_seconds: int = playbook.READY_SECONDS

    def runtime(self, target: RuntimeTarget) -> AnsibleRuntime:
        return AnsibleRuntime(self, target)


class AnsibleRuntime:
    """The `Runtime` of one stack's Ansible resources."""

    def __init__(self, settings: AnsibleSettings, target: RuntimeTarget) -> None:
        self.settings = settings
        self.target = target
        home = target.scratch_dir or settings.state_dir / target.project / target.stack / target.workspace
        self.known_hosts = home / "known_hosts"
        self._after: dict[str, tuple[str, JSON]] = {}
        self._lock = threading.Lock()

    # --- the Runtime port ----------------------------------------------------------------------

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        if not resources:
            return {}
        batch = _batch(resources, deleting=False)
        keys = {i: f"o{i}" for i in range(len(batch.resources))}
        found: dict[str, Mapping[str, Any]] = {}
        checks: dict[int, TaskEvent] = {}
        unreachable: dict[str, str] = {}

        def hear(event: TaskEvent) -> None:
            if event.event == "unreachable":
                unreachable[event.host] = _msg(event)
                return
            named = playbook.parse_name(event.task)
            if named is None:
                return
            index, phase = named
            if phase == playbook.PROBE:
                if event.event != "ok":
                    unreachable[event.host] = "probe failed: " + _msg(event)
                else:
                    found.update(event.result.get("objects") or {})
            elif phase == playbook.CHECK and event.event != "skipped":
                checks[index] = event

        secrets = self._run(batch, lambda alias: playbook.read_tasks(batch, alias, keys), hear)
        hosts = _hosts(batch)
        for alias, message in sorted(unreachable.items()):
            raise RuntimeFailed(_mask(_unreachable(hosts[alias], message), secrets))
        live: dict[int, dict[str, Any] | None] = {}
        for i, r in enumerate(batch.resources):
            if keys[i] not in found:
                raise RuntimeFailed(f"{r.id}: host {hosts[batch.aliases[i]].get('name')} gave no answer for it")
            live[i] = objects.live(r, found[keys[i]])
        changing: dict[int, bool] = {}
        for i, r in enumerate(batch.resources):  # dependencies first
            check = checks.get(i)
            if live[i] is None:
                changing[i] = True
                continue
            if check is not None and check.event == "failed":
                if not any(changing.get(j) for j in batch.depends[i]):
                    raise RuntimeFailed(_mask(_failure(r, hosts[batch.aliases[i]], _msg(check), "check mode"), secrets))
                changing[i] = True  # it fails only for what an earlier object of the batch will create
                continue
            changing[i] = live[i] != objects.after(r, False)
        out: dict[str, JSON | None] = {}
        with self._lock:
            for i, r in enumerate(batch.resources):
                restart = any(changing.get(j) for j in batch.depends[i])
                self._after[r.id] = (_fingerprint(r), objects.sensitive(r, objects.after(r, restart)))
                current = live[i]
                out[r.id] = None if current is None else objects.sensitive(r, current)
        return out

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        with self._lock:
            known = {r.id: self._after[r.id][1] for r in planned
                     if r.id in self._after and self._after[r.id][0] == _fingerprint(r)}
        if len(known) < len(planned):
            self.read([r for r in planned if r.id not in known], prior)
            with self._lock:
                known.update({r.id: self._after[r.id][1] for r in planned if r.id not in known})
        return known

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        if not planned:
            return {}
        batch = _batch(planned, deleting=False)
        outcome = _Outcome(batch, deleting=False)
        secrets = self._run(batch, lambda alias: playbook.apply_tasks(batch, alias, self.settings.ready_seconds), outcome.hear)
        done = outcome.conclude(secrets)
        return {rid: r for rid, r in done.items() if r is not None}

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        if not resources:
            return
        batch = _batch(resources, deleting=True)
        outcome = _Outcome(batch, deleting=True)
        secrets = self._run(batch, lambda alias: playbook.delete_tasks(batch, alias), outcome.hear)
        outcome.conclude(secrets)

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        """Readiness runs inside the apply play, right after the unit's task."""

    # --- one run -------------------------------------------------------------------------------

    def _run(
        self, batch: Batch, tasks_of: Callable[[str], list[dict[str, Any]]], hear: Callable[[TaskEvent], None]
    ) -> frozenset[str]:
        hosts = _hosts(batch)
        with RunDir(
            hosts, forks=self.settings.forks, known_hosts=self.known_hosts,
            resolve_secret=self.target.resolve_secret, timeout_seconds=self.settings.connect_timeout_seconds,
        ) as run_dir:
            book = playbook.write(run_dir.path, batch, tasks_of)
            result = run_playbook(
                book, run_dir.inventory, parent_env=self.settings.env, ansible_env=run_dir.env(), on_event=hear,
                timeout_seconds=self.settings.timeout_seconds,
            )
            secrets = frozenset(run_dir.secrets)
        _check_run(result, secrets)
        return secrets


class _Outcome:
    """What an apply or delete run did to each resource, from its events."""

    def __init__(self, batch: Batch, *, deleting: bool) -> None:
        self.batch = batch
        self.deleting = deleting
        self.hosts = _hosts(batch)
        self.last = {i: (playbook.DO,) if deleting else playbook.phases(r) for i, r in enumerate(batch.resources)}
        self.done: dict[str, Resource | None] = {}
        self.applied: set[int] = set()
        self.failed: dict[int, str] = {}
        self.held: set[int] = set()
        self.unreachable: dict[str, str] = {}

    def hear(self, event: TaskEvent) -> None:
        if event.event == "unreachable":
            self.unreachable.setdefault(event.host, _msg(event))
            return
        named = playbook.parse_name(event.task)
        if named is None or named[0] >= len(self.batch.resources):
            return
        index, phase = named
        resource = self.batch.resources[index]
        if event.event == "failed":
            what = {playbook.ACTIVE: "not active", playbook.PORT: "port not accepting connections"}.get(phase, "")
            self.failed.setdefault(index, (f"{what}: " if what else "") + _msg(event))
        elif event.event == "skipped" and phase == playbook.DO:
            self.held.add(index)
        elif event.event == "ok" and phase == playbook.DO:
            self.applied.add(index)
        if event.event == "ok" and phase == self.last[index][-1] and index not in self.failed:
            value = None if self.deleting else resource
            self.done[resource.id] = value
            finished(resource.id, value)

    def conclude(self, secrets: frozenset[str]) -> dict[str, Resource | None]:
        messages: dict[str, str] = {}
        partial = dict(self.done)
        not_ready: set[str] = set()
        for i, r in enumerate(self.batch.resources):
            host = self.hosts[self.batch.aliases[i]]
            if r.id in self.done:
                continue
            if i in self.failed:
                messages[r.id] = _mask(_failure(r, host, self.failed[i]), secrets)
                if i in self.applied and not self.deleting:
                    partial[r.id] = r  # it exists, but never became ready
                    not_ready.add(r.id)
            elif i in self.held:
                continue
            elif self.batch.aliases[i] in self.unreachable:
                messages[r.id] = _mask(_unreachable(host, self.unreachable[self.batch.aliases[i]]), secrets)
            else:
                messages[r.id] = f"{r.id}: not run (the play ended before it)"
        held = [self.batch.resources[i].id for i in self.held if self.batch.resources[i].id not in messages]
        if messages or held:
            first = sorted(messages.values())[0] if messages else "a dependency failed"
            more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
            raise RuntimeFailed(first + more, partial=partial, failed_ids=not_ready, messages=messages, skipped=held)
        return partial


def _batch(resources: Sequence[Resource], *, deleting: bool) -> Batch:
    """The resources in run order (dependencies first, or dependents first when deleting), each
    with its host's alias and its same-host dependencies inside the batch."""
    by_id = {r.id: r for r in resources}
    for r in resources:
        objects.module_of(r)
    edges = {r.id: [d for d in r.depends_on if d in by_id] for r in resources}
    ordered = graph.deletion_order(edges, strict=False) if deleting else graph.order(edges, strict=False)
    entries: dict[str, str] = {}
    aliases: list[str] = []
    for rid in ordered:
        host = objects.host_of(by_id[rid])
        entry = json.dumps(host, sort_keys=True)
        if entry not in entries:
            name = str(host["name"])
            taken = set(entries.values())
            alias = name if name not in taken else next(f"{name}-{n}" for n in range(2, 10_000) if f"{name}-{n}" not in taken)
            entries[entry] = alias
        aliases.append(entries[entry])
    index = {rid: i for i, rid in enumerate(ordered)}
    depends = tuple(
        tuple(sorted(index[d] for d in edges[rid] if aliases[index[d]] == aliases[index[rid]])) for rid in ordered
    )
    return Batch(tuple(by_id[rid] for rid in ordered), tuple(aliases), depends)


def _hosts(batch: Batch) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for r, alias in zip(batch.resources, batch.aliases, strict=True):
        out.setdefault(alias, objects.host_of(r))
    return out


def _fingerprint(resource: Resource) -> str:
    return json.dumps([resource.attributes, list(resource.depends_on)], sort_keys=True, default=str)


def _msg(event: TaskEvent) -> str:
    result = event.result
    parts = [str(result.get("msg") or "").strip()]
    for key in ("stderr", "module_stderr"):
        text = str(result.get(key) or "").strip()
        if text and text not in parts[0]:
            parts.append(text.splitlines()[-1])
    return "; ".join(p for p in parts if p) or f"task {event.event}"


def _where(host: Mapping[str, Any]) -> str:
    return f"host {host.get('name')} ({host.get('user')}@{host.get('address')}:{host.get('port', 22)})"


def _failure(resource: Resource, host: Mapping[str, Any], message: str, during: str = "") -> str:
    module = objects.module_of(resource)
    name = resource.id.split(":", 3)[-1]
    return f"{_where(host)}: {module} {name}{f' ({during})' if during else ''}: {message}"


def _unreachable(host: Mapping[str, Any], message: str) -> str:
    """An unreachable host's message: what kind of failure, and SSH's last word (its banners
    and the temporary paths it names are left out)."""
    if "Host key verification failed" in message:
        kind = "unreachable (its host key is not the one expected)"
    elif any(s in message for s in AUTH_SIGNS):
        kind = "authentication failed"
    else:
        kind = "unreachable"
    message = message.removeprefix("Task failed: ")
    lines = [line.strip() for line in message.replace("\r", "").splitlines() if line.strip()]
    if len(lines) > 1:
        first = lines[0].split(":", 1)[0] if ":" in lines[0] else lines[0]
        message = f"{first}: {lines[-1]}"
    return f"{_where(host)} {kind}: {message}"


def _mask(text: str, secrets: frozenset[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
            for line in secret.splitlines():
                if len(line.strip()) >= 8:
                    text = text.replace(line.strip(), "***")
    return text


def _check_run(result: Finished, secrets: frozenset[str]) -> None:
    """Exit codes 0, 2 (a task failed) and 4 (a host unreachable) are answered per resource;
    anything else is the play itself failing (a bad argument, Ansible missing)."""
    if result.returncode in (0, 2, 4):
        return
    tail = "\n".join(result.stderr.strip().splitlines()[-15:])
    raise RuntimeFailed(_mask(f"ansible-playbook failed (exit {result.returncode}): {tail}", secrets))
