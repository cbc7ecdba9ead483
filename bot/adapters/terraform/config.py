"""Terraform configuration for one call: Spec resources → one `main.tf.json`.

Owns the mapping from Kusion's Terraform resource shape (ID
`providerNs:providerName:resourceType:name`, extensions `provider`, `providerMeta`,
`resourceType`) to Terraform addresses, the `required_providers` and provider blocks, and the
rewriting of `$kusion_path.<id>.<attr>` references, read by `bot.core.graph`'s one parser:
to another Terraform resource of the same call they become native interpolations
(`${null_resource.a.id}`), so one plan covers both; to a Terraform resource known only from the
prior State they are replaced by its recorded value. Everything here is pure: no files, no
processes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core import graph
from bot.core.errors import RuntimeFailed
from bot.core.spec import (
    EXT_PROVIDER,
    EXT_PROVIDER_META,
    EXT_RESOURCE_TYPE,
    TERRAFORM,
    Resource,
)

DEFAULT_REGISTRY = "registry.terraform.io"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Meta-arguments that would turn one Spec resource into several Terraform instances.
_MULTI_INSTANCE_ARGS = ("count", "for_each")


@dataclass(frozen=True, slots=True)
class Provider:
    """A provider address parsed from `extensions.provider` (`host/ns/name/version`)."""

    host: str
    namespace: str
    name: str
    version: str

    @property
    def source(self) -> str:
        return f"{self.host}/{self.namespace}/{self.name}"

    @property
    def state_address(self) -> str:
        """How Terraform names the default configuration of this provider in a state file."""
        return f'provider["{self.source}"]'


@dataclass(frozen=True, slots=True)
class Address:
    """Where one Spec resource lives in the working directory."""

    id: str
    resource_type: str
    name: str
    provider: Provider
    provider_meta: Mapping[str, Any]

    @property
    def address(self) -> str:
        return f"{self.resource_type}.{self.name}"

    @property
    def alias(self) -> str | None:
        """Provider alias: none for an empty `providerMeta`, else one per distinct body.

        Derived from the resource alone (not from the other resources of the call), so the
        provider a state entry records always exists in a later call's configuration.
        """
        if not self.provider_meta:
            return None
        digest = hashlib.sha256(_canonical(self.provider_meta).encode()).hexdigest()
        return f"m_{digest[:10]}"

    @property
    def provider_ref(self) -> str:
        """`null` or `null.m_0123456789`: the value of a resource's `provider` meta-argument."""
        return f"{self.provider.name}.{self.alias}" if self.alias else self.provider.name

    @property
    def provider_state_address(self) -> str:
        base = self.provider.state_address
        return f"{base}.{self.alias}" if self.alias else base


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def parse_provider(value: Any, resource_id: str) -> Provider:
    """`registry.terraform.io/hashicorp/null/2.1.2` (or `hashicorp/null/2.1.2`) → Provider."""
    if not isinstance(value, str) or not value:
        raise RuntimeFailed(
            f"{resource_id}: extensions.provider is missing; expected host/namespace/name/version "
            "such as registry.terraform.io/hashicorp/null/2.1.2",
            failed_ids=[resource_id],
        )
    parts = value.strip("/").split("/")
    if len(parts) == 3:
        parts = [DEFAULT_REGISTRY, *parts]
    if len(parts) != 4 or not all(parts):
        raise RuntimeFailed(
            f"{resource_id}: extensions.provider {value!r} is not host/namespace/name/version "
            "(e.g. registry.terraform.io/hashicorp/null/2.1.2)",
            failed_ids=[resource_id],
        )
    return Provider(host=parts[0], namespace=parts[1], name=parts[2], version=parts[3])


