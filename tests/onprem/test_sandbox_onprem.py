"""The sandbox's on-prem part: test hosts for the hosts the example's inventories name, the
pushed workspace pointing at them, and nothing left running or on disk after."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.cli.sandbox import EXAMPLE, Sandbox
from fixtures.sshd import ClientKey

INVENTORY = """\
modules:
  onprem:
    configs:
      default:
        inventory:
          hosts:
            web1: {address: 192.0.2.11, user: deploy}
            web2: {address: 192.0.2.12, user: deploy}
          auth: {privateKey: ref://ssh/key}
          become: {method: sudo, user: root}
"""


def test_the_sandbox_starts_the_inventorys_hosts_and_points_the_workspace_at_them(tmp_path: Path) -> None:
    dev = (EXAMPLE / "workspaces" / "dev.yaml").read_text()
    workspace = dev.replace("modules:\n", INVENTORY, 1)
    with Sandbox.start(tmp_path / "box", serve=False, onprem=True, files={"workspaces/dev.yaml": workspace},
                       artifacts={"app": b"#!/bin/sh\n"}) as box:
        assert sorted(box.hosts) == ["web1", "web2"]
        pushed = yaml.safe_load((box.clone("bob", tmp_path / "work") / "workspaces" / "dev.yaml").read_text())
        inventory = pushed["modules"]["onprem"]["configs"]["default"]["inventory"]
        assert inventory["hosts"]["web2"] == {"address": "127.0.0.1", "user": "root", "port": box.hosts["web2"].port,
                                              "hostKey": box.hosts["web2"].host_key}
        key = tmp_path / "box" / "onprem-key" / "id_ed25519"
        assert pushed["secretStore"]["provider"]["fake"]["data"] == [{"key": "ssh", "valueMap": {"key": key.read_text()}}]
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
