"""The `onprem` modules: files, users and services on machines, as Spec resources of `type: Ansible`.

```yaml
accessories:
  base:
    _type: onprem.Files
    hosts: web                                   # a group of the workspace inventory, or a host
    packages: [curl]                             # or {curl: {state: present}, telnet: {state: absent}}
    users: {app: {system: true, home: /var/lib/app}}
    directories: {/etc/app: {owner: app, mode: "0750"}}
    files:
      /etc/app/app.conf: {content: "level = info\\n", owner: app, mode: "0640"}
      /etc/app/token: {content: ref://app/token, secret: true}
  api:
    _type: onprem.Service
    hosts: web
    artifact: {url: https://example.com/api-1.2.0, checksum: "sha256:<64 hex digits>"}
    # or: image: docker.io/library/nginx:1.27   (run with podman)
    # or neither: a command whose program is already on the host (/usr/sbin/nginx, from packages)
    command: [/opt/api/api-1.2.0, --port, "8080"]
    environment: {LOG_LEVEL: info, DB_PASSWORD: ref://db/password}
    port: 8080
    user: api                                    # created, and the unit runs as it
    files: {/etc/api/settings.toml: {content: "..."}}
```

Every host of the group gets one resource per managed object, with the ID
`ansible:<host>:<Ansible module>:<name>` (`ansible:web1:ansible.builtin.copy:/etc/app/env`) and
the extension `resourceType` naming the Ansible module. Attributes are that module's arguments
plus `host`, the inventory entry (address, port, user, `baseDir`, and `auth`/`become` as
`ref://` references, never a credential in clear). On each host packages (`ansible.builtin.package`) come before users, users before directories,
directories before the files under them, files before the unit, the unit file before the unit
(`dependsOn`). A service becomes: its user (`ansible.builtin.user`), the directories `/opt/<name>`
(for an artifact) and `/etc/<name>`, the artifact (`ansible.builtin.get_url` with its checksum),
the environment file `/etc/<name>/<name>.env` (mode 0600), its files, the unit file
`/etc/systemd/system/<name>.service` and the unit itself (`ansible.builtin.systemd_service`,
started and enabled, with `readiness.port` in its extensions when a port is declared).

Secrets: a file marked `secret: true`, a file whose content is a `ref://` reference, and the
environment file when any value is a `ref://` reference have their `content` listed as sensitive
(`extensions.__sensitive__`): their references are resolved at preview and apply
(`bot.core.secrets`) and masking hides the values wherever they are shown. The host's `auth` and
become password are references, not secrets: they stay `ref://` in the Spec and in the recorded
State (a destroy long after must still know which secret to use), and the runtime resolves them
when it connects.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.core.config.checks import Checker
from bot.core.config.inventory import REF_PREFIX, Host, Inventory, parse_inventory
from bot.core.modules.base import ModuleInputError, ModuleRequest, ModuleResult
from bot.core.ports import SENSITIVE_KEY
from bot.core.spec import ANSIBLE, EXT_RESOURCE_TYPE, Resource

PACKAGE = "ansible.builtin.package"
USER = "ansible.builtin.user"
FILE = "ansible.builtin.file"
COPY = "ansible.builtin.copy"
GET_URL = "ansible.builtin.get_url"
SYSTEMD = "ansible.builtin.systemd_service"
EXT_READINESS = "readiness"
UNIT_DIR = "/etc/systemd/system"
PODMAN = "/usr/bin/podman"

_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_-]*$")
_NAME = re.compile(r"^[a-z_][a-z0-9_-]*$")
_UNIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
_MODE = re.compile(r"^0?[0-7]{3,4}$")
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CHECKSUM = re.compile(r"^(sha1|sha256|sha384|sha512):[0-9a-f]+$")
_HEX_LENGTH = {"sha1": 40, "sha256": 64, "sha384": 96, "sha512": 128}
_IMAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")


def ansible_id(host: str, module: str, name: str) -> str:
    return f"ansible:{host}:{module}:{name}"


@dataclass(frozen=True, slots=True)
class _Object:
    """One managed object before it is placed on hosts; `after` are other objects' keys."""

    module: str
    name: str
    args: Mapping[str, Any]
    after: tuple[tuple[str, str], ...] = ()
    sensitive: Mapping[str, Any] = field(default_factory=dict)
    extensions: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.module, self.name)