def address_of(resource: Resource) -> Address:
    """Validate a Terraform resource and locate it: type, local name, provider."""
    rid = resource.id
    if resource.type != TERRAFORM:
        raise RuntimeFailed(
            f"{rid}: the Terraform runtime got a resource of type {resource.type!r}",
            failed_ids=[rid],
        )
    parts = rid.split(":")
    if len(parts) != 4 or not all(parts):
        raise RuntimeFailed(
            f"{rid}: a Terraform resource ID must be providerNs:providerName:resourceType:name",
            failed_ids=[rid],
        )
    namespace, provider_name, id_type, name = parts
    ext = resource.extensions
    provider = parse_provider(ext.get(EXT_PROVIDER), rid)
    if (provider.namespace, provider.name) != (namespace, provider_name):
        raise RuntimeFailed(
            f"{rid}: the ID names provider {namespace}/{provider_name} but extensions.provider "
            f"is {provider.namespace}/{provider.name}",
            failed_ids=[rid],
        )
    resource_type = str(ext.get(EXT_RESOURCE_TYPE) or id_type)
    if resource_type != id_type:
        raise RuntimeFailed(
            f"{rid}: extensions.resourceType {resource_type!r} does not match the ID's "
            f"resource type {id_type!r}",
            failed_ids=[rid],
        )
    if not _NAME_RE.match(name) or not _NAME_RE.match(resource_type):
        raise RuntimeFailed(
            f"{rid}: {resource_type}.{name} is not a valid Terraform address (names start with "
            "a letter or underscore and hold letters, digits, '_' and '-')",
            failed_ids=[rid],
        )
    meta = ext.get(EXT_PROVIDER_META) or {}
    if not isinstance(meta, Mapping):
        raise RuntimeFailed(
            f"{rid}: extensions.providerMeta must be a mapping (the provider block body)",
            failed_ids=[rid],
        )
    return Address(
        id=rid,
        resource_type=resource_type,
        name=name,
        provider=provider,
        provider_meta=dict(meta),
    )


def addresses(resources: Iterable[Resource]) -> dict[str, Address]:
    """Addresses by resource ID; two resources may not share an address."""
    out: dict[str, Address] = {}
    seen: dict[str, str] = {}
    for resource in resources:
        addr = address_of(resource)
        other = seen.get(addr.address)
        if other is not None and other != resource.id:
            raise RuntimeFailed(
                f"{resource.id} and {other} both map to the Terraform address {addr.address}",
                failed_ids=[resource.id, other],
            )
        seen[addr.address] = resource.id
        out[resource.id] = addr
    return out


