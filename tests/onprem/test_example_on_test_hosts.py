"""The example on-prem stack's api service (fixtures/golden/specs/onprem/web-dev.yaml, what the
onprem modules generate) applied by the Ansible runtime to the two test hosts: its artifact
downloaded from the artifact server and checked, its user, files and unit made, the unit
started as its user on the same port on both hosts, each answering from its own loopback."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from bot.adapters.ansible.runtime import AnsibleSettings
from bot.core.preview.engine import preview
from bot.core.preview.model import Action
from bot.core.runtimes import RuntimeTarget
from bot.core.spec import ANSIBLE, Resource, Spec, State
from fixtures.sshd import ArtifactServer, ClientKey, TestHost

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "specs" / "onprem" / "web-dev.yaml"


def api_service(hosts: dict[str, TestHost], artifacts: ArtifactServer) -> list[Resource]:
    """The golden Spec's api resources, pointed at the test hosts and the artifact server."""
    listener = artifacts.artifacts["listener"]
    out = []
    for data in yaml.safe_load(GOLDEN.read_text())["resources"]:
        resource = Resource.from_dict(data)
        if ":api" not in resource.id and "/api" not in resource.id:
            continue
        name = resource.attributes["host"]["name"]
        attributes: dict[str, Any] = {**resource.attributes, "host": {"name": name, **hosts[name].entry()}}
        if "url" in attributes:
            attributes.update(url=listener.url, checksum=listener.checksum)
        if str(attributes.get("dest", "")).endswith("api.env"):
            attributes["content"] = 'GREETING="hello from ' + name + '"\n'
        out.append(Resource(resource.id, resource.type, attributes, resource.depends_on, resource.extensions))
    return out


def test_the_example_api_service_runs_on_both_hosts(
    tmp_path: Path, web1: TestHost, web2: TestHost, ssh_key: ClientKey, artifacts: ArtifactServer
) -> None:
    settings = AnsibleSettings(env=dict(os.environ), forks=4, state_dir=tmp_path / "state", ready_seconds=20)
    runtime = settings.runtime(RuntimeTarget("web", "dev", "dev", {}, scratch_dir=tmp_path / "scratch",
                                             resolve_secret=lambda reference: ssh_key.text))
    planned = api_service({"web1": web1, "web2": web2}, artifacts)
    assert len(planned) == 16
    steps = preview(Spec(tuple(planned)), State(), {ANSIBLE: runtime}, batched={ANSIBLE}).steps
    assert {s.action for s in steps} == {Action.CREATE}

    assert sorted(runtime.apply(planned, State())) == sorted(r.id for r in planned)
    for host in (web1, web2):
        answer = host.ssh(ssh_key, "python3 -c 'import urllib.request; "
                                   "print(urllib.request.urlopen(\"http://127.0.0.1:8080\").read().decode())'")
        assert answer.stdout.strip() == f"hello from {host.name}"
        assert host.ssh(ssh_key, "stat -c %U /opt/api/api-1.2.0-linux-amd64; systemctl is-active api").stdout.split() \
            == ["root", "active"]
        assert host.unit("api")["starts"] == 1
    steps = preview(Spec(tuple(planned)), State.of(planned), {ANSIBLE: runtime}, batched={ANSIBLE}).steps
    assert {s.action for s in steps} == {Action.UNCHANGED}
