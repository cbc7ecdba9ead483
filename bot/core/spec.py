"""Spec, Resource and State: the values Generate produces and runtimes consume (Kusion's shapes).

Resources are frozen; `attributes` and `extensions` are plain JSON-like dicts that callers
must treat as read-only. `to_dict`/`from_dict` give Kusion's YAML field names and a
deterministic key order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KUBERNETES = "Kubernetes"
TERRAFORM = "Terraform"
ANSIBLE = "Ansible"  # on-prem hosts, through Ansible (bot.core.modules.builtins.onprem)

# Extension keys used across the code base.
EXT_GVK = "GVK"
EXT_IS_WORKLOAD = "kusion.io/is-workload"
EXT_IMPORT_ID = "kusionstack.io/import-id"
EXT_PROVIDER = "provider"
EXT_PROVIDER_META = "providerMeta"
EXT_RESOURCE_TYPE = "resourceType"
SENSITIVE_KEY = "__sensitive__"  # the fields of a resource (or a read object) that are secret; bot.core.ports
EXT_HEALTH_POLICY = "healthPolicy"

KUSION_PATH_PREFIX = "$kusion_path."


@dataclass(frozen=True, slots=True)
class Resource:
    """One resource of a Spec or State: Kubernetes manifest or Terraform resource."""

    id: str
    type: str
    attributes: Mapping[str, Any]
    depends_on: tuple[str, ...] = ()
    extensions: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type, "attributes": self.attributes}
        if self.depends_on:
            out["dependsOn"] = list(self.depends_on)
        if self.extensions:
            out["extensions"] = self.extensions
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Resource:
        return cls(
            id=str(data["id"]),
            type=str(data.get("type", KUBERNETES)),
            attributes=dict(data.get("attributes") or {}),
            depends_on=tuple(data.get("dependsOn") or ()),
            extensions=dict(data.get("extensions") or {}),
        )


@dataclass(frozen=True, slots=True)
class Spec:
    """The desired state of one stack in one workspace.

    `kind_order` (`kindOrder` in the text) is Kusion's kind ordering said once for the whole
    Spec instead of written into every `dependsOn`: each Kubernetes resource depends on every
    Kubernetes resource whose kind comes earlier in the list (a kind not listed after all
    listed ones). Empty: only `dependsOn` orders (a Spec written with Kusion's literal lists,
    as Releases before it were)."""

    resources: tuple[Resource, ...] = ()
    secret_store: Mapping[str, Any] | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    kind_order: tuple[str, ...] = ()

    def by_id(self) -> dict[str, Resource]:
        return {r.id: r for r in self.resources}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "resources": [r.to_dict() for r in self.resources],
            "secretStore": self.secret_store,
            "context": dict(self.context),
        }
        if self.kind_order:
            out["kindOrder"] = list(self.kind_order)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Spec:
        data = data or {}
        return cls(
            resources=tuple(Resource.from_dict(r) for r in data.get("resources") or ()),
            secret_store=data.get("secretStore"),
            context=dict(data.get("context") or {}),
            kind_order=tuple(str(k) for k in data.get("kindOrder") or ()),
        )


def kind_ranks(resources: Iterable[Resource], kind_order: Sequence[str]) -> dict[str, int]:
    """Each Kubernetes resource's place in `kind_order` (a kind not listed: after every listed
    one); empty without a kind order. What `Spec.kind_order` means, for `graph.ranked`."""
    if not kind_order:
        return {}
    place = {kind: i for i, kind in enumerate(kind_order)}
    unlisted = len(kind_order)
    out: dict[str, int] = {}
    for r in resources:
        if r.type == KUBERNETES:
            kind = r.attributes.get("kind")
            out[r.id] = place.get(kind, unlisted) if isinstance(kind, str) else unlisted
    return out


@dataclass(frozen=True, slots=True)
class State:
    """What a release recorded as applied: the same resource shape as a Spec."""

    resources: tuple[Resource, ...] = ()

    def by_id(self) -> dict[str, Resource]:
        return {r.id: r for r in self.resources}

    def to_dict(self) -> dict[str, Any]:
        return {"resources": [r.to_dict() for r in self.resources]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> State:
        data = data or {}
        return cls(resources=tuple(Resource.from_dict(r) for r in data.get("resources") or ()))

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> State:
        return cls(resources=tuple(sorted(resources, key=lambda r: r.id)))