class OnPremModule:
    name: str = "onprem"
    schemas: tuple[str, ...] = ("Files", "Service")

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        inventory = _inventory(request)
        c = Checker()
        dev = dict(request.dev_config)
        if schema == "Files":
            c.fields(dev, (), ("hosts", "packages", "users", "directories", "files"), required=("hosts",))
            objects = _files_objects(c, dev)
        else:
            c.fields(dev, (), ("hosts", "name", "artifact", "image", "command", "environment", "port", "user",
                               "files"), required=("hosts",))
            objects = _service_objects(c, dev, request.accessory or request.app_name)
        hosts = _hosts(c, dev, inventory)
        if not c.ok:
            raise ModuleInputError(c.problems)
        return ModuleResult(resources=tuple(_place(objects, hosts)))


def _inventory(request: ModuleRequest) -> Inventory:
    c = Checker(type_paths=False)
    if "inventory" not in request.platform_config:
        c.add((), "the onprem modules need an inventory: modules.onprem.configs.default.inventory "
              "in the workspace")
        raise ModuleInputError(c.problems, platform=True)
    inventory = parse_inventory(c, request.platform_config["inventory"], ("inventory",))
    if c.ok and inventory.uses_refs() and request.secret_store is None:
        c.add(("inventory",), "the inventory's ref:// credentials need the workspace's secretStore")
    if not c.ok:
        raise ModuleInputError(c.problems, platform=True)
    return inventory


def _hosts(c: Checker, dev: Mapping[str, Any], inventory: Inventory) -> tuple[Host, ...]:
    name = c.get(dev, "hosts", (), "string")
    if name is None:
        return ()
    hosts = inventory.group(name)
    if hosts is None:
        c.add(("hosts",), f"unknown host group {name!r}; groups: {', '.join(inventory.group_names())} "
              f"(or a host: {', '.join(h.name for h in inventory.hosts)})")
        return ()
    return hosts


def _place(objects: list[_Object], hosts: tuple[Host, ...]) -> list[Resource]:
    out: list[Resource] = []
    for host in hosts:
        entry = host.to_dict()
        for obj in objects:
            extensions: dict[str, Any] = {EXT_RESOURCE_TYPE: obj.module, **obj.extensions}
            if obj.sensitive:
                extensions[SENSITIVE_KEY] = dict(obj.sensitive)
            out.append(Resource(
                id=ansible_id(host.name, obj.module, obj.name),
                type=ANSIBLE,
                attributes={**obj.args, "host": entry},
                depends_on=tuple(ansible_id(host.name, m, n) for m, n in obj.after),
                extensions=extensions,
            ))
    return out


# --- onprem.Files ------------------------------------------------------------------------------


def _files_objects(c: Checker, dev: Mapping[str, Any]) -> list[_Object]:
    packages = _packages(c, dev.get("packages"), ("packages",))
    after_packages = tuple(p.key for p in packages if p.args["state"] == "present")
    users = _users(c, c.mapping(dev.get("users"), ("users",)), ("users",), after_packages)
    after_users = (*after_packages, *(u.key for u in users))
    directories = _directories(c, c.mapping(dev.get("directories"), ("directories",)), ("directories",), after_users)
    files = _copies(c, c.mapping(dev.get("files"), ("files",)), ("files",), after_users, directories)
    if not (packages or users or directories or files) and c.ok:
        c.add((), "expected at least one of 'packages', 'users', 'directories' or 'files'")
    return [*packages, *users, *directories, *files]


