"""Generate: a stack's config (AppConfigurations + workspace + modules) → a Spec, as Kusion does.

For each app, in sorted name order (Kusion's `appConfigurationGenerator.Generate`):

1. the project's merged module configs and `importedResources` come from the workspace;
2. the workload's `secrets` become Kubernetes Secrets;
3. the workload module, then each accessory's module (by accessory name — Kusion iterates a
   Go map here, so its order varies), are called; a lone resource from the workload module is
   the workload, otherwise the one flagged `kusion.io/is-workload`; a module's `healthPolicy`
   platform config goes to the workload's (and matching accessory resources') extensions;
4. the Namespace `v1:Namespace:<ns>` is added before the app's resources unless present:
   for every app whose resources are all Kubernetes or Terraform ones, Terraform-only apps
   included, as Kusion does (`pkg/generators/namespace`); with
   `generate.terraformOnlyNamespace: false` only for apps with Kubernetes resources (then a
   Terraform-only stack needs no cluster). An app holding resources of another runtime (which
   Kusion has not) gets one only when it has Kubernetes resources;
5. with `generate.appMetadata: apply`, the app's `labels`/`annotations` are merged into the
   metadata of its modules' Kubernetes resources (Kusion reads them nowhere); the modules'
   patchers are applied (workload first, then JSON patches by ID);
6. imported resources get `kusionstack.io/import-id` and empty attributes.

Namespaces: `<ns>` is the stack's `kubernetesNamespace` extension, else the project's, else the
project name; the Namespace and the workload's Secrets are in it. Modules are asked for the
project-named namespace, as Kusion's catalog modules use `request.Project`
(catalog `modules/service/src/service.go`, `network.go`, `job.go`), unless `shipmate.yaml` says
`generate.namespace: extension`, which gives them `<ns>` too.

Then, over the whole Spec: each Kubernetes resource depends on every resource of a kind that
comes earlier in Kusion's kind order (a kind not in the list after all listed ones), and every
resource on each resource its attributes reference with `$kusion_path.<id>.<attr>`. References
are written into `dependsOn` after the explicit entries, without repeats; the kind order is
said once, as the Spec's `kindOrder` (`Spec.kind_order`), which the graph reads in linear form
(`graph.resource_edges`): Kusion writes every such edge into `dependsOn`, quadratic in the
stack (1,000 apps: a million entries, a 49 MB Spec stored again by every Release). The
partial order is the same; `kusion_exact=True` (`shipmate generate --kusion-exact`) writes
Kusion's literal lists instead (explicit entries, then every earlier kind's resources in kind
order and Spec order, then references) and no `kindOrder`. Finally the Spec is validated: duplicate
IDs, IDs that do not match their attributes, unknown dependencies or references, and cycles
are all reported at the place in the config that produced the resource.

The same input always gives the same Spec; `render_spec` gives its deterministic text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.config.appconfig import AppConfiguration, Block
from bot.core.config.checks import Checker, suggest
from bot.core.config.project import resolve_namespace
from bot.core.config.repo import StackConfig, load_stack
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.errors import ConfigError, PlanError, Problem
from bot.core.graph import (
    CycleError,
    find_cycle,
    parse_reference,
    reference_strings,
    resource_edges,
)
from bot.core.modules.base import ModuleInputError, ModuleRequest, Patcher
from bot.core.modules.kube import DNS_LABEL, k8s_resource
from bot.core.modules.patching import apply_json_patcher, patch_workload
from bot.core.modules.registry import ModuleRegistry, builtin_registry
from bot.core.modules.secrets import generate_secrets
from bot.core.spec import (
    EXT_HEALTH_POLICY,
    EXT_IMPORT_ID,
    EXT_IS_WORKLOAD,
    EXT_PROVIDER,
    EXT_RESOURCE_TYPE,
    KUBERNETES,
    TERRAFORM,
    Resource,
    Spec,
    kind_ranks,
)
from bot.core.yamlio import Document, FieldPath, canonical, dump_json, dump_yaml

# Kusion's DefaultOrderedKinds (kusion-module-framework pkg/module/generator/ordered_resources.go).
KIND_ORDER: tuple[str, ...] = (
    "Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition",
    "ServiceAccount", "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
    "ConfigMap", "Secret", "Endpoints", "Service",
    "LimitRange", "PriorityClass", "PersistentVolume", "PersistentVolumeClaim",
    "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where in the config a resource came from, for error messages."""

    document: Document | None
    path: FieldPath
    file: str = ""

    def problem(self, message: str, sub: FieldPath = ()) -> Problem:
        if self.document is None:
            return Problem(self.file, 0, 0, "", message)
        return self.document.problem((*self.path, *sub), message)


