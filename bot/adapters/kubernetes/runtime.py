"""The Kubernetes runtime: read, dry-run, apply, delete and readiness through the official client.

One `KubernetesRuntime` talks to one cluster through one `ApiClient` (connection pool sized to
the executor's concurrency) and the client's `DynamicClient`, so any kind the API server
serves, custom resources included, is found by `apiVersion` + `kind` through discovery.
Discovery is cached in a file private to this runtime (the client's default cache file is
keyed by host only and goes stale across servers on the same address) and is invalidated
when a CustomResourceDefinition becomes Established. Every method is thread-safe.

Semantics:

- **IDs** are `apiVersion:Kind[:namespace]:name` and must agree with the manifest. Namespaced
  kinds default to namespace `default`; an ID namespace that differs from `metadata.namespace`
  is rejected (as Kusion does), and so is a namespace on a cluster-scoped kind.
- **read** returns the live object without server-populated fields (`status`,
  `metadata.{resourceVersion, creationTimestamp, selfLink, uid, generation, managedFields}`),
  or None when the object, or its kind, does not exist. A batch holding `LIST_FROM` or more
  objects of one kind in one namespace reads them with one paginated list (`LIST_PAGE` a
  page) instead of one GET each, as controllers read through an informer's cache: a
  10,000-app stack is a few dozen requests instead of 20,000. Where the server refuses the
  list (RBAC may allow get without list), those objects are read one by one.
- **dry_run** is a server-side apply with `dryRun=All`, field manager `shipmate` and
  `force=true`, normalized the same way. When the kind is not served yet (its CRD is in the
  same Spec) or the object's namespace does not exist yet (it is created by the same Spec),
  the result is the planned object itself, which the preview shows as a Create.
- **apply** is the same server-side apply without `dryRun`. `force=true` makes Shipmate the
  owner of every field it declares, as GitOps controllers do; fields it stopped declaring
  are removed by the API server. The State records the planned manifest, as Kusion does
  (masking is the core's job).
- **Three-way removal**: the prior state is the third input, as in Kusion's three-way merge
  patch. A field the prior state holds, the planned object lacks and another field manager
  owns (the object was created by Kusion, `kubectl create` or client-side `kubectl apply`)
  is first moved into Shipmate's Apply set of `metadata.managedFields` (a JSON patch guarded
  by the resourceVersion, as `kubectl apply --server-side` upgrades client-side-applied
  objects; see `ownership`), so the apply removes it. The dry run shows the same: the
  server-side apply's result without those fields, defaulted again by a dry-run update. An
  imported resource whose prior is the live object itself (the preview's stand-in before
  any release recorded it) has no third input, and nothing is taken over.
- **delete** uses `propagationPolicy=Background`: the object disappears at once and the
  garbage collector removes its dependents (ReplicaSets, Pods, Jobs' Pods) afterwards, so a
  destroy does not block on them; an absent object or kind counts as deleted.
- **Custom resources**: a batch applies its CRDs first, waits for them to be Established
  and refreshes discovery; a CR applied on its own whose kind is missing waits for a
  matching CRD on the server to become Established, then retries.
- **wait_ready** follows the per-kind rules of `readiness` with a watch on the one object,
  falling back to polling with exponential backoff when the server cannot watch.
- API errors become `RuntimeFailed` naming the resource ID, the verb and the API server's
  own message (including the causes of a 422 Invalid).
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from kubernetes.client import ApiClient, Configuration
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import (
    DynamicApiError,
    NotFoundError,
    ResourceNotFoundError,
    ResourceNotUniqueError,
)
from kubernetes.dynamic.resource import Resource as ApiResource
from kubernetes.watch.watch import iter_resp_lines

from bot.adapters.kubernetes import kubeconfig, ownership, readiness
from bot.core import fieldowners
from bot.core.errors import RuntimeFailed
from bot.core.fieldowners import FieldOwner
from bot.core.runtimes import waiting_for
from bot.core.spec import EXT_IMPORT_ID, KUBERNETES, Resource, State
from bot.settings import KubernetesOptions

JSON = dict[str, Any]
T = TypeVar("T")
log = logging.getLogger(__name__)

FIELD_MANAGER = "shipmate"
PROPAGATION_POLICY = "Background"
CRD_API_VERSION = "apiextensions.k8s.io/v1"
CRD_KIND = "CustomResourceDefinition"
SERVER_METADATA = (
    "resourceVersion", "creationTimestamp", "selfLink", "uid", "generation", "managedFields",
)
DEFAULT_CONCURRENCY = 10
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_CRD_TIMEOUT = 60.0
TAKEOVER_ATTEMPTS = 3
POLL_MIN = 0.05
POLL_MAX = 1.0


# A batch with this many objects of one kind in one namespace reads them with a list.
LIST_FROM = 50
LIST_PAGE = 500


def _raw(_client: Any, data: Any) -> Any:
    """A DynamicClient serializer that keeps the decoded JSON as plain dicts."""
    return data


def normalize(obj: Mapping[str, Any]) -> JSON:
    """A copy of a Kubernetes object without the fields the API server populates."""
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_METADATA:
            meta.pop(key, None)
    return out


@dataclass(frozen=True, slots=True)
class ObjectId:
    """A Kubernetes resource ID split into its parts."""

    id: str
    api_version: str
    kind: str
    namespace: str | None
    name: str

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @classmethod
    def parse(cls, resource: Resource, *, strict: bool = True) -> ObjectId:
        """Split the ID and check it against the manifest's apiVersion, kind and name.

        `strict=False` (deleting what a State recorded) only checks the fields the manifest has.
        """
        rid = resource.id
        parts = rid.split(":")
        if len(parts) == 3:
            api_version, kind, name = parts
            namespace: str | None = None
        elif len(parts) == 4:
            api_version, kind, namespace, name = parts
        else:
            raise RuntimeFailed(
                f"{rid}: not a Kubernetes resource ID (apiVersion:Kind[:namespace]:name)"
            )
        attrs = resource.attributes
        meta = attrs.get("metadata") if isinstance(attrs.get("metadata"), Mapping) else {}
        for field, want, got in (
            ("apiVersion", api_version, attrs.get("apiVersion")),
            ("kind", kind, attrs.get("kind")),
            ("metadata.name", name, (meta or {}).get("name")),
        ):
            if got != want and (strict or got is not None):
                raise RuntimeFailed(f"{rid}: the ID says {field} {want!r}, the manifest {got!r}")
        return cls(rid, api_version, kind, namespace or None, name)


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one object lives on the server and the body to send for it."""

    oid: ObjectId
    api: ApiResource | None
    namespace: str | None
    body: JSON


