"""The on-prem test hosts (fixtures/sshd): SSH with the fixture's key, isolation between hosts,
the systemctl double running a real unit, artifacts over loopback HTTP, and a clean teardown."""

from __future__ import annotations

import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import yaml

from fixtures.sshd import ArtifactServer, ClientKey, TestHost, client_key, test_hosts
from fixtures.sshd.inventory import inventory_hosts, point_workspace


def test_root_logs_in_with_the_authorized_key_and_another_key_is_refused(
    tmp_path: Path, web1: TestHost, ssh_key: ClientKey
) -> None:
    assert web1.ssh(ssh_key, "id -un; hostname").stdout.split() == ["root", "web1"]
    assert web1.ssh(client_key(tmp_path / "other"), "true", check=False).returncode == 255


def test_the_host_key_is_the_one_the_inventory_pins(web1: TestHost, ssh_key: ClientKey) -> None:
    scanned = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(web1.port), "127.0.0.1"],
                             capture_output=True, text=True, check=True).stdout
    assert web1.host_key in scanned
    assert web1.host_key.startswith("ssh-ed25519 ")


def test_users_files_and_ports_are_each_hosts_own(web1: TestHost, web2: TestHost, ssh_key: ClientKey) -> None:
    user = "sm" + uuid.uuid4().hex[:8]
    web1.ssh(ssh_key, f"useradd --create-home {user} && mkdir -p /srv/app && echo one > /srv/app/x")
    assert web1.ssh(ssh_key, f"id -un {user}; cat /srv/app/x").stdout.split() == [user, "one"]
    assert web2.ssh(ssh_key, f"id {user}", check=False).returncode == 1
    assert web2.ssh(ssh_key, "test -e /srv/app/x", check=False).returncode == 1
    assert web1.path(f"/home/{user}").is_dir()
    assert not Path("/srv/app/x").exists()
    assert subprocess.run(["id", user], capture_output=True, check=False).returncode == 1
    listen = "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 8080)); print(\"bound\")'"
    assert web1.ssh(ssh_key, listen).stdout.strip() == "bound"
    assert web2.ssh(ssh_key, listen).stdout.strip() == "bound"


UNIT = textwrap.dedent("""\
    [Unit]
    Description=hello

    [Service]
    User=hello
    EnvironmentFile=/etc/hello/env
    ExecStart=/opt/hello/listener

    [Install]
    WantedBy=multi-user.target
""")


def install_hello(host: TestHost, key: ClientKey, artifacts: ArtifactServer, greeting: str) -> None:
    url = artifacts.artifacts["listener"].url
    host.ssh(key, " && ".join([
        "useradd --system hello", "mkdir -p /opt/hello /etc/hello",
        f"python3 -c 'import urllib.request; urllib.request.urlretrieve(\"{url}\", \"/opt/hello/listener\")'",
        "chmod 755 /opt/hello/listener", f"printf 'PORT=8080\\nGREETING=\"{greeting}\"\\n' > /etc/hello/env",
        f"printf '{UNIT}' > /etc/systemd/system/hello.service", "test -d /run/systemd/system",
    ]))


GET = "python3 -c 'import urllib.request; print(urllib.request.urlopen(\"http://127.0.0.1:8080\").read().decode())'"
READY = "for i in $(seq 100); do " + GET + " 2>/dev/null && exit 0; sleep 0.05; done; exit 1"


def test_the_systemctl_double_starts_a_unit_as_its_user_with_its_environment_and_stops_it(
    web1: TestHost, web2: TestHost, ssh_key: ClientKey, artifacts: ArtifactServer
) -> None:
    for host in (web1, web2):
        install_hello(host, ssh_key, artifacts, f"hi from {host.name}")
    assert web1.path("/opt/hello/listener").read_bytes().startswith(b"#!/usr/bin/python3")
    web1.ssh(ssh_key, "systemctl daemon-reload && systemctl enable hello.service && systemctl start hello")
    assert web1.ssh(ssh_key, "systemctl is-active hello").stdout.strip() == "active"
    assert web1.ssh(ssh_key, "systemctl is-enabled hello").stdout.strip() == "enabled"
    assert web1.ssh(ssh_key, READY).stdout.strip() == "hi from web1"
    show = web1.ssh(ssh_key, "systemctl show hello.service").stdout
    assert "ActiveState=active" in show and "UnitFileState=enabled" in show
    assert web1.ssh(ssh_key, "ps -o user= -p $(systemctl show hello | sed -n 's/MainPID=//p')").stdout.strip() == "hello"
    assert web1.unit("hello")["starts"] == 1
    assert web2.ssh(ssh_key, "systemctl is-active hello", check=False).stdout.strip() == "inactive"
    web2.ssh(ssh_key, "systemctl start hello")
    assert web2.ssh(ssh_key, READY).stdout.strip() == "hi from web2"
    web1.ssh(ssh_key, "systemctl restart hello")
    assert web1.unit("hello")["starts"] == 2
    assert web1.ssh(ssh_key, READY).stdout.strip() == "hi from web1"
    web1.ssh(ssh_key, "systemctl stop hello && systemctl disable hello")
    assert web1.ssh(ssh_key, "systemctl is-active hello", check=False).returncode == 3
    assert web1.ssh(ssh_key, GET, check=False).returncode == 1
    assert web1.ssh(ssh_key, "systemctl is-enabled hello", check=False).stdout.strip() == "disabled"
    assert web1.ssh(ssh_key, "systemctl is-active nothing", check=False).returncode == 3
    assert "LoadState=not-found" in web1.ssh(ssh_key, "systemctl show nothing.service").stdout


