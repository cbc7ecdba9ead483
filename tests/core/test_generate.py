"""Generate: golden Specs of the example repository, determinism, Kusion's rules, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core import graph
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.errors import ConfigError
from bot.core.generate import KIND_ORDER, generate_stack, id_mismatch, render_spec
from bot.core.modules import ModuleRegistry, ModuleRequest, ModuleResult, Patcher, builtin_registry
from bot.core.modules.base import JSONPatcher
from bot.core.modules.kube import k8s_resource
from bot.core.spec import EXT_IMPORT_ID, EXT_IS_WORKLOAD, TERRAFORM, Resource, Spec
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "fixtures" / "configs" / "acme"
GOLDEN = ROOT / "fixtures" / "golden" / "specs"
ACME_STACKS = ("shop/dev", "shop/prod", "data/dev", "data/prod")


def effective_edges(spec: Spec) -> dict[str, tuple[str, ...]]:
    """What each resource depends on: its dependsOn and the Spec's kind order, expanded."""
    return graph.expanded(graph.resource_edges(spec.resources, spec.kind_order))


def snapshot_of(directory: Path) -> ConfigSnapshot:
    return ConfigSnapshot({
        p.relative_to(directory).as_posix(): p.read_text()
        for p in directory.rglob("*") if p.is_file()
    })


@pytest.mark.parametrize("stack", ACME_STACKS)
def test_acme_specs_match_golden_files(stack: str) -> None:
    spec = generate_stack(snapshot_of(ACME), stack)
    assert_golden(GOLDEN / "acme" / f"{stack.replace('/', '-')}.yaml", render_spec(spec))


def test_same_input_gives_byte_identical_output() -> None:
    first = render_spec(generate_stack(snapshot_of(ACME), "shop/dev"))
    second = render_spec(generate_stack(snapshot_of(ACME), "shop/dev"))
    assert first == second
    assert render_spec(generate_stack(snapshot_of(ACME), "shop/dev"), "json").startswith('{\n  "resources"')


def test_ids_extensions_and_dependencies_follow_kusion() -> None:
    spec = generate_stack(snapshot_of(ACME), "shop/dev")
    by_id = spec.by_id()
    deployment = by_id["apps/v1:Deployment:shop:shop-dev-web"]
    assert deployment.extensions[EXT_IS_WORKLOAD] is True
    assert deployment.extensions["GVK"] == "apps/v1, Kind=Deployment"
    assert by_id["v1:Namespace:shop"].extensions["GVK"] == "/v1, Kind=Namespace"
    # kind order: the Deployment waits for the namespace, secrets, config maps and services
    assert set(effective_edges(spec)[deployment.id]) == {
        "v1:Namespace:shop", "v1:Secret:shop:db", "v1:ConfigMap:shop:web.settings",
        "v1:Service:shop:shop-dev-web-private",
    }
    marker = by_id["hashicorp:null:null_resource:release-marker"]
    assert marker.type == TERRAFORM
    assert marker.extensions["provider"] == "registry.terraform.io/hashicorp/null/2.1.2"
    assert marker.extensions["resourceType"] == "null_resource"
    assert marker.extensions["providerMeta"] == {}
    # a reference to an ID with dots in it (web.settings) is found as a whole
    digest = by_id["hashicorp:null:null_resource:settings-digest"]
    assert "v1:ConfigMap:shop:web.settings" in digest.depends_on
    assert "hashicorp:null:null_resource:release-marker" in by_id["v1:ConfigMap:shop:web.settings"].depends_on


def test_terraform_only_stack_has_no_namespace_and_imports_clear_attributes() -> None:
    dev = generate_stack(snapshot_of(ACME), "data/dev")
    assert all(r.type == TERRAFORM for r in dev.resources)
    prod = generate_stack(snapshot_of(ACME), "data/prod").by_id()
    legacy = prod["hashicorp:null:null_resource:legacy-marker"]
    assert legacy.attributes == {}
    assert legacy.extensions[EXT_IMPORT_ID] == "4398235711229712683"