def generate_stack(
    snapshot: ConfigSnapshot,
    stack_path: str,
    registry: ModuleRegistry | None = None,
    secret_salt: str = "",
    *,
    kusion_exact: bool = False,
) -> Spec:
    """Load the stack at `stack_path` from `snapshot` and generate its Spec."""
    return generate(load_stack(snapshot, stack_path), registry, secret_salt, kusion_exact=kusion_exact)


def generate(
    config: StackConfig,
    registry: ModuleRegistry | None = None,
    secret_salt: str = "",
    *,
    kusion_exact: bool = False,
) -> Spec:
    """The Spec of a parsed stack. Raises ConfigError listing every problem found.
    `kusion_exact`: Kusion's literal `dependsOn` lists instead of `kindOrder` (see above)."""
    return _Generator(config, registry or builtin_registry(), secret_salt, kusion_exact).run()


class _Generator:
    def __init__(self, config: StackConfig, registry: ModuleRegistry, salt: str, kusion_exact: bool = False) -> None:
        self.config = config
        self.registry = registry
        self.salt = salt
        self.kusion_exact = kusion_exact
        self.problems: list[Problem] = []
        self.resources: dict[str, Resource] = {}
        self.origins: dict[str, Origin] = {}
        self.main = config.apps.document
        self.ws = config.workspace

    # --- the whole stack ------------------------------------------------------------------

    def run(self) -> Spec:
        config = self.config
        project = config.project.name
        self.module_configs = self.ws.module_configs(project)
        imported = self.ws.imported_resources(project)
        self.namespace = resolve_namespace(config.project, config.stack)
        self.options = config.settings.generate
        self.module_namespace = project if self.options.namespace == "kusion" else self.namespace
        self._check_namespace()
        for app in config.apps.apps:
            self._app(app)
            self._mark_imported(imported)
        if self.problems:
            raise ConfigError(self.problems)
        ordered = self._dependencies()
        self._validate(ordered)
        if self.problems:
            raise ConfigError(self.problems)
        return Spec(
            resources=tuple(ordered),
            secret_store=canonical(self.ws.secret_store) if self.ws.secret_store is not None else None,
            context=canonical(self.ws.context),
            kind_order=() if self.kusion_exact else KIND_ORDER,
        )

    def _check_namespace(self) -> None:
        ns = self.namespace
        if _valid_namespace(ns):
            return
        doc = self.config.project.document
        where = Origin(doc, ("name",), self.config.project.path)
        self.problems.append(where.problem(
            f"namespace {ns!r} (from the project name) is not a valid Kubernetes namespace: expected "
            "lowercase letters, digits and '-'; set a kubernetesNamespace extension"
        ))

    def _add(self, resource: Resource, origin: Origin) -> None:
        if resource.id in self.resources:
            first = self.origins[resource.id]
            where = f"{first.document.file}:{first.document.locate(first.path)[0]}" if first.document else first.file
            self.problems.append(origin.problem(f"duplicate resource ID {resource.id} (also generated at {where})"))
            return
        self.resources[resource.id] = resource
        self.origins[resource.id] = origin

    # --- one app --------------------------------------------------------------------------

    def _app(self, app: AppConfiguration) -> None:
        generated: list[tuple[Resource, Origin]] = []
        secrets: list[tuple[Resource, Origin]] = []
        workload: Resource | None = None
        workload_origin: Origin | None = None
        patchers: list[Patcher] = []
        if app.workload is not None:
            c = Checker()
            for res in generate_secrets(
                c,
                app.workload.config.get("secrets"),
                project=self.config.project.name,
                stack=self.config.stack.name,
                app=app.name,
                namespace=self.namespace,
                secret_store=self.ws.secret_store,
                salt=self.salt,
            ):
                secrets.append((res, Origin(self.main, (*app.workload.path, "secrets", res.attributes["metadata"]["name"]))))
            self.problems.extend(c.located(self.main, app.workload.path))
        workload_config = dict(app.workload.config) if app.workload else None
        for block in app.blocks():
            result = self._call(app, block, workload_config)
            if result is None:
                continue
            resources, patcher = result
            origin = Origin(self.main, block.path)
            health = self.module_configs.get(block.module, {}).get("healthPolicy")
            if block is app.workload:
                if len(resources) == 1:
                    workload = _with_ext(resources[0], {EXT_IS_WORKLOAD: True})
                    resources = []
                else:
                    flagged = [r for r in resources if r.extensions.get(EXT_IS_WORKLOAD) in (True, "true")]
                    if flagged:
                        workload = flagged[0]
                        resources = [r for r in resources if r is not workload]
                if workload is not None:
                    workload_origin = origin
                    if isinstance(health, Mapping):
                        workload = _with_ext(workload, {EXT_HEALTH_POLICY: dict(health)})
            if isinstance(health, Mapping):
                resources = [_with_health(r, health) for r in resources]
            generated.extend((r, origin) for r in resources)
            if patcher is not None:
                patchers.append(patcher)
        module_resources = ([(workload, workload_origin)] if workload is not None and workload_origin else []) + generated
        if (app.labels or app.annotations) and self.options.app_metadata == "apply":
            module_resources = [(_with_app_metadata(r, app), o) for r, o in module_resources]
        module_k8s = [o for r, o in module_resources if r.type == KUBERNETES]
        if module_k8s and self.module_namespace != self.namespace and not _valid_namespace(self.module_namespace):
            self.problems.append(module_k8s[0].problem(
                f"namespace {self.module_namespace!r} (the project name, where Kusion's modules put their "
                "resources) is not a valid Kubernetes namespace; set generate.namespace: extension in shipmate.yaml"
            ))
        has_k8s = bool(module_k8s) or any(r.type == KUBERNETES for r, _ in secrets)
        kusion_types = all(r.type in (KUBERNETES, TERRAFORM) for r, _ in module_resources)
        ns_id = f"v1:Namespace:{self.namespace}"
        if (has_k8s or (kusion_types and self.options.terraform_only_namespace)) and ns_id not in self.resources:
            ns = k8s_resource({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}})
            self._add(ns, self._namespace_origin())
        for res, origin in secrets + module_resources:
            self._add(res, origin)
        wl_id = workload.id if workload is not None else None
        for patcher in patchers:
            self._patch(patcher, wl_id, app)

    def _namespace_origin(self) -> Origin:
        for owner in (self.config.stack, self.config.project):
            for i, ext in enumerate(owner.extensions):
                if ext.kind == "kubernetesNamespace" and ext.namespace:
                    return Origin(owner.document, ("extensions", i, "kubernetesNamespace", "namespace"))
        return Origin(self.config.project.document, ("name",))

    def _call(self, app: AppConfiguration, block: Block, workload: Mapping[str, Any] | None) -> tuple[list[Resource], Patcher | None] | None:
        module = self.registry.get(block.module)
        if module is None:
            names = self.registry.names()
            self.problems.append(self.main.problem(
                (*block.path, "_type"),
                f"unknown module {block.module!r}{suggest(block.module, names)}; "
                f"registered modules: {', '.join(names)}",
            ))
            return None
        if block.schema not in module.schemas:
            self.problems.append(self.main.problem(
                (*block.path, "_type"),
                f"module {block.module!r} has no schema {block.schema!r}; expected one of: "
                + ", ".join(f"{block.module}.{s}" for s in module.schemas),
            ))
            return None
        request = ModuleRequest(
            project=self.config.project.name,
            stack=self.config.stack.name,
            app_name=app.name,
            namespace=self.module_namespace,
            dev_config=block.config,
            platform_config=self.module_configs.get(block.module, {}),
            context=self.ws.context,
            workload=workload,
            app_labels=app.labels,
            app_annotations=app.annotations,
            secret_store=self.ws.secret_store,
            accessory=None if block is app.workload else block.name,
            app=app,
            stack_path=self.config.path,
            files=self.config.snapshot,
        )
        try:
            result = module.generate(request, block.schema)
        except ModuleInputError as exc:
            for p in exc.problems:
                if exc.platform and block.module in self.ws.modules and p.path:
                    path = self.ws.config_path(block.module, self.config.project.name, str(p.path[0])) + p.path[1:]
                    self.problems.append(self.ws.problem(path, p.message, p.at_key))
                elif exc.platform:
                    self.problems.append(self.ws.problem(("modules", block.module), p.message))
                else:
                    self.problems.append(self.main.problem((*block.path, *p.path), p.message, p.at_key))
            return None
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return None
        except Exception as exc:  # a module's bug must not become a traceback
            self.problems.append(self.main.problem(
                (*block.path, "_type"), f"module {block.module!r} failed: {type(exc).__name__}: {exc}"
            ))
            return None
        bad = [r for r in result.resources if not isinstance(r, Resource)]
        if bad:
            self.problems.append(self.main.problem(
                (*block.path, "_type"), f"module {block.module!r} returned {type(bad[0]).__name__}, not a Resource"
            ))
            return None
        return list(result.resources), result.patcher

    def _patch(self, patcher: Patcher, workload_id: str | None, app: AppConfiguration) -> None:
        if workload_id is not None and workload_id in self.resources:
            wl = self.resources[workload_id]
            try:
                self.resources[workload_id] = dataclasses.replace(wl, attributes=patch_workload(wl.attributes, patcher))
            except PlanError as exc:
                self.problems.append(self.origins[workload_id].problem(str(exc)))
        for rid in sorted(patcher.json_patchers):
            target = self.resources.get(rid)
            if target is None:
                continue  # Kusion skips (and logs) a patch whose target does not exist
            try:
                attributes = apply_json_patcher(target.attributes, patcher.json_patchers[rid], rid)
            except PlanError as exc:
                self.problems.append(self.origins[rid].problem(str(exc)))
                continue
            self.resources[rid] = dataclasses.replace(target, attributes=attributes)

    def _mark_imported(self, imported: Mapping[str, str]) -> None:
        for rid, import_id in imported.items():
            res = self.resources.get(rid)
            if res is not None and res.extensions.get(EXT_IMPORT_ID) != import_id:
                self.resources[rid] = dataclasses.replace(
                    _with_ext(res, {EXT_IMPORT_ID: import_id}), attributes={}
                )

    # --- the whole Spec: dependencies and validation ---------------------------------------

    def _dependencies(self) -> list[Resource]:
        resources = list(self.resources.values())
        unlisted = len(KIND_ORDER)
        kinds = kind_ranks(resources, KIND_ORDER) if self.kusion_exact else {}
        by_rank: dict[int, list[str]] = {}
        for rid, rank in kinds.items():
            if rank < unlisted:
                by_rank.setdefault(rank, []).append(rid)
        # earlier[r] = IDs of every listed kind ranked before r, in kind order then Spec order
        earlier: list[list[str]] = [[]]
        for rank in range(unlisted if kinds else 0):
            earlier.append(earlier[-1] + by_rank.get(rank, []))
        out: list[Resource] = []
        for res in resources:
            deps = list(res.depends_on)
            if res.id in kinds:
                deps.extend(earlier[kinds[res.id]])
            for raw in reference_strings(res.attributes):
                ref = parse_reference(raw, self.resources)
                if ref is not None:
                    deps.append(ref.resource_id)
            unique = tuple(dict.fromkeys(deps))
            out.append(res if unique == res.depends_on else dataclasses.replace(res, depends_on=unique))
        return out

    def _validate(self, resources: Sequence[Resource]) -> None:
        known = self.resources
        for res in resources:
            origin = self.origins[res.id]
            message = id_mismatch(res)
            if message:
                self.problems.append(origin.problem(message))
            for dep in res.depends_on:
                if dep not in known:
                    sub: FieldPath = ("dependsOn",) if self._block_has(origin, "dependsOn") else ()
                    self.problems.append(origin.problem(f"{res.id} depends on unknown resource {dep}", sub))
            for raw in reference_strings(res.attributes):
                if parse_reference(raw, known) is None:
                    sub = self._find_string(origin, raw)
                    self.problems.append(origin.problem(
                        f"reference {raw} names no resource in this stack (expected $kusion_path.<resource ID>.<attribute>)",
                        sub,
                    ))
        if self.problems:
            return
        cycle = find_cycle(resource_edges(resources, () if self.kusion_exact else KIND_ORDER))
        if cycle is not None:
            self.problems.append(self.origins[cycle[0]].problem(str(CycleError(cycle))))

    def _block_has(self, origin: Origin, key: str) -> bool:
        if origin.document is None:
            return False
        node: Any = origin.document.data
        for p in origin.path:
            node = node.get(p) if isinstance(node, dict) else None
        return isinstance(node, dict) and key in node

    def _find_string(self, origin: Origin, value: str) -> FieldPath:
        if origin.document is None:
            return ()
        node: Any = origin.document.data
        for p in origin.path:
            node = node.get(p) if isinstance(node, dict) else None
        found = _path_of(node, value)
        return found if found is not None else ()


