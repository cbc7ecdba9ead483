"""Built-in modules, workload secrets, patching helpers and the module registry."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from bot.core.config.checks import Checker
from bot.core.config.snapshot import ConfigSnapshot
from bot.core.errors import ConfigError, PlanError
from bot.core.modules import (
    ModuleInputError,
    ModuleRegistry,
    ModuleRequest,
    Patcher,
    builtin_registry,
)
from bot.core.modules.builtins.k8s_manifest import K8sManifestModule
from bot.core.modules.builtins.network import NetworkModule
from bot.core.modules.builtins.terraform import TerraformModule, provider_address
from bot.core.modules.builtins.workload import JobModule, ServiceModule
from bot.core.modules.patching import json_patch, merge_patch, patch_workload
from bot.core.modules.secrets import derived_value, generate_secrets


def request(dev: dict[str, Any], platform: dict[str, Any] | None = None, **kw: Any) -> ModuleRequest:
    base: dict[str, Any] = {
        "project": "shop", "stack": "dev", "app_name": "web", "namespace": "shop",
        "dev_config": dev, "platform_config": platform or {}, "context": {},
    }
    base.update(kw)
    return ModuleRequest(**base)


def input_problems(fn: Any, *args: Any) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ModuleInputError) as err:
        fn(*args)
    return [(p.path, p.message) for p in err.value.problems]


def test_service_builds_a_deployment_like_the_catalog() -> None:
    dev = {
        "_type": "service.Service",
        "replicas": 2,
        "labels": {"tier": "web"},
        "containers": {
            "web": {
                "image": "nginx:1.25", "command": ["nginx"], "args": ["-g", "daemon off;"], "workingDir": "/srv",
                "env": {"B": "2", "A": "secret://db/password", "C": "configmap://cfg/key", "N": 3},
                "resources": {"cpu": "250m-500m", "memory": "1Gi"},
                "readinessProbe": {"probeHandler": {"_type": "service.container.probe.Http",
                                                    "url": "http://localhost:8080/ready", "headers": {"X-A": "b"}},
                                   "initialDelaySeconds": 3},
                "livenessProbe": {"probeHandler": {"_type": "service.container.probe.Exec", "command": ["true"]}},
                "startupProbe": {"probeHandler": {"url": "tcp://db:5432"}, "terminationGracePeriod": 5},
                "lifecycle": {"preStop": {"command": ["sleep", "5"]}},
                "files": {"/etc/app/app.conf": {"content": "x=1", "mode": "0600"},
                          "/etc/app/token": {"contentFrom": "secret://tok/value"}},
                "dirs": {"/var/secret": "secret://certs/tls"},
            },
        },
    }
    result = ServiceModule().generate(request(dev, {"replicas": 5, "labels": {"tier": "x", "env": "dev"}}), "Service")
    ids = [r.id for r in result.resources]
    assert ids == ["v1:ConfigMap:shop:shop-dev-web-web-0", "apps/v1:Deployment:shop:shop-dev-web"]
    dep = result.resources[-1].attributes
    assert dep["spec"]["replicas"] == 2  # the app's value wins over the platform default
    assert dep["metadata"]["labels"] == {
        "app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop", "tier": "web", "env": "dev"}
    assert dep["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "shop"}}
    ctn = dep["spec"]["template"]["spec"]["containers"][0]
    assert [e["name"] for e in ctn["env"]] == ["B", "A", "C", "N"]  # written order kept
    assert ctn["env"][1] == {"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
    assert ctn["env"][2] == {"name": "C", "value": "configmap://cfg/key"}  # Kusion's MagicEnvVar: a plain value
    assert ctn["env"][3] == {"name": "N", "value": "3"}
    assert ctn["resources"] == {"limits": {"cpu": "500m", "memory": "1Gi"}, "requests": {"cpu": "250m"}}
    assert ctn["readinessProbe"] == {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP",
                                                 "httpHeaders": [{"name": "X-A", "value": "b"}]},
                                     "initialDelaySeconds": 3}
    assert ctn["livenessProbe"] == {"exec": {"command": ["true"]}}
    assert ctn["startupProbe"] == {"tcpSocket": {"port": 5432, "host": "db"}, "terminationGracePeriodSeconds": 5}
    assert ctn["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "5"]}}}
    assert ctn["volumeMounts"] == [
        {"name": "shop-dev-web-web-0", "mountPath": "/etc/app"},
        {"name": "tok", "mountPath": "/etc/app/token", "subPath": "value"},
        {"name": "certs", "mountPath": "/var/secret"},
    ]
    assert result.resources[0].attributes["data"] == {"app.conf": "x=1"}


def test_service_input_problems_are_field_paths() -> None:
    dev = {"_type": "service.Service", "containers": {"web": {"image": 1, "env": {"1BAD": "x"},
           "resources": {"cpu": "lots"}, "readinessProbe": {"probeHandler": {"_type": "service.container.probe.Http", "url": "nohost"}}}},
           "replicas": -1}
    assert input_problems(ServiceModule().generate, request(dev), "Service") == [
        (("replicas",), "expected a non-negative integer, got -1"),
        (("containers", "web", "image"), "expected a string, got an integer (1)"),
        (("containers", "web", "env", "1BAD"), "a valid environment variable name must consist of letters, "
         "digits, '_', '-' or '.', and must not start with a digit"),
        (("containers", "web", "resources", "cpu"), "expected a quantity such as 500m, 1Gi or 250m-500m (request-limit), got 'lots'"),
        (("containers", "web", "readinessProbe", "probeHandler", "url"), "expected a URL with a host and a port, got 'nohost'"),
    ]
    with pytest.raises(ModuleInputError) as err:
        ServiceModule().generate(request({"containers": {"w": {"image": "x"}}}, {"replicas": "many"}), "Service")
    assert err.value.platform and err.value.problems[0].path == ("replicas",)


def test_job_gives_job_or_cronjob() -> None:
    dev = {"containers": {"job": {"image": "busybox"}}}
    job = JobModule().generate(request(dev), "Job").resources[0]
    assert job.id == "batch/v1:Job:shop:shop-dev-web"
    assert job.attributes["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    cron = JobModule().generate(request({**dev, "schedule": "*/5 * * * *"}), "Job").resources[0]
    assert cron.id == "batch/v1:CronJob:shop:shop-dev-web"
    assert cron.attributes["spec"]["schedule"] == "*/5 * * * *"
    assert cron.attributes["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox"
    assert input_problems(JobModule().generate, request({**dev, "schedule": "hourly"}), "Job") == [
        (("schedule",), "expected a cron schedule with 5 fields, got 'hourly'")]


def test_network_private_and_public_services_and_ingress() -> None:
    dev = {"ports": [{"port": 80}, {"port": 53, "protocol": "UDP", "targetPort": 5353},
                     {"port": 443, "targetPort": 8443, "public": True}],
           "ingress": {"rules": [{"host": "a.example", "http": {"paths": [
               {"path": "/", "backend": {"service": {"port": {"number": 443}}}}]}}]}}
    workload = {"labels": {"team": "web"}, "annotations": {"note": "x"}}
    result = NetworkModule().generate(
        request(dev, {"port": {"annotations": {"lb": "internal"}}}, workload=workload), "Network")
    private, public, ingress = (r.attributes for r in result.resources)
    assert private["metadata"]["name"] == "shop-dev-web-private" and private["spec"]["type"] == "ClusterIP"
    assert private["spec"]["ports"] == [
        {"name": "shop-dev-web-private-80-tcp", "port": 80, "protocol": "TCP", "targetPort": 80},
        {"name": "shop-dev-web-private-53-udp", "port": 53, "protocol": "UDP", "targetPort": 5353},
    ]
    assert private["metadata"]["labels"]["team"] == "web" and private["metadata"]["annotations"] == {"note": "x"}
    assert public["spec"]["type"] == "LoadBalancer" and public["metadata"]["annotations"]["lb"] == "internal"
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    assert backend == {"service": {"name": "shop-dev-web-public", "port": {"number": 443}}}
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["pathType"] == "Prefix"
    assert input_problems(NetworkModule().generate, request({"ports": [{"port": 0}, {"port": 80, "protocol": "SCTP"}]}), "Network") == [
        (("ports", 0, "port"), "port must be between 1 and 65535, inclusive; got 0"),
        (("ports", 1, "protocol"), "expected one of: TCP, UDP; got a string ('SCTP')"),
        (("ports",), "ports need a workload to route to; this app has none"),
    ]


def test_k8s_manifest_reads_files_and_directories_from_the_snapshot() -> None:
    files = ConfigSnapshot({
        "shop/dev/m/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: shop}\n---\n"
                             "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: shop}\n",
        "shop/dev/m/sub/c.json": '{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "c"}}',
        "shop/dev/m/readme.txt": "not a manifest",
        "shared/d.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: d, namespace: shop}\n",
    })
    result = K8sManifestModule().generate(
        request({"paths": ["m", "/shared/d.yaml"]}, stack_path="shop/dev", files=files), "K8sManifest")
    assert [r.id for r in result.resources] == [
        "v1:ConfigMap:shop:a", "v1:ConfigMap:shop:b", "rbac.authorization.k8s.io/v1:ClusterRole:c",
        "v1:ServiceAccount:shop:d"]
    bad = files.merged({"shop/dev/x.yaml": "kind: ConfigMap\nmetadata: {}\n"})
    with pytest.raises(ConfigError) as err:
        K8sManifestModule().generate(request({"paths": ["x.yaml"]}, stack_path="shop/dev", files=bad), "K8sManifest")
    assert str(err.value).splitlines() == [
        "shop/dev/x.yaml:1:1: expected a non-empty string field 'apiVersion'",
        "shop/dev/x.yaml:2:11: metadata.name: expected metadata.name (a non-empty string)",
    ]


def test_terraform_ids_and_extensions() -> None:
    dev = {"provider": {"source": "registry.terraform.io/hashicorp/null", "version": "2.1.2", "config": {"x": 1}},
           "resources": {"null_resource": {"b": {"triggers": {"k": "v"}}, "a": {}}},
           "dependsOn": ["v1:Namespace:shop"]}
    result = TerraformModule().generate(request(dev), "Terraform")
    assert [r.id for r in result.resources] == ["hashicorp:null:null_resource:a", "hashicorp:null:null_resource:b"]
    b = result.resources[1]
    assert b.type == "Terraform" and b.attributes == {"triggers": {"k": "v"}}
    assert b.depends_on == ("v1:Namespace:shop",)
    assert b.extensions == {"provider": "registry.terraform.io/hashicorp/null/2.1.2",
                            "providerMeta": {"x": 1}, "resourceType": "null_resource"}
    assert provider_address("hashicorp/null") == ("registry.terraform.io", "hashicorp", "null")
    assert provider_address("example.com:8443/acme/thing") == ("example.com:8443", "acme", "thing")
    assert provider_address("null") is None
    assert input_problems(TerraformModule().generate, request({"resources": {}}), "Terraform") == [
        ((), "missing required field 'provider'"), (("resources",), "expected at least one resource type")]


# --- secrets ---------------------------------------------------------------------------------


def secrets(spec: dict[str, Any], salt: str = "", store: dict[str, Any] | None = None) -> tuple[list[Any], Checker]:
    c = Checker()
    out = generate_secrets(c, spec, project="shop", stack="dev", app="web", namespace="shop",
                           secret_store=store, salt=salt)
    return out, c


def decoded(resource: Any) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in resource.attributes["data"].items()}


def test_secret_types_and_deterministic_generated_values() -> None:
    out, c = secrets({
        "db": {"type": "basic", "data": {"username": "admin"}},
        "api": {"type": "token", "immutable": True},
        "conf": {"type": "opaque", "data": {"a": "1"}},
        "tls": {"type": "certificate", "data": {"tls.crt": "C", "tls.key": "K", "other": "x"}},
    })
    assert c.ok
    by_name = {r.attributes["metadata"]["name"]: r for r in out}
    assert [r.id for r in out] == ["v1:Secret:shop:api", "v1:Secret:shop:conf", "v1:Secret:shop:db", "v1:Secret:shop:tls"]
    db = decoded(by_name["db"])
    assert db["username"] == "admin" and len(db["password"]) == 54 and db["password"].isalnum()
    assert by_name["db"].attributes["type"] == "kubernetes.io/basic-auth"
    assert by_name["api"].attributes["immutable"] is True and len(decoded(by_name["api"])["token"]) == 54
    assert decoded(by_name["conf"]) == {"a": "1"}
    assert decoded(by_name["tls"]) == {"tls.crt": "C", "tls.key": "K"}
    again, _ = secrets({"db": {"type": "basic"}})
    assert decoded(again[0])["password"] == decoded(secrets({"db": {"type": "basic"}})[0][0])["password"]
    salted, _ = secrets({"db": {"type": "basic"}}, salt="s3cret")
    assert decoded(salted[0])["password"] != decoded(again[0])["password"]
    assert derived_value("a", "x") != derived_value("a", "y")


def test_external_secrets_need_a_store_and_references() -> None:
    _, c = secrets({"db": {"type": "external", "data": {"password": "plain"}}})
    assert [(p.path, p.message) for p in c.problems] == [
        (("secrets", "db", "type"), "an external secret needs a secretStore in the workspace"),
        (("secrets", "db", "data", "password"), "expected a ref://<name>/<property> reference, got 'plain'"),
    ]
    out, c = secrets({"db": {"type": "external", "data": {"password": "ref://db/pw"}}}, store={"provider": {"fake": {}}})
    assert c.ok and decoded(out[0]) == {"password": "ref://db/pw"}


# --- patching --------------------------------------------------------------------------------


def test_patch_workload_on_a_cronjob_template() -> None:
    cron = {"kind": "CronJob", "metadata": {"labels": {"a": "1", "gone": "x"}},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {"containers": [
                {"name": "c", "env": [{"name": "KEEP", "value": "1"}, {"name": "DROP", "value": "2"}]}]}}}}}}
    patched = patch_workload(cron, Patcher(
        environments=({"name": "E1", "value": "x"}, {"name": "E2", "value": "y"},
                      {"name": "DROP", "value": "ops://kusionstack.io/remove"}),
        labels={"b": "2", "gone": "ops://kusionstack.io/remove"}, pod_labels={"p": "1"}))
    assert patched["metadata"]["labels"] == {"a": "1", "b": "2"}
    template = patched["spec"]["jobTemplate"]["spec"]["template"]
    assert template["metadata"]["labels"] == {"p": "1"}
    assert [e["name"] for e in template["spec"]["containers"][0]["env"]] == ["E2", "E1", "KEEP"]
    assert cron["metadata"]["labels"] == {"a": "1", "gone": "x"}  # the input is not changed
    with pytest.raises(PlanError, match="no pod template"):
        patch_workload({"kind": "ConfigMap"}, Patcher(pod_labels={"a": "b"}))


def test_merge_patch_is_rfc7386() -> None:
    assert merge_patch({"a": "b", "c": {"d": "e", "f": "g"}}, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert merge_patch({"a": 1}, ["x"]) == ["x"]


def test_json_patch_allows_missing_removes_and_creates_parents() -> None:
    doc = {"spec": {"ports": [{"port": 80}]}}
    out = json_patch(doc, [
        {"op": "add", "path": "/metadata/labels/app", "value": "web"},
        {"op": "add", "path": "/spec/ports/-", "value": {"port": 443}},
        {"op": "remove", "path": "/spec/missing"},
        {"op": "replace", "path": "/spec/ports/0/port", "value": 8080},
        {"op": "copy", "from": "/metadata/labels", "path": "/spec/selector"},
        {"op": "move", "from": "/spec/selector/app", "path": "/spec/app"},
        {"op": "test", "path": "/spec/app", "value": "web"},
    ], "v1:Service:a:b")
    assert out == {"metadata": {"labels": {"app": "web"}},
                   "spec": {"ports": [{"port": 8080}, {"port": 443}], "selector": {}, "app": "web"}}
    with pytest.raises(PlanError, match="operation 0"):
        json_patch(doc, [{"op": "replace", "path": "/nothing", "value": 1}])


# --- registry --------------------------------------------------------------------------------


def test_registry_holds_the_builtins_and_rejects_bad_modules() -> None:
    registry = builtin_registry()
    assert registry.names() == ("job", "k8s_manifest", "network", "onprem", "service", "terraform")
    assert "service" in registry and registry.get("mysql") is None

    class Dotted:
        name = "a.b"
        schemas = ("X",)

        def generate(self, request: ModuleRequest, schema: str) -> Any:
            return None

    with pytest.raises(ValueError, match="without dots"):
        ModuleRegistry([Dotted()])  # type: ignore[list-item]
