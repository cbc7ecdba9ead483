"""Helpers modules share for Kubernetes resources: Kusion IDs, GVK strings, names, wrapping.

IDs follow Kusion's `KubernetesResourceID`: `apiVersion:Kind:namespace:name` for namespaced
objects and `apiVersion:Kind:name` for cluster-scoped ones (no namespace in the metadata).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.core.spec import EXT_GVK, KUBERNETES, Resource

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def kubernetes_id(attributes: Mapping[str, Any]) -> str:
    api_version = str(attributes.get("apiVersion", ""))
    kind = str(attributes.get("kind", ""))
    meta = attributes.get("metadata") or {}
    name = str(meta.get("name", ""))
    namespace = meta.get("namespace")
    if namespace:
        return f"{api_version}:{kind}:{namespace}:{name}"
    return f"{api_version}:{kind}:{name}"


def gvk(api_version: str, kind: str) -> str:
    """Go's `GroupVersionKind.String()`: `apps/v1, Kind=Deployment`, `/v1, Kind=Namespace`."""
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"


def k8s_resource(attributes: dict[str, Any], extensions: Mapping[str, Any] | None = None) -> Resource:
    """Wrap a manifest as a Spec resource with its Kusion ID and GVK extension."""
    ext = {EXT_GVK: gvk(str(attributes.get("apiVersion", "")), str(attributes.get("kind", "")))}
    ext.update(extensions or {})
    return Resource(id=kubernetes_id(attributes), type=KUBERNETES, attributes=attributes, extensions=ext)


def metadata(name: str, namespace: str | None, labels: Mapping[str, str] | None = None,
             annotations: Mapping[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def name_problem(name: str, what: str = "name") -> str | None:
    """Why `name` cannot be a Kubernetes object name (DNS-1123 subdomain), or None."""
    if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        return (
            f"{what} {name!r} is not a valid Kubernetes name: expected at most 253 lowercase "
            "letters, digits, '-' and '.', starting and ending with a letter or digit"
        )
    return None