def _path_of(node: Any, value: str) -> FieldPath | None:
    if node == value:
        return ()
    items: Any = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        sub = _path_of(child, value)
        if sub is not None:
            return (key, *sub)
    return None


def id_mismatch(res: Resource) -> str | None:
    """Why a resource's ID does not fit its type and attributes (Kusion's validation of its
    Kubernetes and Terraform IDs), or None. Other types' IDs are their runtime's business; a
    type no installed runtime serves is refused at preview."""
    parts = res.id.split(":")
    if res.type == KUBERNETES:
        if len(parts) not in (3, 4):
            return f"Kubernetes resource ID {res.id!r} must be apiVersion:Kind[:namespace]:name"
        if not res.attributes:  # imported resources have no attributes
            return None
        meta = res.attributes.get("metadata") or {}
        expected = (res.attributes.get("apiVersion"), res.attributes.get("kind"))
        if (parts[0], parts[1]) != expected:
            return f"resource ID {res.id} does not match its apiVersion/kind {expected[0]}/{expected[1]}"
        namespace = meta.get("namespace") if isinstance(meta, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        id_ns = parts[2] if len(parts) == 4 else None
        if parts[-1] != name or (id_ns or None) != (namespace or None):
            return (
                f"resource ID {res.id} does not match its metadata "
                f"(namespace {namespace or '-'}, name {name})"
            )
        return None
    if res.type == TERRAFORM:
        if len(parts) != 4:
            return f"Terraform resource ID {res.id!r} must be providerNamespace:providerName:resourceType:name"
        provider = str(res.extensions.get(EXT_PROVIDER, ""))
        segs = provider.split("/")
        if len(segs) != 4:
            return f"{res.id}: extensions.provider {provider!r} must be host/namespace/name/version"
        if (parts[0], parts[1]) != (segs[1], segs[2]):
            return f"resource ID {res.id} does not match its provider {provider}"
        if res.extensions.get(EXT_RESOURCE_TYPE, parts[2]) != parts[2]:
            return f"resource ID {res.id} does not match its resourceType {res.extensions.get(EXT_RESOURCE_TYPE)}"
    return None


def _valid_namespace(name: str) -> bool:
    return len(name) <= 63 and bool(DNS_LABEL.match(name))


def _with_ext(res: Resource, ext: Mapping[str, Any]) -> Resource:
    return dataclasses.replace(res, extensions={**res.extensions, **ext})


def _with_health(res: Resource, health: Mapping[str, Any]) -> Resource:
    if res.type != KUBERNETES:
        return res
    api, kind = res.attributes.get("apiVersion"), res.attributes.get("kind")
    if str(api).lower() == str(health.get("apiVersion", "")).lower() and str(kind).lower() == str(health.get("kind", "")).lower():
        return _with_ext(res, {EXT_HEALTH_POLICY: dict(health)})
    return res


def _with_app_metadata(res: Resource, app: AppConfiguration) -> Resource:
    if res.type != KUBERNETES or not isinstance(res.attributes.get("metadata"), dict):
        return res
    meta = dict(res.attributes["metadata"])
    if app.labels:
        meta["labels"] = {**app.labels, **(meta.get("labels") or {})}
    if app.annotations:
        meta["annotations"] = {**app.annotations, **(meta.get("annotations") or {})}
    return dataclasses.replace(res, attributes={**res.attributes, "metadata": meta})


def spec_data(spec: Spec) -> dict[str, Any]:
    """The Spec as plain data with Kusion's field names; nested maps have sorted keys."""
    resources = []
    for r in spec.resources:
        item: dict[str, Any] = {"id": r.id, "type": r.type, "attributes": canonical(r.attributes)}
        if r.depends_on:
            item["dependsOn"] = list(r.depends_on)
        if r.extensions:
            item["extensions"] = canonical(r.extensions)
        resources.append(item)
    out = {
        "resources": resources,
        "secretStore": canonical(spec.secret_store) if spec.secret_store is not None else None,
        "context": canonical(dict(spec.context)),
    }
    if spec.kind_order:
        out["kindOrder"] = list(spec.kind_order)
    return out


def render_spec(spec: Spec, fmt: str = "yaml") -> str:
    """Deterministic text of a Spec: `yaml` (default) or `json`."""
    data = spec_data(spec)
    if fmt == "json":
        return dump_json(data)
    if fmt == "yaml":
        return dump_yaml(data)
    raise ValueError(f"unknown format {fmt!r}; expected yaml or json")
