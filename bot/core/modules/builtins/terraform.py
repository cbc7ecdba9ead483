"""The `terraform` accessory: raw Terraform resources with their provider (Shipmate's own).

```yaml
accessories:
  seed:
    _type: terraform.Terraform
    provider: {source: hashicorp/null, version: 2.1.2, config: {}}
    resources:
      null_resource:
        seed: {triggers: {color: blue}}
    dependsOn: [v1:Namespace:shop]     # optional: every resource here waits for these
```

Each resource becomes a Spec resource with Kusion's Terraform ID
`<provider namespace>:<provider name>:<type>:<name>` (`hashicorp:null:null_resource:seed`) and
the extensions Kusion's Terraform runtime reads: `provider`
(`registry.terraform.io/hashicorp/null/2.1.2`), `providerMeta` (the provider block) and
`resourceType`. Attributes are passed through; `$kusion_path.<id>.<attribute>` strings in them
refer to other resources' results.
"""

from __future__ import annotations

import re

from bot.core.config.checks import Checker
from bot.core.modules.base import ModuleInputError, ModuleRequest, ModuleResult
from bot.core.spec import EXT_PROVIDER, EXT_PROVIDER_META, EXT_RESOURCE_TYPE, TERRAFORM, Resource

DEFAULT_REGISTRY = "registry.terraform.io"
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")
_PROVIDER_PART = re.compile(r"^[a-z0-9][a-z0-9\-_]*$")
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]+)?$")
_VERSION = re.compile(r"^v?[0-9]+(\.[0-9]+){0,2}([\-+][0-9A-Za-z.\-]+)?$")


def provider_address(source: str) -> tuple[str, str, str] | None:
    """`hashicorp/null` or `host/hashicorp/null` → (host, namespace, name), or None."""
    parts = source.split("/")
    if len(parts) == 2:
        parts = [DEFAULT_REGISTRY, *parts]
    if len(parts) != 3 or not _HOST.match(parts[0]) or not all(_PROVIDER_PART.match(p) for p in parts[1:]):
        return None
    return parts[0], parts[1], parts[2]


def terraform_id(namespace: str, name: str, resource_type: str, resource_name: str) -> str:
    return f"{namespace}:{name}:{resource_type}:{resource_name}"


class TerraformModule:
    name: str = "terraform"
    schemas: tuple[str, ...] = ("Terraform",)

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        c = Checker()
        dev = dict(request.dev_config)
        c.fields(dev, (), ("provider", "resources", "dependsOn"), required=("provider", "resources"))
        provider = c.mapping(dev.get("provider"), ("provider",), optional=False) if "provider" in dev else {}
        if "provider" in dev:
            c.fields(provider, ("provider",), ("source", "version", "config"), required=("source", "version"))
        source = c.get(provider, "source", ("provider",), "string", "")
        version = c.get(provider, "version", ("provider",), "string", "")
        config = c.get(provider, "config", ("provider",), "mapping", {})
        address = provider_address(source) if source else None
        if source and address is None:
            c.add(("provider", "source"), f"expected a provider source such as hashicorp/null, got {source!r}")
        if version and not _VERSION.match(version):
            c.add(("provider", "version"), f"expected an exact provider version such as 2.1.2, got {version!r}")
        depends_on = tuple(c.get(dev, "dependsOn", (), "string-list", []))
        resources = c.mapping(dev.get("resources"), ("resources",), optional=False) if "resources" in dev else {}
        if "resources" in dev and not resources and isinstance(dev.get("resources"), dict):
            c.add(("resources",), "expected at least one resource type")
        out: list[Resource] = []
        for rtype in sorted(resources, key=str):
            tpath = ("resources", rtype)
            if not isinstance(rtype, str) or not _IDENT.match(rtype):
                c.add(tpath, f"expected a Terraform resource type such as null_resource, got {rtype!r}", at_key=True)
                continue
            if address is not None and not (rtype == address[2] or rtype.startswith(address[2] + "_")):
                c.add(tpath, f"resource type {rtype!r} does not belong to provider {address[2]!r} "
                      f"(expected {address[2]}_...)", at_key=True)
                continue
            by_name = c.mapping(resources[rtype], tpath, optional=False)
            if not by_name and isinstance(resources[rtype], dict):
                c.add(tpath, "expected at least one named resource")
            for rname in sorted(by_name, key=str):
                rpath = (*tpath, rname)
                if not isinstance(rname, str) or not _IDENT.match(rname):
                    c.add(rpath, f"expected a Terraform resource name (letters, digits, '_', '-'), got {rname!r}", at_key=True)
                    continue
                attributes = c.mapping(by_name[rname], rpath)
                if address is None or not version:
                    continue
                host, ns, pname = address
                out.append(Resource(
                    id=terraform_id(ns, pname, rtype, rname),
                    type=TERRAFORM,
                    attributes=attributes,
                    depends_on=depends_on,
                    extensions={
                        EXT_PROVIDER: f"{host}/{ns}/{pname}/{version}",
                        EXT_PROVIDER_META: dict(config),
                        EXT_RESOURCE_TYPE: rtype,
                    },
                ))
        if not c.ok:
            raise ModuleInputError(c.problems)
        return ModuleResult(resources=tuple(out))