def _providers_block(
    addrs: Iterable[Address], extra: Iterable[Address] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """`terraform.required_providers` and `provider` blocks.

    `addrs` (the resource blocks of the call) must agree on each provider's version. `extra`
    (resources known only from the recorded state) add the provider configurations their
    state entries name, unless a resource block already pins another version of that
    provider (a provider upgrade: the blocks win, Terraform upgrades the state).
    """
    required: dict[str, dict[str, str]] = {}
    owners: dict[str, str] = {}
    blocks: dict[str, dict[str, dict[str, Any]]] = {}
    primary = sorted(addrs, key=lambda a: a.id)
    pinned = {a.provider.name for a in primary}
    for addr in [*primary, *sorted(extra, key=lambda a: a.id)]:
        p = addr.provider
        want = {"source": p.source, "version": p.version}
        have = required.get(p.name)
        if have is not None and have != want:
            if p.name in pinned and addr not in primary:
                continue
            raise RuntimeFailed(
                f"{addr.id} needs provider {p.source} {p.version} but {owners[p.name]} in the "
                f"same stack needs {have['source']} {have['version']}; one stack can use one "
                "version of a provider",
                failed_ids=[addr.id, owners[p.name]],
            )
        required[p.name] = want
        owners.setdefault(p.name, addr.id)
        body = dict(addr.provider_meta)
        if addr.alias:
            body["alias"] = addr.alias
        blocks.setdefault(p.name, {})[addr.alias or ""] = body
    provider = {name: [by_alias[k] for k in sorted(by_alias)] for name, by_alias in blocks.items()}
    return required, provider


def _traversal(path: Sequence[str]) -> str:
    out = ""
    for step in path:
        if step.isdigit():
            out += f"[{step}]"
        elif _IDENT_RE.match(step):
            out += f".{step}"
        else:
            out += "[" + json.dumps(step) + "]"
    return out


@dataclass(frozen=True, slots=True)
class Rewritten:
    """A resource body ready for main.tf.json, and the references it could not resolve."""

    body: dict[str, Any]
    unresolved: tuple[str, ...]


def rewrite_references(
    attributes: Mapping[str, Any],
    in_call: Mapping[str, Address],
    recorded: Mapping[str, Resource],
) -> Rewritten:
    """Turn `$kusion_path` references into native interpolations or recorded values.

    A reference is read by `bot.core.graph.parse_reference` against the IDs of the call and of
    the recorded state. One to a resource of the call becomes a native interpolation (its new
    value: the core leaves references between a batch's members to the runtime); one to a
    resource known only from the recorded state takes the value its path names there. Anything
    else (no such ID, no such recorded value) is left as it is and reported.
    """
    unresolved: list[str] = []

    def replace(raw: str, ref: graph.Reference | None) -> Any:
        if ref is not None:
            target = in_call.get(ref.resource_id)
            if target is not None:
                return "${" + target.address + _traversal(ref.path) + "}"
            prior = recorded.get(ref.resource_id)
            if prior is not None:
                try:
                    return graph.value_at(prior.attributes, ref.path)
                except KeyError:
                    pass
        unresolved.append(raw)
        return raw

    body = graph.replace_references(dict(attributes), {*in_call, *recorded}, replace)
    return Rewritten(body=body, unresolved=tuple(sorted(set(unresolved))))


@dataclass(frozen=True, slots=True)
class Document:
    """A rendered `main.tf.json` and what each resource's body could not resolve."""

    text: str
    unresolved: Mapping[str, tuple[str, ...]]


def render(
    blocks: Sequence[Resource],
    providers_for: Iterable[Resource],
    recorded: Mapping[str, Resource],
) -> Document:
    """Build `main.tf.json`.

    `blocks` become resource blocks; `providers_for` (e.g. resources known only from the
    recorded state, which Terraform treats as orphans) only contribute provider blocks. `recorded`
    resolves references to Terraform resources outside the call.
    """
    in_call = addresses(blocks)
    extra = [a for a in addresses(providers_for).values()]
    required, provider = _providers_block(in_call.values(), extra)
    resources: dict[str, dict[str, Any]] = {}
    unresolved: dict[str, tuple[str, ...]] = {}
    for res in sorted(blocks, key=lambda r: r.id):
        addr = in_call[res.id]
        for arg in _MULTI_INSTANCE_ARGS:
            if arg in res.attributes:
                raise RuntimeFailed(
                    f"{res.id}: '{arg}' is not supported; one Spec resource is one Terraform "
                    "resource instance",
                    failed_ids=[res.id],
                )
        others = {k: v for k, v in in_call.items() if k != res.id}
        rewritten = rewrite_references(res.attributes, others, recorded)
        body = rewritten.body
        if rewritten.unresolved:
            unresolved[res.id] = rewritten.unresolved
        if addr.alias and "provider" not in body:
            body["provider"] = addr.provider_ref
        deps = sorted({others[d].address for d in res.depends_on if d in others})
        explicit = [d for d in body.get("depends_on") or [] if isinstance(d, str)]
        if deps or explicit:
            body["depends_on"] = sorted(set(deps) | set(explicit))
        resources.setdefault(addr.resource_type, {})[addr.name] = body
    doc: dict[str, Any] = {"terraform": {"required_providers": required}}
    if provider:
        doc["provider"] = provider
    if resources:
        doc["resource"] = resources
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    return Document(text=text, unresolved=unresolved)