def test_namespace_from_stack_extension_and_workspace_copied() -> None:
    spec = generate_stack(snapshot_of(ACME), "shop/prod")
    assert spec.resources[0].id == "v1:Namespace:shop-prod"
    assert spec.context == {"REGISTRY_LOGIN": "acme-bot", "environment": "prod"}
    assert spec.secret_store is not None and "fake" in spec.secret_store["provider"]


def test_kind_order_matches_kusion() -> None:
    assert KIND_ORDER[:4] == ("Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition")
    assert KIND_ORDER.index("Service") < KIND_ORDER.index("Deployment") < KIND_ORDER.index("CronJob")


# --- custom modules: patchers, several workload resources, IDs that do not fit ---------------


def small_repo(main: str, workspace: str = "modules: {}\n") -> ConfigSnapshot:
    return ConfigSnapshot({
        "workspaces/dev.yaml": workspace,
        "shop/project.yaml": "name: shop\n",
        "shop/dev/stack.yaml": "name: dev\n",
        "shop/dev/main.yaml": main,
    })


class SidecarModule:
    """An accessory that patches the workload and a Service, like Kusion's mysql module."""

    name = "sidecar"
    schemas = ("Sidecar",)

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        svc_id = f"v1:Service:{request.namespace}:{request.unique_app_name}-private"
        return ModuleResult(patcher=Patcher(
            environments=({"name": "SIDECAR", "value": "on"}, {"name": "LOG_LEVEL", "value": "ops://kusionstack.io/remove"}),
            labels={"sidecar": "yes"},
            pod_annotations={"sidecar/inject": "true"},
            json_patchers={
                svc_id: JSONPatcher("MergePatch", {"spec": {"sessionAffinity": "ClientIP"}}),
                "v1:Service:nowhere:missing": JSONPatcher("MergePatch", {"x": 1}),
            },
        ))


class BrokenIdModule:
    name = "broken"
    schemas = ("Broken",)

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        res = k8s_resource({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "shop"}})
        return ModuleResult(resources=(Resource("v1:ConfigMap:shop:b", res.type, res.attributes),))


