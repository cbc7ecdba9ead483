"""The Helm chart (deploy/chart) and the plain manifest (deploy/shipmate.yaml), checked as a
cluster would check them.

Helm v4's own library lints and installs the chart into the project's Kubernetes simulator
(tests/deploy/helm.py says why not the `helm` binary); the manifest it renders is then applied
again with `kubectl apply --server-side --dry-run=server` and with the official client's
server-side apply (`dryRun=All`) into a second simulator, which rejects unknown fields, wrong
types and objects in namespaces that do not exist. The plain manifest goes through the same two
dry runs. The rendered default chart is a golden file: it is what an operator reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient

from bot.settings import Settings
from fixtures.kube_sim import KubeSim
from tests.deploy.helm import HelmFailed, Installed, install
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "chart"
MANIFEST = ROOT / "deploy" / "shipmate.yaml"
GOLDEN = ROOT / "fixtures" / "golden" / "deploy"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
# Values that are Kubernetes objects or free maps, documented as one row.
OPEN_MAPS = {"settings", "resources", "podSecurityContext", "securityContext", "probes"}
PROBES = {"startupProbe": "/healthz", "readinessProbe": "/readyz", "livenessProbe": "/healthz"}

# prometheus-operator's ServiceMonitor is a custom resource: its CRD is not on a package registry
# here, so this one declares the part of monitoring.coreos.com/v1 the chart writes, with the
# operator's field names and types, and nothing else (unknown fields are rejected).
SERVICE_MONITOR_CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: servicemonitors.monitoring.coreos.com}
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {plural: servicemonitors, singular: servicemonitor, kind: ServiceMonitor, listKind: ServiceMonitorList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [selector, endpoints]
            properties:
              selector:
                type: object
                properties:
                  matchLabels: {type: object, additionalProperties: {type: string}}
              namespaceSelector:
                type: object
                properties:
                  any: {type: boolean}
                  matchNames: {type: array, items: {type: string}}
              endpoints:
                type: array
                items:
                  type: object
                  properties:
                    port: {type: string}
                    path: {type: string}
                    interval: {type: string}
                    scrapeTimeout: {type: string}
"""


class Cluster:
    """A simulator with kubectl and the official client pointed at it."""

    def __init__(self, sim: KubeSim, home: Path) -> None:
        self.home = home
        self.kubeconfig = sim.write_kubeconfig(home / "config")
        self.api = config.new_client_from_config(str(self.kubeconfig))
        self.dynamic = DynamicClient(self.api)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir",
                               str(self.home / "cache"), *args], input=stdin, capture_output=True,
                              text=True, timeout=60, env={"HOME": str(self.home), "PATH": os.environ["PATH"]})
        assert done.returncode == 0, f"kubectl {' '.join(args)}:\n{done.stderr}"
        return done.stdout

    def namespace(self, name: str) -> None:
        """Create a namespace for real (a dry run of a Namespace does not make one to put things in)."""
        self.kubectl("apply", "--server-side", "-f", "-",
                     stdin=f"apiVersion: v1\nkind: Namespace\nmetadata: {{name: {name}}}\n")

    def dry_run_kubectl(self, manifest: str) -> list[str]:
        """`kubectl apply --server-side --dry-run=server`: one line per object."""
        return self.kubectl("apply", "--server-side", "--dry-run=server", "--field-manager", "shipmate",
                            "-f", "-", stdin=manifest).splitlines()

    def dry_run_client(self, manifest: str) -> list[str]:
        """The official client's server-side apply (dryRun=All, fieldValidation=Strict), object by object."""
        applied = []
        for doc in documents(manifest):
            resource = self.dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            meta = doc["metadata"]
            answer = self.dynamic.server_side_apply(resource, body=doc, name=meta["name"],
                                                    namespace=meta.get("namespace"),
                                                    field_manager="shipmate", dry_run="All",
                                                    query_params=[("fieldValidation", "Strict")])
            assert answer.metadata.name == meta["name"]
            applied.append(f"{doc['kind']}/{meta['name']}")
        return applied


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    with KubeSim.start(ready_delay=0.1) as sim:
        yield Cluster(sim, tmp_path / "kube")