class BatchFailed(RuntimeFailed):
    """Some resources of a batch failed: `failures` by ID; `partial` holds what finished.

    `partial` maps ID → the Resource to record (apply) or None (a finished delete), as
    `RuntimeFailed.partial` promises the executor.
    """

    def __init__(self, failures: Mapping[str, RuntimeFailed], done: Mapping[str, Any]) -> None:
        self.failures = dict(failures)
        partial = dict(done)
        failed_ids: set[str] = set()
        for exc in failures.values():
            partial.update(exc.partial)
            failed_ids.update(exc.failed_ids)
        super().__init__(
            "\n".join(str(failures[k]) for k in sorted(failures)),
            partial=partial, failed_ids=failed_ids,
        )


def _api_message(exc: DynamicApiError) -> tuple[str, Mapping[str, Any]]:
    """The API server's `Status.message` (plus causes it does not already mention)."""
    body: Any = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        status = json.loads(body) if body else {}
    except (TypeError, ValueError):
        status = {}
    if not isinstance(status, Mapping):
        status = {}
    message = str(status.get("message") or (body if isinstance(body, str) and body else exc.reason))
    details = status.get("details") if isinstance(status.get("details"), Mapping) else {}
    extra = []
    for cause in (details or {}).get("causes") or ():
        if not isinstance(cause, Mapping):
            continue
        text = str(cause.get("message") or "")
        field = str(cause.get("field") or "")
        if text and text not in message:
            extra.append(f"{field}: {text}" if field else text)
    if extra:
        message = f"{message} ({'; '.join(extra)})"
    return message, details or {}


