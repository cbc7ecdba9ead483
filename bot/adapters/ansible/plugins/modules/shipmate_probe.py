#!/usr/bin/python
"""Ansible module run on a managed host: what Shipmate's objects look like there, in one call.

`objects` is a list of `{key, kind, ...}`: `path` (a file or directory: exists, kind, owner,
group, mode, and `content` when asked and the file is small text, or its `checksum` in an
algorithm asked for), `user` (exists, home, shell, supplementary groups) and `unit` (a systemd
unit as `systemctl show` tells it: loaded, active, enabled) and `package` (installed, as
dpkg or rpm tells it). The answer is `objects`, by key.
One module run per host instead of a stat, slurp or getent task per object keeps a preview of
many objects to one round trip; it changes nothing, so it runs the same in check mode.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat
import subprocess
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = """
module: shipmate_probe
short_description: Reads files, users and systemd units for Shipmate's preview
options:
  objects: {type: list, elements: dict, required: true, description: what to read}
"""

MAX_CONTENT = 1 << 20


def _name(lookup: Any, ident: int) -> str:
    try:
        return str(lookup(ident)[0])
    except KeyError:
        return str(ident)


def _path(obj: dict[str, Any]) -> dict[str, Any]:
    path = obj["path"]
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    except NotADirectoryError:
        return {"exists": False}
    kind = "directory" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
    out: dict[str, Any] = {
        "exists": True,
        "kind": kind,
        "owner": _name(pwd.getpwuid, st.st_uid),
        "group": _name(grp.getgrgid, st.st_gid),
        "mode": f"{stat.S_IMODE(st.st_mode):04o}",
    }
    if kind == "file" and obj.get("content"):
        if st.st_size > MAX_CONTENT:
            out["content"] = None
        else:
            with open(path, "rb") as handle:
                data = handle.read()
            try:
                out["content"] = data.decode("utf-8")
            except UnicodeDecodeError:
                out["content"] = None
    algorithm = obj.get("checksum")
    if kind == "file" and algorithm:
        digest = hashlib.new(algorithm)
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 16), b""):
                digest.update(block)
        out["checksum"] = f"{algorithm}:{digest.hexdigest()}"
    return out


def _user(obj: dict[str, Any]) -> dict[str, Any]:
    try:
        entry = pwd.getpwnam(obj["name"])
    except KeyError:
        return {"exists": False}
    groups = sorted(g.gr_name for g in grp.getgrall() if obj["name"] in g.gr_mem)
    return {"exists": True, "home": entry.pw_dir, "shell": entry.pw_shell, "groups": groups, "uid": entry.pw_uid}


def _unit(obj: dict[str, Any], module: Any) -> dict[str, Any]:
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return {"exists": False, "error": "systemctl not found"}
    proc = subprocess.run([systemctl, "show", obj["name"]], capture_output=True, text=True, check=False)
    props: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            props[key] = value
    load = props.get("LoadState", "not-found")
    return {
        "exists": proc.returncode == 0 and load not in ("not-found", ""),
        "active": props.get("ActiveState") == "active",
        "enabled": props.get("UnitFileState") in ("enabled", "enabled-runtime", "alias"),
    }


def _package(obj: dict[str, Any], module: Any) -> dict[str, Any]:
    dpkg = module.get_bin_path("dpkg-query")
    if dpkg is not None:
        proc = subprocess.run([dpkg, "-W", "-f=${db:Status-Status}", obj["name"]],
                              capture_output=True, text=True, check=False)
        return {"exists": proc.returncode == 0 and proc.stdout.strip() == "installed"}
    rpm = module.get_bin_path("rpm")
    if rpm is not None:
        proc = subprocess.run([rpm, "-q", obj["name"]], capture_output=True, text=True, check=False)
        return {"exists": proc.returncode == 0}
    return {"exists": False, "error": "neither dpkg nor rpm found"}


def main() -> None:
    module = AnsibleModule(argument_spec={"objects": {"type": "list", "elements": "dict", "required": True}},
                           supports_check_mode=True)
    found: dict[str, Any] = {}
    for obj in module.params["objects"]:
        kind = obj.get("kind")
        try:
            if kind == "path":
                found[obj["key"]] = _path(obj)
            elif kind == "user":
                found[obj["key"]] = _user(obj)
            elif kind == "unit":
                found[obj["key"]] = _unit(obj, module)
            elif kind == "package":
                found[obj["key"]] = _package(obj, module)
            else:
                module.fail_json(msg=f"unknown object kind {kind!r}")
        except OSError as exc:
            found[obj["key"]] = {"exists": True, "error": str(exc)}
    module.exit_json(changed=False, objects=found)


if __name__ == "__main__":
    main()