def running(token: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if token in cmdline.read_text():
                found.append(cmdline.parent.name)
        except OSError:
            pass
    return found


def test_leaving_ends_every_process_on_the_hosts_and_removes_their_directory(tmp_path: Path) -> None:
    key = client_key(tmp_path / "key")
    token = "sleeper-" + uuid.uuid4().hex
    with test_hosts(tmp_path / "hosts", ("a",), key) as (host,):
        host.ssh(key, f"cp /bin/sleep /opt/{token} && (setsid /opt/{token} 600 >/dev/null 2>&1 &)")
        deadline = time.monotonic() + 10  # the detached process may show a moment after ssh returns
        while not running(token) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running(token)
        assert running(str(tmp_path / "hosts"))
    assert running(token) == []
    assert running(str(tmp_path / "hosts")) == []
    assert not (tmp_path / "hosts").exists()


def test_a_host_that_cannot_start_leaves_nothing_behind(tmp_path: Path) -> None:
    key = client_key(tmp_path / "key")
    with pytest.raises(FileExistsError), test_hosts(tmp_path / "hosts", ("a", "a"), key):
        raise AssertionError("a second host of the same name started")
    assert running(str(tmp_path / "hosts")) == []
    assert not (tmp_path / "hosts").exists()


WORKSPACE = """\
# two machines
modules:
  onprem:
    configs:
      default:
        inventory:
          hosts:
            web1: {address: 192.0.2.11, user: deploy}
            web2: {address: 192.0.2.12, port: 2222, user: deploy, baseDir: /srv/test/web2}
            db1: {address: 192.0.2.13, user: deploy}
          groups:
            web: [web1, web2]
          auth: {privateKey: ref://ssh-deploy/key}
          become: {method: sudo, user: root}
secretStore:
  provider:
    fake:
      data:
        - key: ssh-deploy
          valueMap: {key: not-a-real-key}
        - key: db
          valueMap: {password: hunter2}
context:
  environment: dev
"""


def test_a_workspace_is_pointed_at_the_test_hosts_of_its_inventorys_names(
    web1: TestHost, web2: TestHost, ssh_key: ClientKey
) -> None:
    assert inventory_hosts(WORKSPACE) == ["db1", "web1", "web2"]
    pointed = yaml.safe_load(point_workspace(WORKSPACE, {"web1": web1, "web2": web2}, ssh_key))
    inventory = pointed["modules"]["onprem"]["configs"]["default"]["inventory"]
    assert inventory["hosts"] == {
        "web1": {"address": "127.0.0.1", "user": "root", "port": web1.port, "hostKey": web1.host_key},
        "web2": {"address": "127.0.0.1", "port": web2.port, "user": "root", "hostKey": web2.host_key},
        "db1": {"address": "192.0.2.13", "user": "deploy"},
    }
    assert "become" not in inventory and inventory["groups"] == {"web": ["web1", "web2"]}
    assert pointed["secretStore"]["provider"]["fake"]["data"] == [
        {"key": "ssh-deploy", "valueMap": {"key": ssh_key.text}}, {"key": "db", "valueMap": {"password": "hunter2"}}]
    assert pointed["context"] == {"environment": "dev"}
    assert point_workspace("context: {}\n", {"web1": web1}, ssh_key) == "context: {}\n"
    storeless = yaml.safe_load(point_workspace(WORKSPACE.split("secretStore:")[0], {"web1": web1}, ssh_key))
    assert storeless["secretStore"] == {"provider": {"fake": {"data": [{"key": "ssh-deploy", "valueMap": {"key": ssh_key.text}}]}}}
