"""The sandbox's on-prem part: test hosts for the hosts the example's inventories name, the
pushed workspace pointing at them, and nothing left running or on disk after."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.cli.sandbox import EXAMPLE, Sandbox
from fixtures.sshd import ClientKey


def test_the_sandbox_starts_the_inventorys_hosts_and_points_the_workspace_at_them(tmp_path: Path) -> None:
    # The example's dev workspace names web1 and web2 (the edge project's machines).
    assert "ref://ssh-deploy/key" in (EXAMPLE / "workspaces" / "dev.yaml").read_text()
    with Sandbox.start(tmp_path / "box", serve=False, onprem=True, artifacts={"app": b"#!/bin/sh\n"}) as box:
        assert sorted(box.hosts) == ["web1", "web2"]
        pushed = yaml.safe_load((box.clone("bob", tmp_path / "work") / "workspaces" / "dev.yaml").read_text())
        inventory = pushed["modules"]["onprem"]["configs"]["default"]["inventory"]
        assert inventory["hosts"]["web2"] == {"address": "127.0.0.1", "user": "root", "port": box.hosts["web2"].port,
                                              "hostKey": box.hosts["web2"].host_key}
        key = tmp_path / "box" / "onprem-key" / "id_ed25519"
        stored = {e["key"]: e for e in pushed["secretStore"]["provider"]["fake"]["data"]}
        assert stored["ssh-deploy"] == {"key": "ssh-deploy", "valueMap": {"key": key.read_text()}}
        assert stored["db"] == {"key": "db", "valueMap": {"password": "hunter2-but-longer"}}
        assert pushed["context"]["KUBECONFIG_PATH"] == str(box.kubeconfig)
        url = box.artifacts.artifacts["app"].url
        fetched = box.hosts["web1"].ssh(
            ClientKey(key, key.with_name("id_ed25519.pub")), f"python3 -c 'import urllib.request; print(urllib.request.urlopen(\"{url}\").read())'")
        assert fetched.stdout.strip() == "b'#!/bin/sh\\n'"
    assert not (tmp_path / "box" / "hosts").exists()


def test_without_onprem_no_host_is_started(tmp_path: Path) -> None:
    with Sandbox.start(tmp_path / "box", serve=False) as box:
        assert box.hosts == {} and box.artifacts is None
    assert not (tmp_path / "box" / "hosts").exists()
