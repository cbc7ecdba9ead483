"""The on-prem inventory: the hosts the `onprem` modules place things on, read from a workspace.

It is the `inventory` key of the `onprem` module's platform config, so a patcher block can give
a project other hosts:

```yaml
modules:
  onprem:
    configs:
      default:
        inventory:
          hosts:
            web1: {address: 10.0.0.11, port: 22, user: deploy}
            web2: {address: 10.0.0.12, user: deploy, baseDir: /srv/test/web2}
          groups:
            web: [web1, web2]
          auth: {privateKey: ref://ssh-deploy/key}      # or {password: ref://...}
          become: {method: sudo, user: root}             # or true; absent: no become
```

A host may give its own `auth` and `become`, which replace the inventory's, and its `hostKey`
(its public key line, `ssh-ed25519 AAAA...`): SSH then accepts that key only; without it the
first key seen is remembered per stack. `baseDir` (an
absolute path, for tests) is a directory every path managed on that host is placed under. The
group `all` holds every host. Credentials are only ever `ref://` references to the workspace's
secret store: a key or password in clear is an error, so no Spec can hold one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.config.checks import Checker
from bot.core.yamlio import FieldPath

ALL_GROUP = "all"
REF_PREFIX = "ref://"
BECOME_METHODS = ("sudo", "su", "doas")
_HOST_KEY = re.compile(r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+=*( .*)?$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ADDRESS = re.compile(r"^[A-Za-z0-9.:\-\[\]%]+$")


@dataclass(frozen=True, slots=True)
class Auth:
    """How to log in: a `ref://` reference to a private key or to a password."""

    private_key: str | None = None
    password: str | None = None

    def to_dict(self) -> dict[str, str]:
        if self.private_key is not None:
            return {"privateKey": self.private_key}
        return {"password": self.password} if self.password is not None else {}


@dataclass(frozen=True, slots=True)
class Become:
    method: str = "sudo"
    user: str = "root"
    password: str | None = None

    def to_dict(self) -> dict[str, str]:
        out = {"method": self.method, "user": self.user}
        if self.password is not None:
            out["password"] = self.password
        return out


@dataclass(frozen=True, slots=True)
class Host:
    """One inventory entry, as the `host` attribute of every resource placed on it."""

    name: str
    address: str
    user: str
    port: int = 22
    base_dir: str | None = None
    auth: Auth | None = None
    become: Become | None = None
    host_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "address": self.address, "port": self.port, "user": self.user}
        if self.base_dir is not None:
            out["baseDir"] = self.base_dir
        if self.host_key is not None:
            out["hostKey"] = self.host_key
        if self.auth is not None:
            out["auth"] = self.auth.to_dict()
        if self.become is not None:
            out["become"] = self.become.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Inventory:
    hosts: tuple[Host, ...] = ()
    groups: Mapping[str, tuple[str, ...]] | None = None

    def group(self, name: str) -> tuple[Host, ...] | None:
        """The hosts of a group (or the one host of that name), in inventory order; None if unknown."""
        by_name = {h.name: h for h in self.hosts}
        if name == ALL_GROUP:
            return self.hosts
        if self.groups and name in self.groups:
            return tuple(by_name[n] for n in self.groups[name] if n in by_name)
        return (by_name[name],) if name in by_name else None

    def group_names(self) -> tuple[str, ...]:
        return (ALL_GROUP, *sorted(self.groups or {}))

    def uses_refs(self) -> bool:
        return any(h.auth is not None or (h.become is not None and h.become.password) for h in self.hosts)


def parse_inventory(c: Checker, raw: Any, path: FieldPath) -> Inventory:
    """Read an inventory, recording every problem in `c` (paths under `path`); never raises."""
    data = c.mapping(raw, path, optional=False)
    c.fields(data, path, ("hosts", "groups", "auth", "become"), required=("hosts",) if isinstance(raw, dict) else ())
    auth = _auth(c, data["auth"], (*path, "auth")) if "auth" in data else None
    become = _become(c, data["become"], (*path, "become")) if "become" in data else None
    hosts: list[Host] = []
    raw_hosts = c.mapping(data.get("hosts"), (*path, "hosts"))
    if "hosts" in data and not raw_hosts and isinstance(data.get("hosts"), dict | type(None)):
        c.add((*path, "hosts"), "expected at least one host")
    for name, body in raw_hosts.items():
        hpath = (*path, "hosts", name)
        if not isinstance(name, str) or not NAME.match(name) or name == ALL_GROUP:
            c.add(hpath, f"expected a host name of letters, digits, '.', '_', '-' (not {ALL_GROUP!r}), "
                  f"got {name!r}", at_key=True)
            continue
        host = _host(c, name, body, hpath, auth, become)
        if host is not None:
            hosts.append(host)
    known = {h.name for h in hosts} | {n for n in raw_hosts if isinstance(n, str) and n != ALL_GROUP}
    groups: dict[str, tuple[str, ...]] = {}
    for gname, members in c.mapping(data.get("groups"), (*path, "groups")).items():
        gpath = (*path, "groups", gname)
        if not isinstance(gname, str) or not NAME.match(gname) or gname == ALL_GROUP:
            c.add(gpath, f"expected a group name of letters, digits, '.', '_', '-' (not {ALL_GROUP!r}), "
                  f"got {gname!r}", at_key=True)
            continue
        if gname in known:
            c.add(gpath, f"group {gname!r} has the name of a host", at_key=True)
            continue
        names = c.value(members, gpath, "string-list", [])
        if not names and isinstance(members, list | type(None)):
            c.add(gpath, "expected a non-empty list of host names")
        seen: list[str] = []
        for i, member in enumerate(names):
            if member in seen:
                c.add((*gpath, i), f"host {member!r} appears twice in group {gname!r}")
            elif member not in known:
                c.add((*gpath, i), f"unknown host {member!r}; hosts: {', '.join(sorted(known)) or '(none)'}")
            else:
                seen.append(member)
        groups[gname] = tuple(seen)
    return Inventory(hosts=tuple(hosts), groups=dict(sorted(groups.items())))


def _host(c: Checker, name: str, body: Any, path: FieldPath, auth: Auth | None, become: Become | None) -> Host | None:
    data = c.mapping(body, path, optional=False)
    if not isinstance(body, dict):
        return None
    c.fields(data, path, ("address", "port", "user", "baseDir", "hostKey", "auth", "become"), required=("address", "user"))
    address = c.get(data, "address", path, "string", "")
    if "address" in data and isinstance(data["address"], str) and not _ADDRESS.match(address):
        c.add((*path, "address"), f"expected a host name or IP address, got {address!r}")
    user = c.get(data, "user", path, "string", "")
    if "user" in data and user == "":
        c.add((*path, "user"), "expected a non-empty user")
    port = c.get(data, "port", path, "integer", 22)
    if not c.in_range(port, (*path, "port"), 1, 65535):
        port = 22
    base_dir = c.get(data, "baseDir", path, "string")
    if base_dir is not None and not base_dir.startswith("/"):
        c.add((*path, "baseDir"), f"expected an absolute path, got {base_dir!r}")
    host_key = c.get(data, "hostKey", path, "string")
    if host_key is not None and not _HOST_KEY.match(host_key.strip()):
        c.add((*path, "hostKey"), "expected the host's public key as `<type> <base64>` (a line of "
              "/etc/ssh/ssh_host_*_key.pub without its comment)")
        host_key = None
    if "auth" in data:
        auth = _auth(c, data["auth"], (*path, "auth"))
    if "become" in data:
        become = _become(c, data["become"], (*path, "become"))
    return Host(name=name, address=address, user=user, port=port, base_dir=base_dir, auth=auth, become=become,
                host_key=None if host_key is None else " ".join(host_key.split()[:2]))


def _ref(c: Checker, data: Mapping[Any, Any], key: str, path: FieldPath) -> str | None:
    value = c.get(data, key, path, "string")
    if value is not None and (not value.startswith(REF_PREFIX) or len(value) == len(REF_PREFIX)):
        c.add((*path, key), f"expected a {REF_PREFIX}<name>[/<property>] reference to the workspace's "
              f"secret store; a {key} may not be written in the workspace")
        return None
    return value  # type: ignore[no-any-return]


def _auth(c: Checker, raw: Any, path: FieldPath) -> Auth | None:
    data = c.mapping(raw, path, optional=False)
    c.fields(data, path, ("privateKey", "password"))
    chosen = [k for k in ("privateKey", "password") if k in data]
    if isinstance(raw, dict) and len(chosen) != 1:
        c.add(path, "expected exactly one of 'privateKey' or 'password'")
        return None
    key = _ref(c, data, "privateKey", path)
    password = _ref(c, data, "password", path)
    return Auth(private_key=key, password=password) if key or password else None


def _become(c: Checker, raw: Any, path: FieldPath) -> Become | None:
    if raw is True:
        return Become()
    if raw is False:
        return None
    data = c.mapping(raw, path, optional=False)
    c.fields(data, path, ("method", "user", "password"))
    method = c.get(data, "method", path, "string", "sudo")
    if "method" in data and isinstance(method, str) and not c.one_of(method, (*path, "method"), BECOME_METHODS):
        method = "sudo"
    user = c.get(data, "user", path, "string", "root")
    if "user" in data and user == "":
        c.add((*path, "user"), "expected a non-empty user")
    return Become(method=method, user=user, password=_ref(c, data, "password", path))