class KubernetesRuntime:
    """`Runtime` for resources of type Kubernetes (see the module docstring for semantics)."""

    def __init__(
        self,
        configuration: Configuration,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        field_manager: str = FIELD_MANAGER,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        crd_timeout: float = DEFAULT_CRD_TIMEOUT,
        scratch_dir: Path | None = None,
        source: str = "",
    ) -> None:
        self.concurrency = max(1, concurrency)
        self.field_manager = field_manager
        self.request_timeout = request_timeout
        self.crd_timeout = crd_timeout
        self.source = source or configuration.host
        # Appliers plus as many readiness watches at once.
        configuration.connection_pool_maxsize = 2 * self.concurrency + 2
        self._configuration = configuration
        self._owns_scratch = scratch_dir is None
        self._scratch = Path(scratch_dir) if scratch_dir else Path(
            tempfile.mkdtemp(prefix="shipmate-kube-")
        )
        self._scratch.mkdir(parents=True, exist_ok=True)
        self._api_client = ApiClient(configuration)
        self._lock = threading.RLock()
        self._dynamic: DynamicClient | None = None
        self._kinds: dict[tuple[str, str], ApiResource] = {}

    # --- construction ------------------------------------------------------------------

    @classmethod
    def from_context(
        cls,
        context: Mapping[str, Any],
        options: KubernetesOptions | None = None,
        *,
        base_dir: Path | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        crd_timeout: float = DEFAULT_CRD_TIMEOUT,
        scratch_dir: Path | None = None,
    ) -> KubernetesRuntime:
        """Build a runtime from a workspace `context` and Shipmate's Kubernetes settings
        (`KUBECONFIG`, in-cluster, home; none by default). See `kubeconfig` for the
        resolution order. `scratch_dir` holds the discovery cache
        and any certificate files from the kubeconfig; by default a private temporary
        directory, removed by `close()`.
        """
        owned = scratch_dir is None
        scratch = Path(tempfile.mkdtemp(prefix="shipmate-kube-")) if scratch_dir is None else scratch_dir
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            configuration, source = kubeconfig.load(
                context, options or KubernetesOptions(), base_dir=base_dir, temp_dir=scratch
            )
        except BaseException:
            if owned:
                shutil.rmtree(scratch, ignore_errors=True)
            raise
        runtime = cls(
            configuration,
            concurrency=concurrency,
            request_timeout=request_timeout,
            crd_timeout=crd_timeout,
            scratch_dir=scratch,
            source=str(source),
        )
        runtime._owns_scratch = owned
        return runtime

    @property
    def scratch_dir(self) -> Path:
        """Where the discovery cache (and kubeconfig certificate files) live."""
        return self._scratch

    @property
    def host(self) -> str:
        return str(self._configuration.host)

    def close(self) -> None:
        """Close the connection pool and remove the private scratch directory."""
        self._api_client.close()
        if self._owns_scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> KubernetesRuntime:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- the Runtime protocol ----------------------------------------------------------

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        """Live objects by ID (normalized); None where the object or its kind does not exist."""
        listed = self._read_listed(resources)
        done, failures = self._run([r for r in resources if r.id not in listed], self._read_one)
        done.update(listed)
        _raise(failures, done)
        return done

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        """Server-side apply with `dryRun=All`; the planned object where the server cannot tell yet."""
        by_id = prior.by_id()
        return self._batch(planned, lambda r: self._dry_run_one(r, _third_input(by_id.get(r.id), r)))

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        """Server-side apply; CRDs first (waited for), then everything else in parallel."""
        crds = [r for r in planned if _is_crd(r)]
        others = [r for r in planned if not _is_crd(r)]
        by_id = prior.by_id()
        done, failures = self._run(crds, lambda r: self._apply_crd(r, _third_input(by_id.get(r.id), r)))
        _raise(failures, done)
        if crds:
            self.invalidate_discovery()
        more, failures = self._run(others, lambda r: self._apply_one(r, _third_input(by_id.get(r.id), r)))
        done.update(more)
        _raise(failures, done)
        return done

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        """Delete (Background propagation): plain objects, then CRDs, then Namespaces."""

        def rank(r: Resource) -> int:
            kind = r.attributes.get("kind")
            return 2 if kind == "Namespace" else 1 if _is_crd(r) else 0

        done: dict[str, None] = {}
        for level in (0, 1, 2):
            deleted, failures = self._run(
                [r for r in resources if rank(r) == level], self._delete_one
            )
            done.update(deleted)
            _raise(failures, done)

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        """Block until the kind's readiness rule holds; RuntimeFailed on failure or timeout."""
        oid = ObjectId.parse(resource)
        rule = readiness.rule_for(oid.api_version, oid.kind)
        if rule is None:
            return
        target = self._target(resource, oid)
        if target.api is None:
            raise RuntimeFailed(
                f"{oid.id}: the API server has no kind {oid.kind} in {oid.api_version}"
            )
        self._wait(oid, target.api, target.namespace, rule, timeout_seconds)

    # --- discovery -----------------------------------------------------------------------

    def _discovery(self) -> DynamicClient:
        with self._lock:
            if self._dynamic is None:
                try:
                    self._dynamic = DynamicClient(
                        self._api_client, cache_file=str(self._scratch / "discovery.json")
                    )
                except DynamicApiError as exc:
                    message, _ = _api_message(exc)
                    raise RuntimeFailed(
                        f"Kubernetes API discovery at {self.host} failed: {message}"
                    ) from None
                except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                    raise RuntimeFailed(
                        f"cannot reach the Kubernetes API server at {self.host}: {exc}"
                    ) from None
            return self._dynamic

    def invalidate_discovery(self) -> None:
        """Forget every discovered kind (after CRDs changed)."""
        with self._lock:
            self._kinds.clear()
            if self._dynamic is not None:
                try:
                    self._dynamic.resources.invalidate_cache()
                except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
                    raise RuntimeFailed(
                        f"Kubernetes API discovery at {self.host} failed: {exc}"
                    ) from None

    def _kind(self, api_version: str, kind: str) -> ApiResource | None:
        """The API resource serving this apiVersion and kind, or None if the server has none."""
        key = (api_version, kind)
        with self._lock:
            cached = self._kinds.get(key)
            if cached is not None:
                return cached
            dynamic = self._discovery()
            prefix = "apis" if "/" in api_version else "api"
            try:
                found: ApiResource = dynamic.resources.get(
                    prefix=prefix, api_version=api_version, kind=kind
                )
            except ResourceNotFoundError:
                return None
            except ResourceNotUniqueError as exc:
                raise RuntimeFailed(f"{api_version} {kind} is ambiguous: {exc}") from None
            except DynamicApiError as exc:
                message, _ = _api_message(exc)
                raise RuntimeFailed(f"discovery of {api_version} {kind} failed: {message}") from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise RuntimeFailed(
                    f"cannot reach the Kubernetes API server at {self.host}: {exc}"
                ) from None
            self._kinds[key] = found
            return found

    def _target(self, resource: Resource, oid: ObjectId) -> _Target:
        """Resolve the kind and namespace; reject IDs that disagree with the manifest."""
        api = self._kind(oid.api_version, oid.kind)
        body = copy.deepcopy(dict(resource.attributes))
        if not isinstance(body.get("metadata"), dict):
            body["metadata"] = {}
        meta = body["metadata"]
        meta_ns = meta.get("namespace") or None
        if api is None:
            namespace = oid.namespace or meta_ns
            if namespace and not meta_ns:
                meta["namespace"] = namespace
            return _Target(oid, None, namespace, body)
        if api.namespaced:
            namespace = oid.namespace or "default"
            if meta_ns is not None and meta_ns != namespace:
                said = oid.namespace or "none, so 'default'"
                raise RuntimeFailed(
                    f"{oid.id}: the ID's namespace ({said}) does not match "
                    f"metadata.namespace {meta_ns!r}"
                )
            meta["namespace"] = namespace
            return _Target(oid, api, namespace, body)
        if oid.namespace or meta_ns:
            raise RuntimeFailed(
                f"{oid.id}: {oid.kind} is cluster-scoped, but the "
                + ("ID names a namespace" if oid.namespace else f"manifest names namespace {meta_ns!r}")
            )
        return _Target(oid, api, None, body)

    # --- per-resource operations ---------------------------------------------------------

    def _failed(self, oid: ObjectId, verb: str, exc: Exception) -> RuntimeFailed:
        if isinstance(exc, DynamicApiError):
            message, _ = _api_message(exc)
            return RuntimeFailed(
                f"{oid.id}: {verb} rejected by the API server ({exc.status} {exc.reason}): {message}"
            )
        return RuntimeFailed(
            f"{oid.id}: {verb} failed: cannot reach the Kubernetes API server at {self.host}: {exc}"
        )

    def _get(self, oid: ObjectId, api: ApiResource, namespace: str | None) -> JSON | None:
        try:
            obj = self._discovery().get(
                api, name=oid.name, namespace=namespace,
                serializer=_raw, _request_timeout=self.request_timeout,
            )
        except NotFoundError:
            return None
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failed(oid, "read", exc) from None
        return dict(obj)

    def _ssa(self, target: _Target, *, dry_run: bool) -> JSON:
        assert target.api is not None
        kwargs: dict[str, Any] = {}
        if dry_run:
            kwargs["dry_run"] = "All"
        result = self._discovery().server_side_apply(
            target.api, body=target.body, name=target.oid.name, namespace=target.namespace,
            field_manager=self.field_manager, force_conflicts=True,
            serializer=_raw, _request_timeout=self.request_timeout, **kwargs,
        )
        return dict(result)

    def _read_listed(self, resources: Sequence[Resource]) -> dict[str, JSON | None]:
        """The live objects of the kinds and namespaces `resources` hold `LIST_FROM` or more
        of, by ID, read with lists; the others (and any whose list failed, or whose ID the
        single read would refuse) are left to `_read_one`."""
        groups: dict[tuple[str, str, str | None], list[ObjectId]] = {}
        for resource in resources:
            try:
                oid = ObjectId.parse(resource)
            except RuntimeFailed:
                continue
            meta = resource.attributes.get("metadata")
            meta_ns = (meta.get("namespace") or None) if isinstance(meta, Mapping) else None
            if meta_ns is not None and meta_ns != (oid.namespace or "default"):
                continue
            # A namespace in the manifest alone groups apart: on a cluster-scoped kind it is refused.
            key = (oid.api_version, oid.kind, oid.namespace or (meta_ns and f"\0{meta_ns}"))
            groups.setdefault(key, []).append(oid)
        out: dict[str, JSON | None] = {}
        for (api_version, kind, namespace), oids in groups.items():
            if len(oids) < LIST_FROM or (namespace or "").startswith("\0"):
                continue
            try:
                api = self._kind(api_version, kind)
            except RuntimeFailed:
                continue
            if api is None or (not api.namespaced and namespace):
                continue
            items = self._list(api, (namespace or "default") if api.namespaced else None)
            if items is None:
                continue
            for oid in oids:
                live = items.get(oid.name)
                out[oid.id] = None if live is None else normalize({"apiVersion": api_version, "kind": kind, **live})
        return out

    def _list(self, api: ApiResource, namespace: str | None) -> dict[str, Mapping[str, Any]] | None:
        """Every object of `api` in `namespace` by name, page by page; None when the server
        refuses or fails the list."""
        items: dict[str, Mapping[str, Any]] = {}
        token: str | None = None
        while True:
            try:
                page = self._discovery().get(
                    api, namespace=namespace, limit=LIST_PAGE, _continue=token,
                    serializer=_raw, _request_timeout=self.request_timeout,
                )
            except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
                log.info("listing %s in %s failed (%s): reading one by one", api.kind, namespace, exc)
                return None
            for item in page.get("items") or ():
                name = (item.get("metadata") or {}).get("name")
                if isinstance(name, str):
                    items[name] = item
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return items

    def field_managers(self, resources: Sequence[Resource]) -> Mapping[str, tuple[FieldOwner, ...]]:
        """Who set each field of the live objects (`metadata.managedFields`), by resource ID."""
        def owners(resource: Resource) -> tuple[FieldOwner, ...]:
            oid = ObjectId.parse(resource)
            target = self._target(resource, oid)
            live = self._get(oid, target.api, target.namespace) if target.api is not None else None
            return fieldowners.parse((live or {}).get("metadata", {}).get("managedFields") or ())

        done, failures = self._run(list(resources), owners)
        _raise(failures, done)
        return done

    def _read_one(self, resource: Resource) -> JSON | None:
        oid = ObjectId.parse(resource)
        target = self._target(resource, oid)
        if target.api is None:
            return None
        live = self._get(oid, target.api, target.namespace)
        return None if live is None else normalize(live)

    def _takeover(self, target: _Target, prior: Resource | None) -> tuple[JSON, ownership.Takeover] | None:
        """The live object and the fields to take over from other managers, if any."""
        if prior is None or target.api is None or dict(prior.attributes) == target.body:
            return None
        live = self._get(target.oid, target.api, target.namespace)
        if live is None or (
            prior.extensions.get(EXT_IMPORT_ID) and normalize(live) == dict(prior.attributes)
        ):
            return None  # an imported resource's prior taken from live: no third input
        meta = live.get("metadata") or {}
        found = ownership.takeover(
            meta.get("managedFields"), prior.attributes, target.body,
            manager=self.field_manager, api_version=str(target.body.get("apiVersion") or ""),
            now=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        return None if found is None else (live, found)

    def _take_over(self, target: _Target, prior: Resource | None) -> None:
        """Move the fields to take over into Shipmate's Apply set; the patch is refused when
        the object changed since it was read (a controller wrote its status), so read again."""
        assert target.api is not None
        for attempt in range(TAKEOVER_ATTEMPTS):
            taking = self._takeover(target, prior)
            if taking is None:
                return
            live, taken = taking
            try:
                self._discovery().patch(
                    target.api, name=target.oid.name, namespace=target.namespace,
                    body=[
                        {"op": "test", "path": "/metadata/resourceVersion",
                         "value": (live.get("metadata") or {}).get("resourceVersion")},
                        {"op": "replace", "path": "/metadata/managedFields",
                         "value": taken.managed_fields},
                    ],
                    content_type="application/json-patch+json", field_manager=self.field_manager,
                    serializer=_raw, _request_timeout=self.request_timeout,
                )
                return
            except DynamicApiError as exc:
                if exc.status not in (409, 422) or attempt == TAKEOVER_ATTEMPTS - 1:
                    raise

    def _dry_run_one(self, resource: Resource, prior: Resource | None = None) -> JSON:
        oid = ObjectId.parse(resource)
        target = self._target(resource, oid)
        if target.api is None:
            return normalize(target.body)
        try:
            result = self._ssa(target, dry_run=True)
            taking = self._takeover(target, prior)
            if taking is not None:
                live, taken = taking
                left = ownership.without(result, taken.paths)
                left.setdefault("metadata", {}).pop("managedFields", None)
                left["metadata"]["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
                result = dict(self._discovery().replace(
                    target.api, body=left, name=oid.name, namespace=target.namespace,
                    dry_run="All", field_manager=self.field_manager,
                    serializer=_raw, _request_timeout=self.request_timeout,
                ))
            return normalize(result)
        except NotFoundError as exc:
            _, details = _api_message(exc)
            if details.get("kind") == "namespaces":
                return normalize(target.body)
            raise self._failed(oid, "dry-run", exc) from None
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failed(oid, "dry-run", exc) from None

    def _apply_one(self, resource: Resource, prior: Resource | None = None) -> Resource:
        oid = ObjectId.parse(resource)
        target = self._target(resource, oid)
        if target.api is None:
            self._await_crd_for(oid)
            target = self._target(resource, oid)
            if target.api is None:
                raise RuntimeFailed(
                    f"{oid.id}: the API server still serves no {oid.kind} in {oid.api_version} "
                    "after its CustomResourceDefinition was established"
                )
        try:
            self._take_over(target, prior)
            self._ssa(target, dry_run=False)
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failed(oid, "apply", exc) from None
        return Resource(
            id=resource.id,
            type=resource.type or KUBERNETES,
            attributes=copy.deepcopy(dict(resource.attributes)),
            depends_on=resource.depends_on,
            extensions=copy.deepcopy(dict(resource.extensions)),
        )

    def _apply_crd(self, resource: Resource, prior: Resource | None = None) -> Resource:
        """Apply a CRD and wait until it is Established (it exists even if that never happens)."""
        applied = self._apply_one(resource, prior)
        oid = ObjectId.parse(resource)
        api = self._kind(oid.api_version, oid.kind)
        assert api is not None
        try:
            self._wait(oid, api, None, readiness.crd, self.crd_timeout)
        except RuntimeFailed as exc:
            raise RuntimeFailed(
                str(exc), partial={oid.id: applied}, failed_ids={oid.id}
            ) from None
        return applied

    def _delete_one(self, resource: Resource) -> None:
        oid = ObjectId.parse(resource, strict=False)
        target = self._target(resource, oid)
        if target.api is None:
            return
        try:
            self._discovery().delete(
                target.api, name=oid.name, namespace=target.namespace,
                body={"apiVersion": "v1", "kind": "DeleteOptions",
                      "propagationPolicy": PROPAGATION_POLICY},
                serializer=_raw, _request_timeout=self.request_timeout,
            )
        except NotFoundError:
            return
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failed(oid, "delete", exc) from None

    # --- custom resource definitions -------------------------------------------------------

    def _await_crd_for(self, oid: ObjectId) -> None:
        """Wait for the CRD serving `oid`'s kind to be Established, then refresh discovery."""
        missing = RuntimeFailed(
            f"{oid.id}: the API server has no kind {oid.kind} in {oid.api_version} "
            "(apply its CustomResourceDefinition first)"
        )
        if not oid.group:
            raise missing
        crd_api = self._kind(CRD_API_VERSION, CRD_KIND)
        if crd_api is None:
            raise missing
        version = oid.api_version.rpartition("/")[2]
        crd_oid = ObjectId(CRD_KIND, CRD_API_VERSION, CRD_KIND, None, "")
        try:
            listing = self._discovery().get(
                crd_api, serializer=_raw, _request_timeout=self.request_timeout
            )
        except (DynamicApiError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise self._failed(crd_oid, "list", exc) from None
        for item in listing.get("items") or ():
            spec = item.get("spec") or {}
            versions = {v.get("name") for v in spec.get("versions") or () if v.get("served", True)}
            if (spec.get("group") == oid.group
                    and (spec.get("names") or {}).get("kind") == oid.kind
                    and version in versions):
                name = item["metadata"]["name"]
                crd_oid = ObjectId(
                    f"{CRD_API_VERSION}:{CRD_KIND}:{name}", CRD_API_VERSION, CRD_KIND, None, name
                )
                self._wait(crd_oid, crd_api, None, readiness.crd, self.crd_timeout)
                self.invalidate_discovery()
                return
        raise missing

    # --- readiness -------------------------------------------------------------------------

    def _wait(
        self,
        oid: ObjectId,
        api: ApiResource,
        namespace: str | None,
        rule: readiness.Rule,
        timeout_seconds: float,
    ) -> None:
        deadline = time.monotonic() + max(0.0, timeout_seconds)
        can_watch = True
        backoff = POLL_MIN
        last: JSON | None = None

        told = ""

        def check(obj: JSON | None) -> bool:
            nonlocal last, told
            last = obj
            verdict = readiness.Verdict(False, "object not found") if obj is None else rule(obj)
            if verdict.failed:
                raise RuntimeFailed(f"{oid.id}: not ready: {verdict.failed}")
            if not verdict.ready and verdict.waiting_for != told:
                told = verdict.waiting_for
                waiting_for(told)  # shown beside the resource while the apply waits
            return verdict.ready

        while True:
            obj = self._get(oid, api, namespace)
            if check(obj):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            if can_watch:
                started = time.monotonic()
                try:
                    rv = str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")
                    events = 0
                    for kind, event_obj in self._watch(oid, api, namespace, rv, remaining):
                        events += 1
                        if kind == "DELETED":
                            check(None)
                        elif kind in ("ADDED", "MODIFIED") and check(event_obj):
                            return
                        if time.monotonic() >= deadline:
                            break
                    if events == 0 and time.monotonic() - started < min(remaining, 1.0) / 2:
                        log.debug("%s: the watch ended at once; polling instead", oid.id)
                        can_watch = False
                except (_WatchExpired, urllib3.exceptions.ReadTimeoutError):
                    continue  # list again (and give up once the deadline passed)
                except (DynamicApiError, urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                    log.debug("%s: cannot watch (%s); polling instead", oid.id, exc)
                    can_watch = False
                continue
            time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, POLL_MAX)

        waiting = readiness.Verdict(False, "object not found") if last is None else rule(last)
        raise RuntimeFailed(
            f"{oid.id}: not ready after {timeout_seconds:g}s ({waiting.waiting_for}); "
            f"last status: {readiness.status_summary(last)}"
        )

    def _watch(
        self, oid: ObjectId, api: ApiResource, namespace: str | None, resource_version: str,
        remaining: float,
    ) -> Iterator[tuple[str, JSON | None]]:
        """Events for one object until the server ends the watch (at most `remaining` s)."""
        seconds = max(1, int(remaining + 0.999))
        params: dict[str, Any] = {
            "watch": True,
            "field_selector": f"metadata.name={oid.name}",
            "timeout_seconds": seconds,
            "serialize": False,
            # The server ends the watch after whole seconds; stop reading at the deadline.
            "_request_timeout": (self.request_timeout, remaining + 0.05),
        }
        if resource_version:
            params["resource_version"] = resource_version
        resp = self._discovery().request("get", api.path(namespace=namespace), **params)
        try:
            for line in iter_resp_lines(resp):
                if not line.strip():
                    continue
                event = json.loads(line)
                kind = str(event.get("type"))
                obj = event.get("object")
                if kind == "ERROR":
                    code = obj.get("code") if isinstance(obj, Mapping) else None
                    if code == 410:
                        raise _WatchExpired
                    raise ValueError(f"watch error: {obj}")
                if kind == "BOOKMARK":
                    continue
                yield kind, obj if isinstance(obj, dict) else None
        finally:
            resp.close()
            resp.release_conn()

    # --- batches ---------------------------------------------------------------------------

    def _batch(self, resources: Sequence[Resource], one: Callable[[Resource], T]) -> dict[str, T]:
        """Run `one` for every resource (in parallel up to the concurrency), keyed by ID."""
        done, failures = self._run(resources, one)
        _raise(failures, done)
        return done

    def _run(
        self, resources: Sequence[Resource], one: Callable[[Resource], T]
    ) -> tuple[dict[str, T], dict[str, RuntimeFailed]]:
        done: dict[str, T] = {}
        failures: dict[str, RuntimeFailed] = {}
        if len(resources) <= 1:
            for r in resources:
                try:
                    done[r.id] = one(r)
                except RuntimeFailed as exc:
                    failures[r.id] = exc
            return done, failures
        workers = min(self.concurrency, len(resources))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube") as pool:
            futures = {r.id: pool.submit(one, r) for r in resources}
            for rid, future in futures.items():
                try:
                    done[rid] = future.result()
                except RuntimeFailed as exc:
                    failures[rid] = exc
        return done, failures


def _raise(failures: Mapping[str, RuntimeFailed], done: Mapping[str, Any]) -> None:
    """Re-raise a lone failure as is; several (or some next to successes) as BatchFailed."""
    if not failures:
        return
    if len(failures) == 1 and not done:
        raise next(iter(failures.values()))
    raise BatchFailed(failures, done)


class _WatchExpired(Exception):
    """The watch's resourceVersion is too old (410 Gone): list again and re-watch."""


def _third_input(prior: Resource | None, planned: Resource) -> Resource | None:
    """The prior state's entry, or None when it is the plan itself (nothing was dropped, so
    the live object need not be read for a takeover)."""
    return None if prior is None or prior.attributes == planned.attributes else prior


def _is_crd(resource: Resource) -> bool:
    attrs = resource.attributes
    return attrs.get("kind") == CRD_KIND and str(attrs.get("apiVersion", "")).startswith(
        "apiextensions.k8s.io/"
    )
