"""What the Ansible runtime knows about each Ansible module the `onprem` modules generate.

For every resource (`type: Ansible`, extension `resourceType` = the module): the task that
applies it (its attributes less `host`, managed paths under the host's `baseDir`), the task
that removes it (`state: absent`, a unit stopped and disabled), what to probe on the host
(`plugins/modules/shipmate_probe.py`) and how a probe's answer becomes the live object, with
the same keys as the attributes so that an object as the Spec says compares equal.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from bot.core.errors import RuntimeFailed
from bot.core.modules.builtins.onprem import COPY, EXT_READINESS, FILE, GET_URL, SYSTEMD, USER
from bot.core.ports import SENSITIVE_KEY
from bot.core.spec import EXT_RESOURCE_TYPE, Resource

PACKAGE = "ansible.builtin.package"
MODULES = (PACKAGE, USER, FILE, COPY, GET_URL, SYSTEMD)
PATH_KEY = {FILE: "path", COPY: "dest", GET_URL: "dest"}
"""The attribute naming the managed path, for the modules that manage one."""
PREFIXED = ("path", "dest", "home")
"""Attributes that are paths on the host, placed under its `baseDir`."""
STARTED = "started"
RESTARTED = "restarted"


def module_of(resource: Resource) -> str:
    """The Ansible module of a resource; RuntimeFailed for one this runtime does not manage."""
    module = resource.extensions.get(EXT_RESOURCE_TYPE)
    if module not in MODULES:
        raise RuntimeFailed(
            f"{resource.id}: the Ansible runtime manages {', '.join(MODULES)}; got resourceType {module!r}"
        )
    return str(module)


def host_of(resource: Resource) -> Mapping[str, Any]:
    host = resource.attributes.get("host")
    if not isinstance(host, Mapping) or not host.get("name") or not host.get("address"):
        raise RuntimeFailed(f"{resource.id}: no inventory host in its attributes ('host')")
    return host


def on_host(path: str, host: Mapping[str, Any]) -> str:
    """Where `path` is on the host: under its `baseDir` when the inventory gives one."""
    base = host.get("baseDir")
    return posixpath.join(str(base), path.lstrip("/")) if base else path


def off_host(path: Any, host: Mapping[str, Any]) -> Any:
    """A path the host reported, as the Spec names it (without the host's `baseDir`)."""
    base = str(host.get("baseDir") or "").rstrip("/")
    if base and isinstance(path, str) and (path == base or path.startswith(base + "/")):
        return "/" + path[len(base):].lstrip("/")
    return path


def task_args(resource: Resource) -> dict[str, Any]:
    """The module's arguments that apply the resource."""
    host = host_of(resource)
    args = {k: v for k, v in resource.attributes.items() if k != "host"}
    for key in PREFIXED:
        if isinstance(args.get(key), str):
            args[key] = on_host(args[key], host)
    return args


def removal(resource: Resource) -> tuple[str, dict[str, Any]]:
    """The module and arguments that remove the resource (absent already is no error)."""
    module = module_of(resource)
    attrs = resource.attributes
    if module in (USER, PACKAGE):
        return module, {"name": attrs["name"], "state": "absent"}
    if module == SYSTEMD:
        return SYSTEMD, {"name": attrs["name"], "state": "stopped", "enabled": False}
    return FILE, {"path": on_host(str(attrs[PATH_KEY[module]]), host_of(resource)), "state": "absent"}


def probe(resource: Resource, key: str) -> dict[str, Any]:
    """What `shipmate_probe` reads for the resource, answered under `key`."""
    module = module_of(resource)
    attrs = resource.attributes
    if module == USER:
        return {"key": key, "kind": "user", "name": attrs["name"]}
    if module == PACKAGE:
        return {"key": key, "kind": "package", "name": attrs["name"]}
    if module == SYSTEMD:
        return {"key": key, "kind": "unit", "name": attrs["name"]}
    out: dict[str, Any] = {"key": key, "kind": "path", "path": on_host(str(attrs[PATH_KEY[module]]), host_of(resource))}
    if module == COPY:
        out["content"] = True
    if module == GET_URL and isinstance(attrs.get("checksum"), str) and ":" in attrs["checksum"]:
        out["checksum"] = attrs["checksum"].split(":", 1)[0]
    return out


def live(resource: Resource, found: Mapping[str, Any]) -> dict[str, Any] | None:
    """The live object from the probe's answer (None: the object is not there). Keys the host
    cannot show (a get_url's `url`, a user's `system`, `daemon_reload`) keep the Spec's value.
    A package the Spec wants absent is there either way, `state` saying whether it is installed."""
    module = module_of(resource)
    out = dict(resource.attributes)
    if module == PACKAGE and out.get("state") == "absent":
        return {**out, "state": "present" if found.get("exists") else "absent"}
    if not found.get("exists"):
        return None
    if module == PACKAGE:
        return out
    if module == SYSTEMD:
        if "state" in out:
            out["state"] = STARTED if found.get("active") else "stopped"
        if "enabled" in out:
            out["enabled"] = bool(found.get("enabled"))
        return out
    if module == USER:
        for key in ("home", "shell", "groups"):
            if key in out:
                out[key] = found.get(key)
        if "home" in out:
            out["home"] = off_host(out["home"], host_of(resource))
        return out
    for key in ("owner", "group", "mode"):
        if key in out:
            out[key] = found.get(key)
    if module == FILE and out.get("state") == "directory":
        out["state"] = found.get("kind")
    elif found.get("kind") != "file":
        out["kind"] = found.get("kind")  # a directory where a file belongs: shown, never equal
    if module == COPY:
        out["content"] = found.get("content")
    if module == GET_URL and "checksum" in out:
        out["checksum"] = found.get("checksum")
    return out


def after(resource: Resource, restart: bool) -> dict[str, Any]:
    """The object after the apply: the Spec's, with a started unit restarted when `restart`."""
    out = dict(resource.attributes)
    if restart and module_of(resource) == SYSTEMD and out.get("state") == STARTED:
        out["state"] = RESTARTED
    return out


def sensitive(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` marked with the resource's sensitive paths other than the host's (its contents)."""
    tree = resource.extensions.get(SENSITIVE_KEY)
    if isinstance(tree, Mapping):
        marks = {k: v for k, v in tree.items() if k != "host"}
        if marks:
            return {**obj, SENSITIVE_KEY: marks}
    return obj


def readiness(resource: Resource) -> Mapping[str, Any]:
    """A unit's readiness (`active`, `port`), empty for anything else."""
    ready = resource.extensions.get(EXT_READINESS)
    if module_of(resource) != SYSTEMD or not isinstance(ready, Mapping):
        return {}
    return ready