def _packages(c: Checker, raw: Any, path: tuple[str, ...]) -> list[_Object]:
    """`packages: [nginx, curl]` or `{nginx: {state: present}, telnet: {state: absent}}`."""
    if raw is None:
        return []
    wanted: dict[str, str] = {}
    if isinstance(raw, list):
        for i, name in enumerate(raw):
            if not isinstance(name, str) or not _PACKAGE.match(name):
                c.add((*path, i), f"expected a package name, got {name!r}")
                continue
            wanted[name] = "present"
    else:
        body = c.mapping(raw, path)
        for name in sorted(body, key=str):
            ppath = (*path, name)
            if not isinstance(name, str) or not _PACKAGE.match(name):
                c.add(ppath, f"expected a package name, got {name!r}", at_key=True)
                continue
            spec = c.mapping(body[name], ppath)
            c.fields(spec, ppath, ("state",))
            state = c.get(spec, "state", ppath, "string", "present")
            if state not in ("present", "absent"):
                c.add((*ppath, "state"), f"expected present or absent, got {state!r}")
                continue
            wanted[name] = state
    return [_Object(PACKAGE, name, {"name": name, "state": state}) for name, state in sorted(wanted.items())]


def _users(c: Checker, raw: Mapping[Any, Any], path: tuple[str, ...],
           after: tuple[tuple[str, str], ...] = ()) -> list[_Object]:
    out = []
    for name in sorted(raw, key=str):
        upath = (*path, name)
        if not isinstance(name, str) or not _NAME.match(name) or len(name) > 32:
            c.add(upath, f"expected a user name (lower-case letters, digits, '_', '-'), got {name!r}", at_key=True)
            continue
        body = c.mapping(raw[name], upath)
        c.fields(body, upath, ("system", "home", "shell", "groups"))
        args: dict[str, Any] = {"name": name, "state": "present"}
        if c.get(body, "system", upath, "boolean", False):
            args["system"] = True
        for key in ("home", "shell"):
            value = _path(c, body, key, upath)
            if value is not None:
                args[key] = value
        groups = c.get(body, "groups", upath, "string-list")
        if groups:
            args["groups"] = sorted(groups)
        out.append(_Object(USER, name, args, after=after))
    return out


def _path(c: Checker, body: Mapping[Any, Any], key: str, path: tuple[Any, ...]) -> str | None:
    value = c.get(body, key, path, "string")
    if value is not None and not _is_path(value):
        c.add((*path, key), f"expected an absolute, normalized path, got {value!r}")
        return None
    return value  # type: ignore[no-any-return]