class PairModule:
    """A workload module returning two resources, the workload flagged."""

    name = "pair"
    schemas = ("Pair",)

    def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
        cm = k8s_resource({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": request.namespace}})
        sts = k8s_resource(
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": request.namespace},
             "spec": {"template": {"spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}},
            {EXT_IS_WORKLOAD: True},
        )
        return ModuleResult(resources=(cm, sts))


def registry_with(*modules: object) -> ModuleRegistry:
    registry = builtin_registry()
    for module in modules:
        registry.register(module)  # type: ignore[arg-type]
    return registry


WEB = """\
web:
  workload:
    _type: service.Service
    containers:
      web:
        image: nginx:1.25
        env:
          LOG_LEVEL: debug
          MODE: web
  accessories:
    network: {_type: network.Network, ports: [{port: 80}]}
    sidecar: {_type: sidecar.Sidecar}
"""


def test_patchers_prepend_env_remove_values_and_json_patch_by_id() -> None:
    spec = generate_stack(small_repo(WEB), "shop/dev", registry_with(SidecarModule()))
    by_id = spec.by_id()
    dep = by_id["apps/v1:Deployment:shop:shop-dev-web"].attributes
    env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "SIDECAR", "value": "on"}, {"name": "MODE", "value": "web"}]
    assert dep["metadata"]["labels"]["sidecar"] == "yes"
    assert dep["spec"]["template"]["metadata"]["annotations"] == {"sidecar/inject": "true"}
    assert by_id["v1:Service:shop:shop-dev-web-private"].attributes["spec"]["sessionAffinity"] == "ClientIP"


def test_workload_module_with_several_resources_uses_the_flagged_one() -> None:
    main = "db:\n  workload: {_type: pair.Pair}\n"
    spec = generate_stack(small_repo(main), "shop/dev", registry_with(PairModule()))
    ids = [r.id for r in spec.resources]
    assert ids == ["v1:Namespace:shop", "apps/v1:StatefulSet:shop:db", "v1:ConfigMap:shop:cfg"]
    assert set(effective_edges(spec)["apps/v1:StatefulSet:shop:db"]) == {"v1:Namespace:shop", "v1:ConfigMap:shop:cfg"}
    assert spec.by_id()["apps/v1:StatefulSet:shop:db"].depends_on == ()  # the kind order says it once


def test_resource_id_that_does_not_match_its_attributes_is_reported() -> None:
    main = "odd:\n  accessories:\n    x: {_type: broken.Broken}\n"
    with pytest.raises(ConfigError) as err:
        generate_stack(small_repo(main), "shop/dev", registry_with(BrokenIdModule()))
    assert str(err.value) == (
        "shop/dev/main.yaml:3:8: odd.accessories.x: resource ID v1:ConfigMap:shop:b does not match its "
        "metadata (namespace shop, name a)"
    )


def test_id_mismatch_rules() -> None:
    good = k8s_resource({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    assert id_mismatch(good) is None
    assert "apiVersion/kind" in (id_mismatch(Resource("v2:Namespace:x", good.type, good.attributes)) or "")
    assert "must be" in (id_mismatch(Resource("x", good.type, good.attributes)) or "")
    tf = Resource("hashicorp:null:null_resource:a", TERRAFORM, {}, extensions={
        "provider": "registry.terraform.io/hashicorp/random/3.6.0", "resourceType": "null_resource"})
    assert "does not match its provider" in (id_mismatch(tf) or "")


def test_module_failure_is_a_located_problem_not_a_traceback() -> None:
    class Crashing:
        name = "crash"
        schemas = ("Crash",)

        def generate(self, request: ModuleRequest, schema: str) -> ModuleResult:
            raise KeyError("boom")

    main = "app:\n  accessories:\n    c: {_type: crash.Crash}\n"
    with pytest.raises(ConfigError) as err:
        generate_stack(small_repo(main), "shop/dev", registry_with(Crashing()))
    assert str(err.value) == "shop/dev/main.yaml:3:16: app.accessories.c._type: module 'crash' failed: KeyError: 'boom'"


def test_platform_config_problems_point_into_the_selected_patcher_block() -> None:
    workspace = (
        "modules:\n  service:\n    configs:\n      default: {replicas: 1}\n"
        "      shop:\n        projectSelector: [shop]\n        replicas: many\n"
    )
    main = "web:\n  workload:\n    _type: service.Service\n    containers: {web: {image: nginx:1.25}}\n"
    with pytest.raises(ConfigError) as err:
        generate_stack(small_repo(main, workspace), "shop/dev")
    assert str(err.value) == (
        "workspaces/dev.yaml:7:19: modules.service.configs.shop.replicas: expected an integer, got a string ('many')"
    )


def test_health_policy_goes_to_the_workload_extensions() -> None:
    workspace = (
        "modules:\n  service:\n    configs:\n      default:\n        healthPolicy:\n"
        "          health.kcl: \"assert res.status.readyReplicas == 1\"\n"
    )
    main = "web:\n  workload:\n    _type: service.Service\n    containers: {web: {image: nginx:1.25}}\n"
    spec = generate_stack(small_repo(main, workspace), "shop/dev")
    workload = spec.by_id()["apps/v1:Deployment:shop:shop-dev-web"]
    assert workload.extensions["healthPolicy"] == {"health.kcl": "assert res.status.readyReplicas == 1"}


def test_same_kusion_id_imported_twice_with_different_ids_is_an_error() -> None:
    workspace = (
        "modules:\n  terraform:\n    configs:\n      default:\n        importedResources:\n"
        "          hashicorp:null:null_resource:a: one\n"
        "  other:\n    configs:\n      default:\n        importedResources:\n"
        "          hashicorp:null:null_resource:a: two\n"
    )
    with pytest.raises(ConfigError) as err:
        generate_stack(small_repo("{}\n", workspace), "shop/dev")
    assert str(err.value) == (
        'workspaces/dev.yaml:6:43: modules.terraform.configs.default.importedResources["hashicorp:null:null_resource:a"]: '
        "resource hashicorp:null:null_resource:a is imported twice with different IDs: 'two' and 'one'"
    )
