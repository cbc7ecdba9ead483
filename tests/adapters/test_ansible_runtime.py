"""The Ansible runtime against real SSH: two OpenSSH `sshd` hosts on loopback ports.

Preview (the engine's three-way diff over `read` + `dry_run`) shows creates, an apply makes
them, a second preview is unchanged, a changed file is an Update with a line diff, a delete
removes them; an unreachable host and a refused key fail exactly their resources (the others
are applied and recorded), a failed task names host, module and Ansible's message and holds
back what depends on it; no key file outlives a run and no message holds a credential.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.ansible.objects import PACKAGE
from bot.adapters.ansible.runtime import AnsibleRuntime, AnsibleSettings
from bot.app.executor import Executor
from bot.core import plan
from bot.core.errors import ConfigError, RuntimeFailed
from bot.core.modules.builtins.onprem import COPY, FILE, SYSTEMD, USER
from bot.core.preview.engine import preview
from bot.core.preview.model import Action
from bot.core.runtimes import Capability, RuntimeTarget, StackRuntimes
from bot.core.spec import ANSIBLE, EXT_RESOURCE_TYPE, Resource, Spec, State
from tests.adapters.ansible_hosts import Host, free_port, ssh_hosts


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    out = {}
    for name in ("key", "other"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / name)], check=True)
        out[name] = (tmp_path / name).read_text()
    return out


@pytest.fixture
def hosts(tmp_path: Path, keys: dict[str, str]) -> Iterator[list[Host]]:
    with ssh_hosts(tmp_path / "hosts", ("web1", "web2"), tmp_path / "key.pub") as started:
        yield started


@pytest.fixture
def user() -> Iterator[str]:
    """A user name of this test's own (the hosts share the machine's /etc), removed after."""
    name = "sm" + uuid.uuid4().hex[:8]
    yield name
    subprocess.run(["userdel", name], capture_output=True, check=False)


def runtime(tmp_path: Path, keys: dict[str, str], *, key: str = "key", ready_seconds: int = 20,
            forks: int = 4) -> AnsibleRuntime:
    def resolve(reference: str) -> str:
        if reference != "ref://ssh/key":
            raise ConfigError(f"{reference}: no such secret")
        return keys[key]

    settings = AnsibleSettings(env=dict(os.environ), forks=forks, state_dir=tmp_path / "state", ready_seconds=ready_seconds)
    return settings.runtime(RuntimeTarget("web", "dev", "dev", {}, scratch_dir=tmp_path / "scratch",
                                          resolve_secret=resolve))


def res(host: dict[str, Any], module: str, key: str, deps: tuple[str, ...] = (), *,
        ready: dict[str, Any] | None = None, **args: Any) -> Resource:
    extensions: dict[str, Any] = {EXT_RESOURCE_TYPE: module, **({"readiness": ready} if ready else {})}
    return Resource(f"ansible:{host['name']}:{module}:{key}", ANSIBLE, {**args, "host": host},
                    tuple(f"ansible:{host['name']}:{d}" for d in deps), extensions)


def files(host: dict[str, Any], user: str, content: str = "level = info\n") -> list[Resource]:
    return [
        res(host, USER, user, name=user, state="present", system=True),
        res(host, FILE, "/etc/app", (f"{USER}:{user}",), path="/etc/app", state="directory", owner=user, mode="0750"),
        res(host, COPY, "/etc/app/app.conf", (f"{USER}:{user}", f"{FILE}:/etc/app"),
            dest="/etc/app/app.conf", content=content, owner=user, mode="0640"),
    ]


def changes(resources: list[Resource], prior: State, rt: AnsibleRuntime) -> dict[str, Any]:
    changeset = preview(Spec(tuple(resources)), prior, {ANSIBLE: rt}, batched={ANSIBLE})
    return {step.id: step for step in changeset.steps}


def run_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir() if p.name.startswith("shipmate-ansible-")}


def test_preview_apply_update_and_delete_on_two_hosts(
    tmp_path: Path, keys: dict[str, str], hosts: list[Host], user: str
) -> None:
    # These two test hosts share the machine's /etc: one host at a time, or both would add the
    # same user at once and one `useradd` would find it there already.
    rt = runtime(tmp_path, keys, forks=1)
    before = run_dirs()
    spec = [*files(hosts[0].entry(), user), *files(hosts[1].entry(), user)]
    steps = changes(spec, State(), rt)
    assert {s.action for s in steps.values()} == {Action.CREATE} and len(steps) == 6

    applied = rt.apply(spec, State())
    assert sorted(applied) == sorted(r.id for r in spec)
    for host in hosts:
        conf = host.root / "etc/app/app.conf"
        assert conf.read_text() == "level = info\n"
        assert pwd.getpwuid(conf.stat().st_uid).pw_name == user and oct(conf.stat().st_mode)[-3:] == "640"
    prior = State.of(spec)
    assert {s.action for s in changes(spec, prior, rt).values()} == {Action.UNCHANGED}

    changed = [*files(hosts[0].entry(), user, "level = debug\n"), *files(hosts[1].entry(), user)]
    steps = changes(changed, prior, rt)
    conf_id = f"ansible:web1:{COPY}:/etc/app/app.conf"
    assert {i for i, s in steps.items() if s.action == Action.UPDATE} == {conf_id}
    assert [(d.path, d.before, d.after) for d in steps[conf_id].diffs] == [
        (("content",), "level = info\n", "level = debug\n")]

    rt.apply([r for r in changed if r.id == conf_id], prior)
    assert (hosts[0].root / "etc/app/app.conf").read_text() == "level = debug\n"

    gone = [r for r in changed if r.attributes["host"]["name"] == "web2"]
    steps = changes([r for r in changed if r not in gone], State.of(changed), rt)
    assert {i for i, s in steps.items() if s.action == Action.DELETE} == {r.id for r in gone}
    rt.delete(list(reversed(gone)), State.of(changed))
    assert not (hosts[1].root / "etc/app").exists()
    assert (hosts[0].root / "etc/app/app.conf").exists()
    assert run_dirs() == before  # keys and inventories went with their runs
    known = (tmp_path / "scratch" / "known_hosts").read_text()  # accepted once, checked after
    assert all(f"[127.0.0.1]:{h.port}" in known for h in hosts)


def test_a_file_of_a_user_not_yet_created_previews_as_create_not_as_an_error(
    tmp_path: Path, keys: dict[str, str], hosts: list[Host], user: str
) -> None:
    rt = runtime(tmp_path, keys)
    host = hosts[0].entry()
    (hosts[0].root / "etc/app").mkdir(parents=True)
    (hosts[0].root / "etc/app/app.conf").write_text("level = info\n")
    steps = changes(files(host, user), State(), rt)
    assert steps[f"ansible:web1:{USER}:{user}"].action == Action.CREATE
    # Both exist, owned by root: check mode cannot chown to a user the same run creates.
    assert steps[f"ansible:web1:{FILE}:/etc/app"].action == Action.UPDATE
    assert steps[f"ansible:web1:{COPY}:/etc/app/app.conf"].action == Action.UPDATE


def test_an_unreachable_host_and_a_refused_key_fail_only_their_resources(
    tmp_path: Path, keys: dict[str, str], hosts: list[Host], user: str
) -> None:
    rt = runtime(tmp_path, keys)
    closed = Host("web3", free_port(), tmp_path / "nowhere")
    spec = [*files(hosts[0].entry(), user), *files(closed.entry(), user)]
    with pytest.raises(RuntimeFailed) as failed:
        rt.apply(spec, State())
    error = failed.value
    assert set(error.partial) == {r.id for r in spec if r.attributes["host"]["name"] == "web1"}
    assert set(error.messages) == {r.id for r in spec if r.attributes["host"]["name"] == "web3"}
    assert all(f"host web3 (root@127.0.0.1:{closed.port}) unreachable" in m for m in error.messages.values())
    assert (hosts[0].root / "etc/app/app.conf").exists()
    with pytest.raises(RuntimeFailed, match=f"host web3 \\(root@127.0.0.1:{closed.port}\\) unreachable"):
        rt.read(files(closed.entry(), user), State())  # a preview cannot go on without the host

    refused = runtime(tmp_path, keys, key="other")
    with pytest.raises(RuntimeFailed) as failed:
        refused.apply(files(hosts[1].entry(), user + "x"), State())
    messages = failed.value.messages
    assert len(messages) == 3 and all("authentication failed" in m for m in messages.values())
    secret_line = keys["other"].splitlines()[1]
    assert all(secret_line not in m for m in messages.values()) and secret_line not in str(failed.value)


def test_a_failed_task_names_host_module_and_message_and_holds_back_its_dependents(
    tmp_path: Path, keys: dict[str, str], hosts: list[Host], user: str
) -> None:
    rt = runtime(tmp_path, keys)
    host = hosts[0].entry()
    bad = res(host, FILE, "/etc/bad", path="/etc/bad", state="directory", owner="no-such-user-here")
    inside = res(host, COPY, "/etc/bad/x", (f"{FILE}:/etc/bad",), dest="/etc/bad/x", content="x\n")
    good = res(host, FILE, "/etc/good", path="/etc/good", state="directory")
    with pytest.raises(RuntimeFailed) as failed:
        rt.apply([bad, inside, good], State())
    error = failed.value
    assert set(error.partial) == {good.id} and error.skipped == {inside.id}
    assert error.messages[bad.id].startswith(f"host web1 (root@127.0.0.1:{hosts[0].port}): {FILE} /etc/bad: ")
    assert "no-such-user-here" in error.messages[bad.id]


def test_the_executor_records_each_resource_of_the_batch_as_it_finishes(
    tmp_path: Path, keys: dict[str, str], hosts: list[Host], user: str
) -> None:
    rt = runtime(tmp_path, keys)
    spec = files(hosts[0].entry(), user)
    flushes: list[State] = []
    runtimes = StackRuntimes.of({ANSIBLE: rt}, {ANSIBLE: [Capability.BATCH]})
    outcome = Executor(runtimes).run([plan.Operation(r.id, plan.CREATE, r) for r in spec], State(),
                                     on_state=flushes.append)
    assert outcome.ok
    assert [len(s.resources) for s in flushes] == [1, 2, 3, 3]


def test_packages_preview_by_what_is_installed(tmp_path: Path, keys: dict[str, str], hosts: list[Host]) -> None:
    rt = runtime(tmp_path, keys)
    host = hosts[0].entry()
    gone = res(host, PACKAGE, "shipmate-no-such-package", name="shipmate-no-such-package", state="absent")
    wanted = res(host, PACKAGE, "shipmate-not-installed", name="shipmate-not-installed", state="present")
    steps = changes([gone, wanted], State(), rt)
    assert (steps[gone.id].action, steps[wanted.id].action) == (Action.UNCHANGED, Action.CREATE)


def test_a_pinned_host_key_is_checked(tmp_path: Path, keys: dict[str, str], hosts: list[Host], user: str) -> None:
    rt = runtime(tmp_path, keys)
    real = (hosts[0].root.parent / "hostkey.pub").read_text().split(" ")
    pinned = " ".join(real[:2])
    assert rt.read(files(hosts[0].entry(hostKey=pinned), user), State())
    other = (tmp_path / "other.pub").read_text().split(" ")  # a key the host does not have
    with pytest.raises(RuntimeFailed) as failed:
        rt.read(files(hosts[0].entry(hostKey=" ".join(other[:2])), user), State())
    assert str(failed.value) == (
        f"host web1 (root@127.0.0.1:{hosts[0].port}) unreachable (its host key is not the one expected): "
        "Failed to connect to the host via ssh: Host key verification failed.")
    assert not (tmp_path / "scratch" / "known_hosts").exists()  # pinned keys need no accepting


def service(host: dict[str, Any], greeting: str, port: int, *, ready_port: int | None = None) -> list[Resource]:
    """A unit serving HTTP on `port`, with its environment file and unit file (ExecStart under
    the host's baseDir is not needed: the program is the machine's Python)."""
    unit_file = "/etc/systemd/system/hello.service"
    deps = (f"{FILE}:/etc/hello", f"{COPY}:/etc/hello/hello.env", f"{COPY}:{unit_file}")
    return [
        res(host, FILE, "/etc/hello", path="/etc/hello", state="directory", mode="0755"),
        res(host, COPY, "/etc/hello/hello.env", (f"{FILE}:/etc/hello",), dest="/etc/hello/hello.env",
            content=f'GREETING="{greeting}"\n', mode="0600"),
        res(host, COPY, unit_file, (f"{FILE}:/etc/hello",), dest=unit_file, mode="0644",
            content=f"[Service]\nEnvironmentFile=/etc/hello/hello.env\n"
                    f"ExecStart=/usr/bin/python3 -m http.server {port} --bind 127.0.0.1\n"),
        res(host, SYSTEMD, "hello.service", deps, ready={"active": True, "port": ready_port or port},
            name="hello.service", state="started", enabled=True, daemon_reload=True),
    ]


def test_a_unit_starts_ready_restarts_when_its_environment_changes_and_is_stopped_on_delete(
    tmp_path: Path, keys: dict[str, str], hosts: list[Host]
) -> None:
    rt = runtime(tmp_path, keys)
    host, port = hosts[0].entry(), free_port()
    first = service(host, "hello", port)
    assert {s.action for s in changes(first, State(), rt).values()} == {Action.CREATE}
    rt.apply(first, State())
    socket.create_connection(("127.0.0.1", port), timeout=2).close()  # ready means accepting
    assert hosts[0].unit("hello.service") | {"pid": 0} == {"pid": 0, "enabled": True, "starts": 1}
    assert {s.action for s in changes(first, State.of(first), rt).values()} == {Action.UNCHANGED}

    second = service(host, "bonjour", port)
    steps = changes(second, State.of(first), rt)
    unit_id, env_id = second[3].id, second[1].id
    assert {i for i, s in steps.items() if s.action == Action.UPDATE} == {unit_id, env_id}
    assert [(d.path, d.before, d.after) for d in steps[unit_id].diffs] == [(("state",), "started", "restarted")]
    rt.apply([r for r in second if r.id in (unit_id, env_id)], State.of(first))
    assert hosts[0].unit("hello.service")["starts"] == 2
    assert {s.action for s in changes(second, State.of(second), rt).values()} == {Action.UNCHANGED}

    rt.delete(list(reversed(second)), State.of(second))
    assert hosts[0].unit("hello.service")["pid"] == 0 and not (hosts[0].root / "etc/hello").exists()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_a_unit_that_never_accepts_on_its_port_is_recorded_and_fails(
    tmp_path: Path, keys: dict[str, str], hosts: list[Host]
) -> None:
    rt = runtime(tmp_path, keys, ready_seconds=2)
    spec = service(hosts[1].entry(), "hello", free_port(), ready_port=free_port())
    with pytest.raises(RuntimeFailed) as failed:
        rt.apply(spec, State())
    unit_id = spec[3].id
    assert set(failed.value.partial) == {r.id for r in spec} and failed.value.failed_ids == {unit_id}
    assert set(failed.value.messages) == {unit_id}
    assert "hello.service: port not accepting connections: " in failed.value.messages[unit_id]
    rt.delete(list(reversed(spec)), State.of(spec))


def test_templates_in_what_a_spec_says_are_written_as_they_are_never_run(
    tmp_path: Path, keys: dict[str, str], hosts: list[Host]
) -> None:
    rt = runtime(tmp_path, keys)
    text = "{{ lookup('pipe', 'touch " + str(tmp_path / "ran") + "') }}\n{% raw %}x{% endraw %}\n"
    spec = [res(hosts[0].entry(), COPY, "/etc/hostile", dest="/etc/hostile", content=text, mode="0644")]
    assert {s.action for s in changes(spec, State(), rt).values()} == {Action.CREATE}
    rt.apply(spec, State())
    assert (hosts[0].root / "etc/hostile").read_text() == text
    assert not (tmp_path / "ran").exists()
    assert {s.action for s in changes(spec, State.of(spec), rt).values()} == {Action.UNCHANGED}