def _is_path(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/") and posixpath.normpath(value) == value and value != "/"


def _ownership(c: Checker, body: Mapping[Any, Any], path: tuple[Any, ...], args: dict[str, Any]) -> None:
    for key in ("owner", "group"):
        value = c.get(body, key, path, "string")
        if value is not None:
            args[key] = value
    mode = c.get(body, "mode", path, "string")
    if "mode" in body and isinstance(body["mode"], int) and not isinstance(body["mode"], bool):
        return  # the type problem is recorded; an octal given as a YAML integer is the usual slip
    if mode is not None and not _MODE.match(mode):
        c.add((*path, "mode"), f"expected an octal mode in quotes such as \"0644\", got {mode!r}")
    elif mode is not None:
        args["mode"] = mode if mode.startswith("0") else "0" + mode


def _directories(
    c: Checker, raw: Mapping[Any, Any], path: tuple[str, ...], after: tuple[tuple[str, str], ...]
) -> list[_Object]:
    out = []
    names = sorted((p for p in raw if _is_path(p)), key=str)
    for name in sorted(raw, key=str):
        dpath = (*path, name)
        if not _is_path(name):
            c.add(dpath, f"expected an absolute, normalized directory path, got {name!r}", at_key=True)
            continue
        body = c.mapping(raw[name], dpath)
        c.fields(body, dpath, ("owner", "group", "mode"))
        args: dict[str, Any] = {"path": name, "state": "directory"}
        _ownership(c, body, dpath, args)
        parents = tuple((FILE, p) for p in names if _under(name, p))
        out.append(_Object(FILE, name, args, after=(*after, *parents)))
    return out


def _under(child: str, parent: str) -> bool:
    return child != parent and child.startswith(parent.rstrip("/") + "/")


def _copies(
    c: Checker,
    raw: Mapping[Any, Any],
    path: tuple[str, ...],
    after: tuple[tuple[str, str], ...],
    directories: list[_Object],
) -> list[_Object]:
    out = []
    for name in sorted(raw, key=str):
        fpath = (*path, name)
        if not _is_path(name):
            c.add(fpath, f"expected an absolute, normalized file path, got {name!r}", at_key=True)
            continue
        body = c.mapping(raw[name], fpath, optional=False)
        c.fields(body, fpath, ("content", "owner", "group", "mode", "secret"), required=("content",))
        content = c.get(body, "content", fpath, "string", "")
        args: dict[str, Any] = {"dest": name, "content": content}
        _ownership(c, body, fpath, args)
        secret = c.get(body, "secret", fpath, "boolean", False) or content.startswith(REF_PREFIX)
        parents = tuple(d.key for d in directories if _under(name, d.name))
        out.append(_Object(COPY, name, args, after=(*after, *parents), sensitive={"content": True} if secret else {}))
    return out


# --- onprem.Service ----------------------------------------------------------------------------


def _service_objects(c: Checker, dev: Mapping[str, Any], default_name: str) -> list[_Object]:
    name = c.get(dev, "name", (), "string", default_name)
    if not _UNIT.match(name):
        c.add(("name",) if "name" in dev else (), f"expected a unit name (letters, digits, '_', '.', '@', '-'), "
              f"got {name!r}")
    objects: list[_Object] = []
    user = c.get(dev, "user", (), "string")
    if user is not None and not _NAME.match(user):
        c.add(("user",), f"expected a user name (lower-case letters, digits, '_', '-'), got {user!r}")
        user = None
    if user is not None:
        objects.append(_Object(USER, user, {"name": user, "state": "present", "system": True}))
    first = tuple(o.key for o in objects)
    owner = {"owner": user} if user else {}
    etc = f"/etc/{name}"
    objects.append(_Object(FILE, etc, {"path": etc, "state": "directory", **owner, "mode": "0750"}, after=first))
    command = _command(c, dev)
    artifact = _artifact(c, dev, name, first)
    if artifact is not None:
        objects.extend(artifact)
        if not command:
            command = [artifact[-1].args["dest"]]
    image = c.get(dev, "image", (), "string")
    if image is not None and not _IMAGE.match(image):
        c.add(("image",), f"expected a container image reference such as docker.io/library/nginx:1.27, got {image!r}")
    if "artifact" in dev and "image" in dev:
        c.add((), "expected one of 'artifact' (a file fetched from a URL) or 'image' (run with podman), not both")
    elif "artifact" not in dev and "image" not in dev and not (command and command[0].startswith("/")):
        c.add((), "expected 'artifact' (a file fetched from a URL), 'image' (run with podman), or a 'command' "
              "whose program is already on the host (an absolute path, e.g. from `packages`)")
    port = c.get(dev, "port", (), "integer")
    if port is not None and not c.in_range(port, ("port",), 1, 65535):
        port = None
    env_path = f"{etc}/{name}.env"
    environment, secret_env = _environment(c, dev)
    objects.append(_Object(
        COPY, env_path, {"dest": env_path, "content": environment, **owner, "mode": "0600"},
        after=(*first, (FILE, etc)), sensitive={"content": True} if secret_env else {},
    ))
    files = c.mapping(dev.get("files"), ("files",))
    objects.extend(_copies(c, files, ("files",), (*first, (FILE, etc)), []))
    if image is not None:
        publish = ["-p", f"{port}:{port}"] if port is not None else []
        command = [PODMAN, "run", "--rm", "--name", name, "--env-file", env_path, *publish, image, *command]
    unit_path = f"{UNIT_DIR}/{name}.service"
    before_unit = tuple(o.key for o in objects)
    objects.append(_Object(COPY, unit_path, {"dest": unit_path, "content": _unit(name, user, env_path, command),
                                             "mode": "0644"}, after=before_unit))
    readiness: dict[str, Any] = {"active": True}
    if port is not None:
        readiness["port"] = port
    objects.append(_Object(
        SYSTEMD, f"{name}.service",
        {"name": f"{name}.service", "state": "started", "enabled": True, "daemon_reload": True},
        after=(*before_unit, (COPY, unit_path)), extensions={EXT_READINESS: readiness},
    ))
    return objects


def _command(c: Checker, dev: Mapping[str, Any]) -> list[str]:
    raw = dev.get("command")
    if raw is None:
        return []
    if isinstance(raw, str):
        try:
            return shlex.split(raw)
        except ValueError as exc:
            c.add(("command",), f"cannot split the command into words: {exc}")
            return []
    words = c.value(raw, ("command",), "string-list", [])
    if not words and isinstance(raw, list):
        c.add(("command",), "expected a non-empty command")
    return list(words)


def _artifact(c: Checker, dev: Mapping[str, Any], name: str, after: tuple[tuple[str, str], ...]) -> list[_Object] | None:
    if "artifact" not in dev:
        return None
    body = c.mapping(dev["artifact"], ("artifact",), optional=False)
    c.fields(body, ("artifact",), ("url", "checksum"), required=("url", "checksum"))
    url = c.get(body, "url", ("artifact",), "string", "")
    checksum = c.get(body, "checksum", ("artifact",), "string", "")
    if url and not re.match(r"^https?://[^/\s]+/\S*[^/\s]$", url):
        c.add(("artifact", "url"), f"expected an http(s) URL of a file, got {url!r}")
        return None
    match = _CHECKSUM.match(checksum) if checksum else None
    if checksum and (match is None or len(checksum.split(":", 1)[1]) != _HEX_LENGTH[match.group(1)]):
        c.add(("artifact", "checksum"), "expected <algorithm>:<lower-case hex digest> with sha1, sha256, "
              f"sha384 or sha512, got {checksum!r}")
        return None
    if not url or not checksum:
        return None
    opt = f"/opt/{name}"
    dest = f"{opt}/{posixpath.basename(url.split('?', 1)[0])}"
    return [
        _Object(FILE, opt, {"path": opt, "state": "directory", "mode": "0755"}, after=after),
        _Object(GET_URL, dest, {"url": url, "dest": dest, "checksum": checksum, "mode": "0755"},
                after=(*after, (FILE, opt))),
    ]


def _environment(c: Checker, dev: Mapping[str, Any]) -> tuple[str, bool]:
    env = c.get(dev, "environment", (), "string-map", {})
    lines = []
    secret = False
    for key in sorted(env, key=str):
        if not isinstance(key, str) or not _ENV.match(key):
            c.add(("environment", key), f"expected an environment variable name, got {key!r}", at_key=True)
            continue
        value = env[key]
        secret = secret or value.startswith(REF_PREFIX)
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        lines.append(f'{key}="{escaped}"\n')
    return "".join(lines), secret


def _unit(name: str, user: str | None, env_path: str, command: list[str]) -> str:
    lines = [
        "[Unit]",
        f"Description={name} (managed by Shipmate)",
        "After=network-online.target",
        "Wants=network-online.target",
        "",
        "[Service]",
        *([f"User={user}"] if user else []),
        f"EnvironmentFile={env_path}",
        f"ExecStart={shlex.join(command)}",
        "Restart=on-failure",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"
