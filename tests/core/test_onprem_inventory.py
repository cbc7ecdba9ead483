"""The on-prem inventory in a workspace: hosts, groups, ref:// credentials, become; located errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.config.checks import Checker
from bot.core.config.inventory import ALL_GROUP, Auth, Become, Host, Inventory, parse_inventory
from bot.core.config.workspace import parse_workspace
from bot.core.errors import ConfigError
from bot.core.yamlio import dump_yaml

GOOD = """\
modules:
  onprem:
    configs:
      default:
        inventory:
          hosts:
            web1: {address: 192.0.2.11, user: deploy}
            web2: {address: 192.0.2.12, port: 2222, user: deploy, baseDir: /srv/web2, become: false}
          groups:
            web: [web2, web1]
          auth: {privateKey: ref://ssh/key}
          become: true
secretStore:
  provider: {fake: {data: [{key: ssh, valueMap: {key: k}}]}}
"""


def parsed(raw: Any) -> tuple[Inventory, list[str]]:
    c = Checker(type_paths=False)
    inventory = parse_inventory(c, raw, ("inventory",))
    return inventory, [f"{'.'.join(map(str, p.path))}: {p.message}" for p in c.problems]


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_workspace("workspaces/dev.yaml", text, "dev")
    return str(err.value).splitlines()


def test_a_workspace_inventory_gives_hosts_groups_credentials_and_become() -> None:
    ws = parse_workspace("workspaces/dev.yaml", GOOD, "dev")
    inventory, found = parsed(ws.module_configs("shop")["onprem"]["inventory"])
    assert found == []
    web1, web2 = inventory.hosts
    assert web1 == Host("web1", "192.0.2.11", "deploy", 22, None, Auth(private_key="ref://ssh/key"), Become())
    assert web2.to_dict() == {
        "name": "web2", "address": "192.0.2.12", "port": 2222, "user": "deploy", "baseDir": "/srv/web2",
        "auth": {"privateKey": "ref://ssh/key"},
    }
    assert inventory.group("web") == (web2, web1)  # group order is the inventory's author's
    assert inventory.group(ALL_GROUP) == (web1, web2)
    assert inventory.group("web1") == (web1,)
    assert inventory.group("db") is None
    assert inventory.group_names() == ("all", "web")


def test_inventory_problems_are_located_in_the_workspace_file() -> None:
    text = """\
modules:
  onprem:
    configs:
      default:
        inventory:
          hosts:
            web1: {address: "bad host", user: "", port: 70000, baseDir: srv}
            all: {address: h, user: u}
            web2: {adress: h, user: u, auth: {privateKey: "-----BEGIN KEY-----"}}
          groups:
            web: [web1, web1, db]
            web2: [web1]
          become: {method: runas}
          auth: {privateKey: ref://k, password: ref://p}
"""
    assert problems(text) == [
        "workspaces/dev.yaml:7:29: modules.onprem.configs.default.inventory.hosts.web1.address: expected a host name or IP address, got 'bad host'",
        "workspaces/dev.yaml:7:47: modules.onprem.configs.default.inventory.hosts.web1.user: expected a non-empty user",
        "workspaces/dev.yaml:7:57: modules.onprem.configs.default.inventory.hosts.web1.port: expected an integer from 1 to 65535, got 70000",
        "workspaces/dev.yaml:7:73: modules.onprem.configs.default.inventory.hosts.web1.baseDir: expected an absolute path, got 'srv'",
        "workspaces/dev.yaml:8:13: modules.onprem.configs.default.inventory.hosts.all: expected a host name of letters, digits, '.', '_', '-' (not 'all'), got 'all'",
        "workspaces/dev.yaml:9:19: modules.onprem.configs.default.inventory.hosts.web2: missing required field 'address'",
        "workspaces/dev.yaml:9:20: modules.onprem.configs.default.inventory.hosts.web2.adress: unknown field 'adress' (did you mean 'address'?); expected one of: address, auth, baseDir, become, hostKey, port, user",
        "workspaces/dev.yaml:9:59: modules.onprem.configs.default.inventory.hosts.web2.auth.privateKey: expected a ref://<name>[/<property>] reference to the workspace's secret store; a privateKey may not be written in the workspace",
        "workspaces/dev.yaml:11:25: modules.onprem.configs.default.inventory.groups.web[1]: host 'web1' appears twice in group 'web'",
        "workspaces/dev.yaml:11:31: modules.onprem.configs.default.inventory.groups.web[2]: unknown host 'db'; hosts: web1, web2",
        "workspaces/dev.yaml:12:13: modules.onprem.configs.default.inventory.groups.web2: group 'web2' has the name of a host",
        "workspaces/dev.yaml:13:28: modules.onprem.configs.default.inventory.become.method: expected one of: sudo, su, doas; got a string ('runas')",
        "workspaces/dev.yaml:14:17: modules.onprem.configs.default.inventory.auth: expected exactly one of 'privateKey' or 'password'",
    ]


def test_only_the_onprem_module_s_inventory_is_read() -> None:
    parse_workspace("workspaces/dev.yaml", "modules: {other: {configs: {default: {inventory: 1}}}}\n", "dev")
    assert problems("modules: {onprem: {configs: {default: {inventory: 1}}}}\n") == [
        "workspaces/dev.yaml:1:51: modules.onprem.configs.default.inventory: expected a mapping, got an integer (1)",
    ]


# --- property tests ------------------------------------------------------------------------------

names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True).filter(lambda n: n != ALL_GROUP)
refs = st.from_regex(r"ref://[a-z]{1,8}(/[a-z]{1,8})?", fullmatch=True)
auths = st.one_of(st.builds(lambda r: Auth(private_key=r), refs), st.builds(lambda r: Auth(password=r), refs))
becomes = st.builds(Become, st.sampled_from(("sudo", "su", "doas")), names, st.none() | refs)
hosts = st.builds(
    Host,
    name=names,
    address=st.from_regex(r"[a-z0-9][a-z0-9.-]{0,20}", fullmatch=True),
    user=names,
    port=st.integers(1, 65535),
    base_dir=st.none() | st.from_regex(r"/[a-z0-9/]{0,12}", fullmatch=True),
    auth=st.none() | auths,
    become=st.none() | becomes,
)


@st.composite
def inventories(draw: st.DrawFn) -> Inventory:
    unique = draw(st.lists(hosts, min_size=1, max_size=4, unique_by=lambda h: h.name))
    host_names = [h.name for h in unique]
    group_names = draw(st.lists(names.filter(lambda n: n not in host_names), max_size=3, unique=True))
    groups = {
        g: tuple(draw(st.lists(st.sampled_from(host_names), min_size=1, unique=True))) for g in sorted(group_names)
    }
    return Inventory(hosts=tuple(unique), groups=groups)


def as_yaml_data(inventory: Inventory) -> dict[str, Any]:
    hosts_data = {}
    for host in inventory.hosts:
        entry = host.to_dict()
        del entry["name"]
        entry["become"] = entry.get("become", False)
        hosts_data[host.name] = entry
    return {"hosts": hosts_data, "groups": {g: list(m) for g, m in (inventory.groups or {}).items()}}


@given(inventories())
def test_a_written_inventory_reads_back_as_itself(inventory: Inventory) -> None:
    text = dump_yaml({"modules": {"onprem": {"configs": {"default": {"inventory": as_yaml_data(inventory)}}}}})
    ws = parse_workspace("workspaces/w.yaml", text, "w")
    again, found = parsed(ws.module_configs("p")["onprem"]["inventory"])
    assert found == []
    assert again == inventory


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(["hosts", "groups", "auth", "become", "x"]), json_values, max_size=4))
def test_any_data_gives_problems_or_an_inventory_never_an_exception(raw: dict[str, Any]) -> None:
    inventory, found = parsed(raw)
    if not found:
        assert inventory.hosts  # a clean inventory has at least one host
    for host in inventory.hosts:
        assert host.auth is None or (host.auth.private_key or host.auth.password or "").startswith("ref://")
