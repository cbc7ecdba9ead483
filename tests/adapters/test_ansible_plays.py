"""The Ansible runtime's plays, as data: run order per host, the restart rule, readiness,
skipping what depends on a failure, removal, and the names that map events back."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.adapters.ansible import connection, objects, playbook
from bot.adapters.ansible.runtime import _batch
from bot.core.errors import RuntimeFailed
from bot.core.modules.builtins.onprem import COPY, FILE, SYSTEMD, USER
from bot.core.spec import ANSIBLE, EXT_RESOURCE_TYPE, Resource

WEB1 = {"name": "web1", "address": "192.0.2.11", "port": 22, "user": "deploy", "baseDir": "/srv/t/web1"}
WEB2 = {"name": "web2", "address": "192.0.2.12", "port": 22, "user": "deploy"}


def res(host: dict[str, Any], module: str, key: str, deps: tuple[str, ...] = (), **args: Any) -> Resource:
    extensions: dict[str, Any] = {EXT_RESOURCE_TYPE: module}
    if module == SYSTEMD:
        extensions["readiness"] = {"active": True, "port": 8080}
    return Resource(f"ansible:{host['name']}:{module}:{key}", ANSIBLE, {**args, "host": host},
                    tuple(f"ansible:{host['name']}:{d}" for d in deps), extensions)


def service(host: dict[str, Any]) -> list[Resource]:
    return [
        res(host, SYSTEMD, "api.service", (f"{USER}:api", f"{COPY}:/etc/api/api.env"),
            name="api.service", state="started", enabled=True),
        res(host, COPY, "/etc/api/api.env", (f"{USER}:api", f"{FILE}:/etc/api"),
            dest="/etc/api/api.env", content="A=1\n", owner="api"),
        res(host, FILE, "/etc/api", (f"{USER}:api",), path="/etc/api", state="directory"),
        res(host, USER, "api", name="api", state="present", system=True),
    ]


def test_a_batch_runs_dependencies_first_per_host_with_same_host_dependencies_only():
    batch = _batch([*service(WEB1), *service(WEB2)], deleting=False)
    assert batch.hosts() == ["web1", "web2"]
    for alias in ("web1", "web2"):
        names = [batch.resources[i].id.split(":", 3)[-1] for i in batch.on(alias)]
        assert names == ["api", "/etc/api", "/etc/api/api.env", "api.service"]
        for i in batch.on(alias):
            assert all(batch.aliases[j] == alias for j in batch.depends[i])
    removal = _batch(service(WEB1), deleting=True)
    assert [r.id.split(":", 3)[-1] for r in removal.resources] == ["api.service", "/etc/api/api.env", "/etc/api", "api"]


def test_apply_tasks_skip_what_depends_on_a_failure_restart_on_change_and_wait_for_readiness():
    batch = _batch(service(WEB1), deleting=False)
    tasks = playbook.apply_tasks(batch, "web1")
    by_name = {t["name"]: t for t in tasks}
    unit = next(i for i, r in enumerate(batch.resources) if objects.module_of(r) == SYSTEMD)
    env = next(i for i, r in enumerate(batch.resources) if objects.module_of(r) == COPY)
    do = by_name[playbook.task_name(unit, playbook.DO)]
    assert f"r{env} is changed" in do[SYSTEMD]["state"] and "restarted" in do[SYSTEMD]["state"]
    assert f"r{env} is not failed and r{env} is not skipped" in do["when"]
    assert do["ignore_errors"] is True and do["register"] == f"r{unit}"
    active = by_name[playbook.task_name(unit, playbook.ACTIVE)]
    assert active["ansible.builtin.command"]["argv"] == ["systemctl", "is-active", "api.service"]
    port = by_name[playbook.task_name(unit, playbook.PORT)]
    assert port["ansible.builtin.wait_for"]["port"] == 8080
    assert active["when"] == [f"r{unit} is not failed and r{unit} is not skipped"]
    assert port["when"] == [*active["when"], f"r{unit}_active is not failed and r{unit}_active is not skipped"]
    # Managed paths live under the host's baseDir.
    assert by_name[playbook.task_name(env, playbook.DO)][COPY]["dest"] == "/srv/t/web1/etc/api/api.env"
    assert [playbook.parse_name(t["name"]) for t in tasks][-1] == (unit, playbook.PORT)


def test_delete_tasks_remove_dependents_first_and_stop_units():
    batch = _batch(service(WEB2), deleting=True)
    tasks = playbook.delete_tasks(batch, "web2")
    assert [next(k for k in t if k.startswith("ansible.")) for t in tasks] == [SYSTEMD, FILE, FILE, USER]
    assert tasks[0][SYSTEMD] == {"name": "api.service", "state": "stopped", "enabled": False}
    assert tasks[1][FILE] == {"path": "/etc/api/api.env", "state": "absent"}
    assert "r0 is not failed" in " ".join(tasks[1]["when"])


def test_live_objects_use_the_attributes_keys_so_an_object_as_specified_compares_equal():
    env = service(WEB1)[1]
    found = {"exists": True, "kind": "file", "owner": "api", "group": "api", "mode": "0600", "content": "A=1\n"}
    assert objects.live(env, found) == dict(env.attributes)
    assert objects.live(env, {**found, "content": "A=2\n"})["content"] == "A=2\n"
    assert objects.live(env, {"exists": False}) is None
    unit = service(WEB1)[0]
    assert objects.live(unit, {"exists": True, "active": False, "enabled": True})["state"] == "stopped"
    assert objects.after(unit, restart=True)["state"] == "restarted"


def test_a_module_the_runtime_does_not_manage_is_refused():
    odd = Resource("ansible:web1:community.general.npm:x", ANSIBLE, {"host": WEB1},
                   extensions={EXT_RESOURCE_TYPE: "community.general.npm"})
    with pytest.raises(RuntimeFailed, match="manages"):
        _batch([odd], deleting=False)


def test_a_package_wanted_absent_is_live_either_way_and_one_wanted_present_is_created_when_missing():
    absent = res(WEB1, objects.PACKAGE, "telnet", name="telnet", state="absent")
    present = res(WEB1, objects.PACKAGE, "curl", name="curl", state="present")
    assert objects.live(absent, {"exists": False}) == dict(absent.attributes)
    assert objects.live(absent, {"exists": True})["state"] == "present"
    assert objects.live(present, {"exists": False}) is None
    assert objects.live(present, {"exists": True}) == dict(present.attributes)
    assert objects.removal(present) == (objects.PACKAGE, {"name": "curl", "state": "absent"})


def test_a_home_under_the_hosts_base_dir_reads_back_as_the_spec_names_it():
    user = res(WEB1, USER, "app", name="app", state="present", home="/var/lib/app")
    assert objects.task_args(user)["home"] == "/srv/t/web1/var/lib/app"
    found = {"exists": True, "home": "/srv/t/web1/var/lib/app", "shell": "/bin/sh", "groups": []}
    assert objects.live(user, found) == dict(user.attributes)


def test_ssh_control_sockets_stay_short_when_the_temporary_directory_is_deep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 70)
    deep.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    assert connection._short_temp_dir() == "/tmp"
    monkeypatch.setattr(tempfile, "tempdir", "/tmp")
    assert connection._short_temp_dir() is None


def test_what_a_spec_says_is_written_for_ansible_as_unsafe_and_only_our_expressions_stay_templates(
    tmp_path: Path,
) -> None:
    hostile = "{{ lookup('pipe', 'id') }}\n{% for x in range(9) %}{% endfor %}"
    env = res(WEB1, COPY, "/etc/api/api.env", dest="/etc/api/api.env", content=hostile, owner="{{ owner }}")
    batch = _batch([*service(WEB1)[:1], env, *service(WEB1)[2:]], deleting=False)
    playbook.write(tmp_path, batch, lambda alias: playbook.apply_tasks(batch, alias))
    written = yaml.load((tmp_path / "tasks" / "web1.yml").read_text(), Loader=_Tagged)
    copy = next(t[COPY] for t in written if COPY in t)
    assert copy["content"] == ("!unsafe", hostile) and copy["owner"] == ("!unsafe", "{{ owner }}")
    unit = next(t[SYSTEMD] for t in written if SYSTEMD in t)
    assert unit["name"] == ("!unsafe", "api.service")
    assert isinstance(unit["state"], str) and unit["state"].startswith("{{ ")  # the restart choice is ours
    assert all(isinstance(w, str) for t in written for w in t.get("when", []))


class _Tagged(yaml.SafeLoader):
    """Reads `!unsafe` scalars as ("!unsafe", text), to see what was tagged."""


_Tagged.add_constructor("!unsafe", lambda loader, node: ("!unsafe", loader.construct_scalar(node)))
