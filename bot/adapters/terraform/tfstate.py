"""Terraform state and `show -json` documents ↔ Shipmate resources.

Owns three conversions:
- rebuild a `terraform.tfstate` (format 4) from State resources, using the raw instance kept
  in `extensions["shipmate.io/tfstate"]` (schema version, private data, dependencies, the
  provider configuration, taint) and the resource's `attributes` as the instance values; a
  State written without that extension (e.g. by Kusion) gets a synthetic instance, as Kusion
  does;
- read instances back out of a state file after a command;
- read `show -json` output of a plan (planned values with unknowns marked, whether a
  resource is replaced and which attributes force it, the refreshed prior state), with Terraform's `sensitive_values`/`after_sensitive` trees pruned to their
  `true` leaves. Format versions 0.x (Terraform 0.15-1.0) and 1.x (1.1+) are both accepted.

Pure functions: callers do the file I/O.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.adapters.terraform.config import Address
from bot.core.errors import RuntimeFailed
from bot.core.ports import KNOWN_AFTER_APPLY, REPLACE_KEY, SENSITIVE_KEY
from bot.core.spec import TERRAFORM, Resource

# Where a State entry keeps Terraform's raw state instance (all but its `attributes`).
TF_STATE_EXT = "shipmate.io/tfstate"
STATE_FORMAT = 4
# Every Terraform ≥ 0.15 reads a version-4 state that claims this version.
STATE_TERRAFORM_VERSION = "1.0.0"
_NO_PRIVATE = "bnVsbA=="
_SHIPMATE_NS = uuid.UUID("6f1f0c0e-5d0e-4f4e-9b8e-5348495050d1")


def lineage_for(key: str) -> str:
    """A stable lineage per working directory, so a rebuilt state matches a saved plan."""
    return str(uuid.uuid5(_SHIPMATE_NS, key))


def _instance_from(resource: Resource, addr: Address) -> dict[str, Any]:
    raw = resource.extensions.get(TF_STATE_EXT)
    instance: dict[str, Any]
    if isinstance(raw, Mapping):
        instance = {k: v for k, v in raw.items() if k != "provider"}
    else:
        instance = {"schema_version": 0, "sensitive_attributes": []}
    instance["attributes"] = dict(resource.attributes)
    instance.setdefault("schema_version", 0)
    instance.setdefault("sensitive_attributes", [])
    return instance


def _provider_of(resource: Resource, addr: Address) -> str:
    raw = resource.extensions.get(TF_STATE_EXT)
    if isinstance(raw, Mapping) and isinstance(raw.get("provider"), str):
        return str(raw["provider"])
    return addr.provider_state_address


def build_state(
    recorded: Iterable[Resource], addrs: Mapping[str, Address], lineage: str
) -> dict[str, Any]:
    """A `terraform.tfstate` document holding exactly the given State resources."""
    resources = []
    for res in sorted(recorded, key=lambda r: addrs[r.id].address):
        addr = addrs[res.id]
        resources.append(
            {
                "mode": "managed",
                "type": addr.resource_type,
                "name": addr.name,
                "provider": _provider_of(res, addr),
                "instances": [_instance_from(res, addr)],
            }
        )
    return {
        "version": STATE_FORMAT,
        "terraform_version": STATE_TERRAFORM_VERSION,
        "serial": 1,
        "lineage": lineage,
        "outputs": {},
        "resources": resources,
    }


def dump(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True, slots=True)
class Instance:
    """One resource instance as a state file holds it."""

    provider: str
    raw: Mapping[str, Any]

    @property
    def attributes(self) -> dict[str, Any]:
        return dict(self.raw.get("attributes") or {})

    @property
    def tainted(self) -> bool:
        return self.raw.get("status") == "tainted"

    def extension(self) -> dict[str, Any]:
        """What goes in `extensions["shipmate.io/tfstate"]`: the instance minus its values."""
        ext = {k: v for k, v in self.raw.items() if k != "attributes"}
        if ext.get("private") == _NO_PRIVATE:
            del ext["private"]  # base64 of JSON null: what a refresh leaves out anyway
        if isinstance(ext.get("dependencies"), list):
            ext["dependencies"] = sorted(ext["dependencies"])
        ext["provider"] = self.provider
        return ext


def instances(state: Mapping[str, Any] | None) -> dict[str, Instance]:
    """Managed, single (unkeyed, current) instances by Terraform address."""
    out: dict[str, Instance] = {}
    if not state:
        return out
    version = state.get("version")
    if version != STATE_FORMAT:
        raise RuntimeFailed(f"unsupported terraform.tfstate format version {version!r}")
    for res in state.get("resources") or ():
        if res.get("mode") != "managed" or res.get("module"):
            continue
        for inst in res.get("instances") or ():
            if "index_key" in inst or "deposed" in inst:
                continue
            out[f"{res['type']}.{res['name']}"] = Instance(
                provider=str(res.get("provider", "")), raw=inst
            )
    return out


def state_resource(planned: Resource, instance: Instance, sensitive: Any = None) -> Resource:
    """The Resource to record in State: refreshed values plus the raw instance to rebuild from."""
    extensions = {
        k: v for k, v in planned.extensions.items() if k not in (TF_STATE_EXT, SENSITIVE_KEY)
    }
    extensions[TF_STATE_EXT] = instance.extension()
    tree = prune(sensitive)
    if tree is not None:
        extensions[SENSITIVE_KEY] = tree
    return Resource(
        id=planned.id,
        type=TERRAFORM,
        attributes=instance.attributes,
        depends_on=planned.depends_on,
        extensions=extensions,
    )


# --- show -json -------------------------------------------------------------------------------


def check_format(document: Mapping[str, Any], what: str) -> None:
    version = str(document.get("format_version", "0.1"))
    major = version.split(".", 1)[0]
    if major not in ("0", "1"):
        raise RuntimeFailed(
            f"terraform show -json of the {what} has format_version {version}, which this "
            "version of Shipmate does not understand (0.x and 1.x are supported)"
        )


def prune(tree: Any) -> Any:
    """A sensitive/unknown mirror tree keeping only branches that lead to `true` (else None)."""
    if tree is True:
        return True
    if isinstance(tree, Mapping):
        kept = {str(k): v for k, v in ((k, prune(v)) for k, v in tree.items()) if v is not None}
        return dict(sorted(kept.items())) if kept else None
    if isinstance(tree, list):
        items = [prune(v) for v in tree]
        if all(v is None for v in items):
            return None
        return [v if v is not None else False for v in items]
    return None


def _mark_unknown(value: Any, unknown: Any) -> Any:
    if unknown is True:
        return KNOWN_AFTER_APPLY
    if isinstance(unknown, Mapping):
        base = dict(value) if isinstance(value, Mapping) else {}
        for key, sub in unknown.items():
            base[key] = _mark_unknown(base.get(key), sub)
        return base
    if isinstance(unknown, list):
        items = list(value) if isinstance(value, list) else []
        for i, sub in enumerate(unknown):
            if i < len(items):
                items[i] = _mark_unknown(items[i], sub)
            elif sub is True:
                items.append(KNOWN_AFTER_APPLY)
        return items
    return value


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One resource's entry in a plan: actions and the values it will have afterwards;
    `replace_paths` the attributes forcing a replacement (Terraform's, as lists of keys and
    indexes)."""

    actions: tuple[str, ...]
    after: dict[str, Any]
    sensitive: Any
    replace_paths: tuple[tuple[str | int, ...], ...] = ()

    @property
    def replaces(self) -> bool:
        """Applying deletes the resource and creates it again (`-/+` or `+/-`)."""
        return sorted(self.actions) == ["create", "delete"]

    def view(self) -> dict[str, Any]:
        """The dry-run object: planned attributes, unknowns marked, sensitive tree attached,
        and for a replacement the paths forcing it under REPLACE_KEY."""
        out = dict(self.after)
        if self.sensitive is not None:
            out[SENSITIVE_KEY] = self.sensitive
        if self.replaces:
            out[REPLACE_KEY] = [list(path) for path in self.replace_paths]
        return out


