"""Workload secrets (`workload.secrets`) → Kubernetes Secrets, as Kusion's secret generator.

| type          | Secret type                 | data                                          |
|---------------|-----------------------------|-----------------------------------------------|
| `basic`       | `kubernetes.io/basic-auth`  | `username`, `password` (generated when empty)   |
| `token`       | `Opaque`                    | `token` (generated when empty)                 |
| `opaque`      | `Opaque`                    | the given data                                |
| `certificate` | `kubernetes.io/tls`         | `tls.crt`, `tls.key`                          |
| `external`    | `Opaque`                    | `ref://...` strings, resolved at apply time; needs the workspace's `secretStore` |

Generated values are 54 letters and digits, like Kusion's, but *derived* rather than random so
that generating the same stack twice gives byte-identical Specs (and re-applying does not
rotate passwords). The derivation is HMAC-SHA256 keyed with a salt, over project, stack, app,
secret name and key. Without a salt anybody who knows those names can compute the value, so
deployments should set one (`SHIPMATE_SECRET_SALT`, read by the command and the bot) and keep
it secret. Data values are base64-encoded, as the API server stores them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import string
from collections.abc import Mapping
from typing import Any

from bot.core.config.checks import Checker
from bot.core.modules.kube import k8s_resource, metadata, name_problem
from bot.core.spec import Resource

SECRET_TYPES = ("basic", "token", "opaque", "certificate", "external")
_ALPHABET = string.ascii_letters + string.digits
_LENGTH = 54


def derived_value(salt: str, *parts: str) -> str:
    """A 54-character value determined by `salt` and `parts`."""
    key = (salt or "shipmate").encode()
    message = "\x00".join(parts).encode()
    out: list[str] = []
    counter = 0
    while len(out) < _LENGTH:
        digest = hmac.new(key, message + counter.to_bytes(4, "big"), hashlib.sha256).digest()
        # 248 = 4 * 62: rejecting bytes >= 248 keeps every character equally likely.
        out.extend(_ALPHABET[b % 62] for b in digest if b < 248)
        counter += 1
    return "".join(out[:_LENGTH])


def generate_secrets(
    c: Checker,
    secrets: Any,
    *,
    project: str,
    stack: str,
    app: str,
    namespace: str,
    secret_store: Mapping[str, Any] | None,
    salt: str,
) -> list[Resource]:
    """Secrets for one workload; problems are recorded in `c` with paths under `secrets`."""
    out: list[Resource] = []
    for name, raw in sorted(c.mapping(secrets, ("secrets",)).items(), key=lambda kv: str(kv[0])):
        path = ("secrets", name)
        body = c.mapping(raw, path, optional=False)
        c.fields(body, path, ("type", "data", "params", "immutable"), required=("type",))
        problem = name_problem(str(name), "secret name")
        if problem:
            c.add(path, problem, at_key=True)
        kind = body.get("type")
        if "type" in body and not c.one_of(kind, (*path, "type"), SECRET_TYPES):
            continue
        data: dict[str, str] = c.get(body, "data", path, "string-map", {})
        c.get(body, "params", path, "mapping", {})
        immutable = c.get(body, "immutable", path, "boolean", False)
        if kind == "basic":
            secret_type = "kubernetes.io/basic-auth"
            values = _pick(data, ("username", "password"))
            for key in ("username", "password"):
                if not values.get(key):
                    values[key] = derived_value(salt, project, stack, app, str(name), key)
        elif kind == "token":
            secret_type = "Opaque"
            values = _pick(data, ("token",))
            if not values.get("token"):
                values["token"] = derived_value(salt, project, stack, app, str(name), "token")
        elif kind == "opaque":
            secret_type = "Opaque"
            values = dict(data)
        elif kind == "certificate":
            secret_type = "kubernetes.io/tls"
            values = _pick(data, ("tls.crt", "tls.key"))
        else:
            secret_type = "Opaque"
            values = dict(data)
            if secret_store is None:
                c.add((*path, "type"), "an external secret needs a secretStore in the workspace")
            for key, ref in data.items():
                if not ref.startswith("ref://"):
                    c.add((*path, "data", key), f"expected a ref://<name>/<property> reference, got {ref!r}")
        attributes: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata(str(name), namespace),
            "type": secret_type,
            "immutable": bool(immutable),
            "data": {k: base64.b64encode(v.encode()).decode() for k, v in sorted(values.items())},
        }
        out.append(k8s_resource(attributes))
    return out


def _pick(data: Mapping[str, str], keys: tuple[str, ...]) -> dict[str, str]:
    return {k: data[k] for k in keys if k in data}