@pytest.fixture
def checker(tmp_path: Path) -> Iterator[Cluster]:
    """A second, empty cluster for the dry runs of what was rendered."""
    with KubeSim.start(ready_delay=0.1) as sim:
        yield Cluster(sim, tmp_path / "checker")


def documents(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def kinds(manifest: str) -> list[str]:
    return [f"{doc['kind']}/{doc['metadata']['name']}" for doc in documents(manifest)]


def one(manifest: str, kind: str) -> dict[str, Any]:
    [found] = [doc for doc in documents(manifest) if doc["kind"] == kind]
    return found


def helm(cluster: Cluster, tmp_path: Path, values: dict[str, Any] | None = None) -> Installed:
    return install(CHART, cluster.kubeconfig, tmp_path / "helm", release="shipmate", namespace="shipmate",
                   values=values)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


SECRET = {"webhook-secret": "hook", "webhook-secret-previous": "old-hook", "secret-salt": "salt",
          "github-token": "ghp_token", "redis-url": "redis://redis:6379/0"}


def settings_of(container: dict[str, Any], tmp_path: Path) -> Settings:
    """What `shipmate serve` reads from the container's environment, the Secret's keys filled in
    (SECRET) and a GitHub App's key written where the pod would mount it (under tmp_path)."""
    env: dict[str, str] = {}
    for entry in container["env"]:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        env[entry["name"]] = SECRET[ref["key"]] if ref else entry["value"]
    if "SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH" in env:
        [mount] = [m for m in container["volumeMounts"] if m["name"] == "github-app"]
        assert env["SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH"].startswith(mount["mountPath"] + "/")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = tmp_path / "private-key.pem"
        pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
        env["SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH"] = str(pem)
    settings = Settings.from_env(env)
    settings.require_webhook_secret()
    return settings


def server_rules(workload: dict[str, Any]) -> None:
    """What every way of running the server in a cluster must hold to."""
    pod = workload["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = env_of(container)
    assert pod["terminationGracePeriodSeconds"] > int(env["SHIPMATE_GRACEFUL_TIMEOUT_SECONDS"])
    assert pod["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    for probe, path in PROBES.items():
        assert container[probe]["httpGet"] == {"path": path, "port": "http"}, probe
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    for name in ("SHIPMATE_WEBHOOK_SECRET", "GITHUB_TOKEN", "SHIPMATE_SECRET_SALT"):
        assert set(env[name]) == {"secretKeyRef"}, f"{name} must come from a Secret"


def test_default_chart_lints_installs_and_passes_both_dry_runs(cluster: Cluster, checker: Cluster,
                                                                tmp_path: Path) -> None:
    installed = helm(cluster, tmp_path)
    assert [severity for severity, _ in installed.lint] == [1]  # Info: "icon is recommended"
    assert_golden(GOLDEN / "chart-default.yaml", installed.manifest)
    assert kinds(installed.manifest) == [
        "PodDisruptionBudget/shipmate", "ServiceAccount/shipmate", "ClusterRoleBinding/shipmate",
        "Service/shipmate", "Service/shipmate-headless", "StatefulSet/shipmate", "Ingress/shipmate"]
    workload = one(installed.manifest, "StatefulSet")
    server_rules(workload)
    settings = settings_of(workload["spec"]["template"]["spec"]["containers"][0], tmp_path)
    assert (settings.github.token, settings.storage.secret_salt, settings.webhook.secrets) == \
        ("ghp_token", "salt", ("hook",))
    assert (settings.http.graceful_timeout_seconds, settings.http.threads, settings.terraform.sandbox) == \
        (25, 8, "bwrap")
    assert workload["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"] == {"storage": "2Gi"}
    ingress = one(installed.manifest, "Ingress")
    assert ingress["spec"]["tls"] == [{"hosts": ["shipmate.example.com"], "secretName": "shipmate-tls"}]
    assert [p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]] == ["/webhooks/github"]

    live = client.AppsV1Api(cluster.api).read_namespaced_stateful_set("shipmate", "shipmate")
    assert live.spec.template.spec.security_context.fs_group_change_policy == "OnRootMismatch"
    pdb = client.PolicyV1Api(cluster.api).read_namespaced_pod_disruption_budget("shipmate", "shipmate")
    assert pdb.spec.max_unavailable == 1

    checker.namespace("shipmate")
    assert checker.dry_run_kubectl(installed.manifest) == [
        "poddisruptionbudget.policy/shipmate serverside-applied (server dry run)",
        "serviceaccount/shipmate serverside-applied (server dry run)",
        "clusterrolebinding.rbac.authorization.k8s.io/shipmate serverside-applied (server dry run)",
        "service/shipmate serverside-applied (server dry run)",
        "service/shipmate-headless serverside-applied (server dry run)",
        "statefulset.apps/shipmate serverside-applied (server dry run)",
        "ingress.networking.k8s.io/shipmate serverside-applied (server dry run)"]
    assert checker.dry_run_client(installed.manifest) == kinds(installed.manifest)


def test_every_option_renders_to_objects_the_cluster_accepts(cluster: Cluster, checker: Cluster,
                                                             tmp_path: Path) -> None:
    for target in (cluster, checker):
        target.kubectl("apply", "--server-side", "-f", "-", stdin=SERVICE_MONITOR_CRD)
        target.kubectl("wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com",
                       "--timeout=10s")
    values = {
        "replicaCount": 2,
        "queue": {"redisUrlKey": "redis-url"},
        "github": {"auth": "app", "app": {"id": "12345"}, "apiUrl": "https://ghe.example.com/api/v3"},
        "secret": {"keys": {"webhookSecretPrevious": "webhook-secret-previous"}},
        "persistence": {"storageClassName": "fast", "size": "20Gi"},
        "ingress": {"className": "nginx", "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
                    "tls": {"secretName": "shipmate-cert"}},
        "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
        "settings": {"SHIPMATE_WORKERS": 8, "SHIPMATE_LOG_LEVEL": "DEBUG"},
        "extraEnv": [{"name": "AWS_REGION", "value": "eu-west-1"}],
        "hostUsers": False,
        "rbac": {"clusterRole": "shipmate-stacks"},
    }
    installed = helm(cluster, tmp_path, values)
    workload = one(installed.manifest, "StatefulSet")
    pod = workload["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = env_of(container)
    assert workload["spec"]["replicas"] == 2 and pod["hostUsers"] is False
    assert container["command"] == ["/bin/sh", "-c"] and "--no-scheduler" in container["args"][0]
    assert env["SHIPMATE_QUEUE"] == {"secretKeyRef": {"name": "shipmate", "key": "redis-url"}}
    assert env["SHIPMATE_GITHUB_APP_ID"] == "12345" and "GITHUB_TOKEN" not in env
    assert env["SHIPMATE_GITHUB_APP_PRIVATE_KEY_PATH"] == "/etc/shipmate/github-app/private-key.pem"
    assert env["SHIPMATE_WORKERS"] == "8" and env["AWS_REGION"] == "eu-west-1"
    assert env["SHIPMATE_WEBHOOK_SECRET_PREVIOUS"] == {
        "secretKeyRef": {"name": "shipmate", "key": "webhook-secret-previous"}}
    settings = settings_of(container, tmp_path)
    assert settings.github.auth == "app" and settings.github.app_private_key
    assert (settings.github.app_id, settings.github.token, settings.queue.url) == \
        (12345, None, "redis://redis:6379/0")
    assert (settings.queue.workers, settings.log.level, settings.webhook.secrets) == (8, "DEBUG", ("hook", "old-hook"))
    [key_volume] = [v for v in pod["volumes"] if v["name"] == "github-app"]
    assert key_volume["secret"]["items"] == [{"key": "github-app-private-key", "path": "private-key.pem"}]
    monitor = one(installed.manifest, "ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s",
                                            "scrapeTimeout": "10s"}]
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert one(installed.manifest, "Ingress")["spec"]["ingressClassName"] == "nginx"

    checker.namespace("shipmate")
    lines = checker.dry_run_kubectl(installed.manifest)
    assert len(lines) == len(kinds(installed.manifest))
    assert all(line.endswith("serverside-applied (server dry run)") for line in lines), lines
    assert checker.dry_run_client(installed.manifest) == kinds(installed.manifest)


@pytest.mark.parametrize(("values", "message"), [
    ({"terminationGracePeriodSeconds": 25}, "terminationGracePeriodSeconds (25) must be longer than "
                                            "gracefulTimeoutSeconds (25)"),
    ({"replicaCount": 3}, "replicaCount above 1 needs queue.redisUrl or queue.redisUrlKey"),
    ({"settings": {"GITHUB_TOKEN": "ghp_x"}}, "settings.GITHUB_TOKEN is a secret"),
    ({"settings": {"SHIPMATE_DATA_DIR": "/data"}}, "settings.SHIPMATE_DATA_DIR is set by the chart"),
    ({"github": {"auth": "app"}}, "github.auth app needs github.app.id"),
])
def test_the_chart_refuses_values_that_would_run_a_broken_server(cluster: Cluster, tmp_path: Path,
                                                                  values: dict[str, Any], message: str) -> None:
    with pytest.raises(HelmFailed, match="execution error") as refused:
        helm(cluster, tmp_path, values)
    assert message in str(refused.value)
    assert client.AppsV1Api(cluster.api).list_stateful_set_for_all_namespaces().items == []


@pytest.mark.parametrize(("values", "message"), [
    ({"replicas": 2}, "additional properties 'replicas' not allowed"),
    ({"replicaCount": "two"}, "at '/replicaCount': got string, want integer"),
    ({"github": {"auth": "password"}}, "at '/github/auth': value must be one of 'token', 'app'"),
    ({"terraform": {"sandbox": "none"}}, "at '/terraform/sandbox': value must be one of 'auto', 'bwrap', 'off'"),
    ({"ingress": {"tls": {"secret": "x"}}}, "at '/ingress/tls': additional properties 'secret' not allowed"),
    ({"queue": {"redisUrl": "localhost:6379"}}, "at '/queue/redisUrl'"),
])
def test_values_schema_refuses_typos_and_wrong_types(cluster: Cluster, tmp_path: Path, values: dict[str, Any],
                                                     message: str) -> None:
    with pytest.raises(HelmFailed, match="values don't meet the specifications of the schema") as refused:
        helm(cluster, tmp_path, values)
    assert message in str(refused.value)


def test_plain_manifest_passes_both_dry_runs_and_matches_the_chart(cluster: Cluster, checker: Cluster,
                                                                  tmp_path: Path) -> None:
    manifest = MANIFEST.read_text()
    checker.namespace("shipmate")
    lines = checker.dry_run_kubectl(manifest)
    assert len(lines) == len(kinds(manifest))
    assert all("(server dry run)" in line for line in lines), lines
    assert checker.dry_run_client(manifest) == kinds(manifest)

    workload = one(manifest, "StatefulSet")
    server_rules(workload)
    pdb = one(manifest, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == workload["spec"]["selector"]["matchLabels"]
    # The same pod, whichever way it is deployed: probes, limits and security settings agree.
    chart_workload = one(helm(cluster, tmp_path).manifest, "StatefulSet")
    [ours], [theirs] = workload["spec"]["template"]["spec"]["containers"], \
        chart_workload["spec"]["template"]["spec"]["containers"]
    for key in ("args", "ports", "resources", "securityContext", *PROBES):
        assert ours[key] == theirs[key], key
    assert env_of(ours) == env_of(theirs)
    for key in ("terminationGracePeriodSeconds", "securityContext"):
        assert workload["spec"]["template"]["spec"][key] == chart_workload["spec"]["template"]["spec"][key], key


def test_every_value_is_documented_in_the_charts_readme() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    table = (CHART / "README.md").read_text().split("## Values", 1)[1]
    cells = [cell.strip() for line in table.splitlines() if line.startswith("|") for cell in line.split("|")[1:2]]
    documented = {token for cell in cells for token in re.findall(r"`([^`]+)`", cell)}
    missing = []
    for key, value in values.items():
        names = [key] if not isinstance(value, dict) or not value or key in OPEN_MAPS else \
            [f"{key}.{sub}" for sub in value]
        for name in names:
            parent, _, leaf = name.rpartition(".")
            if name not in documented and not any(t.startswith(f"{name}.") for t in documented) \
                    and not (parent and f".{leaf}" in documented and any(t.startswith(parent) for t in documented)):
                missing.append(name)
    assert missing == []