def planned_changes(plan: Mapping[str, Any]) -> dict[str, PlannedChange]:
    """`resource_changes` of a plan by address (root module, managed, current instances)."""
    check_format(plan, "plan")
    out: dict[str, PlannedChange] = {}
    for rc in plan.get("resource_changes") or ():
        if rc.get("mode") != "managed" or rc.get("module_address") or rc.get("deposed"):
            continue
        if "index" in rc:
            continue
        change = rc.get("change") or {}
        after = change.get("after")
        values = _mark_unknown(
            after if isinstance(after, Mapping) else {}, change.get("after_unknown")
        )
        out[str(rc["address"])] = PlannedChange(
            actions=tuple(change.get("actions") or ()),
            after=dict(values),
            sensitive=prune(change.get("after_sensitive")),
            replace_paths=tuple(
                tuple(seg for seg in path if isinstance(seg, str | int))
                for path in change.get("replace_paths") or ()
                if isinstance(path, list)
            ),
        )
    return out


def refreshed_values(plan: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The refreshed state a plan started from: values by address, sensitive tree attached."""
    check_format(plan, "plan")
    prior = plan.get("prior_state") or {}
    root = (prior.get("values") or {}).get("root_module") or {}
    out: dict[str, dict[str, Any]] = {}
    for res in root.get("resources") or ():
        if res.get("mode") != "managed" or "index" in res:
            continue
        values = dict(res.get("values") or {})
        sensitive = prune(res.get("sensitive_values"))
        if sensitive is not None:
            values[SENSITIVE_KEY] = sensitive
        out[str(res["address"])] = values
    return out
