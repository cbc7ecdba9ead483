"""kubectl against the Kubernetes API simulator: apply --server-side, get, wait, delete, conflicts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fixtures.kube_sim import KubeSim

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"

APP = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, team: storefront}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: shop
spec:
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  mode: prod
"""

CRD = """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer}
"""


@pytest.fixture(scope="module")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., subprocess.CompletedProcess[str]]]:
    home = tmp_path_factory.mktemp("kubectl")
    with KubeSim.start(ready_delay=0.1) as sim:
        kubeconfig = sim.write_kubeconfig(home / "config")
        env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin")}

        def run(*args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
            result = subprocess.run([KUBECTL, "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "cache"),
                                     *args], input=stdin, capture_output=True, text=True, env=env, timeout=60)
            if check and result.returncode != 0:
                raise AssertionError(f"kubectl {' '.join(args)} failed: {result.stderr}")
            return result

        yield run


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    return str(path)


def test_apply_get_wait_and_delete(kube: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    applied = kube("apply", "--server-side", "--field-manager", "shipmate", "-f", write(tmp_path, APP))
    assert applied.stdout.splitlines() == ["namespace/shop serverside-applied",
                                           "deployment.apps/web serverside-applied",
                                           "service/web serverside-applied",
                                           "configmap/settings serverside-applied"]
    waited = kube("wait", "--for=condition=Available", "deployment/web", "-n", "shop", "--timeout=20s")
    assert waited.stdout.strip() == "deployment.apps/web condition met"
    table = kube("get", "deploy", "web", "-n", "shop").stdout.splitlines()
    assert table[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table[1].split()[:4] == ["web", "2/2", "2", "2"]
    pods = kube("get", "pods", "-n", "shop", "-l", "app=web", "-o", "json")
    assert [p["status"]["phase"] for p in json.loads(pods.stdout)["items"]] == ["Running", "Running"]
    service = json.loads(kube("get", "svc/web", "-n", "shop", "-o", "json").stdout)
    assert service["spec"]["clusterIP"].startswith("10.96.")
    nodes = kube("get", "nodes").stdout.splitlines()
    assert nodes[1].split()[:3] == ["kube-sim-node", "Ready", "control-plane"]
    short = kube("get", "cm", "settings", "-n", "shop", "-o", "jsonpath={.data.mode}")
    assert short.stdout == "prod"
    assert kube("scale", "deployment/web", "--replicas=3", "-n", "shop").stdout.strip() == \
        "deployment.apps/web scaled"
    kube("rollout", "status", "deployment/web", "-n", "shop", "--timeout=20s")
    assert kube("get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.status.readyReplicas}").stdout == "3"
    deleted = kube("delete", "deployment", "web", "-n", "shop")
    assert deleted.stdout.strip() == 'deployment.apps "web" deleted'
    missing = kube("get", "deployment", "web", "-n", "shop", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): deployments.apps "web" not found'
    kube("delete", "namespace", "shop")
    assert kube("get", "namespace", "shop", check=False).returncode == 1


def test_conflicts_force_and_field_removal(kube: Callable[..., subprocess.CompletedProcess[str]],
                                          tmp_path: Path) -> None:
    kube("create", "-f", "-", stdin="apiVersion: v1\nkind: Namespace\nmetadata: {name: tools}\n")
    config = APP.split("---\n")[-1].replace("shop", "tools")
    kube("apply", "--server-side", "--field-manager", "shipmate", "-f", write(tmp_path, config))
    other = config.replace("mode: prod", "mode: debug")
    conflict = kube("apply", "--server-side", "--field-manager", "someone-else", "-f", write(tmp_path, other),
                    check=False)
    assert conflict.returncode == 1
    assert 'conflict with "shipmate"' in conflict.stderr and ".data.mode" in conflict.stderr
    kube("apply", "--server-side", "--field-manager", "someone-else", "--force-conflicts", "-f",
         write(tmp_path, other))
    assert kube("get", "cm", "settings", "-n", "tools", "-o", "jsonpath={.data.mode}").stdout == "debug"
    extended = other.replace("  mode: debug", "  mode: debug\n  extra: \"1\"")
    kube("apply", "--server-side", "--field-manager", "someone-else", "-f", write(tmp_path, extended))
    kube("apply", "--server-side", "--field-manager", "someone-else", "-f", write(tmp_path, other))
    data = json.loads(kube("get", "cm", "settings", "-n", "tools", "-o", "json").stdout)["data"]
    assert data == {"mode": "debug"}


def test_dry_run_strict_validation_and_client_side_apply(kube: Callable[..., subprocess.CompletedProcess[str]],
                                                         tmp_path: Path) -> None:
    kube("apply", "-f", "-", stdin="apiVersion: v1\nkind: Namespace\nmetadata: {name: lab}\n")
    config = APP.split("---\n")[-1].replace("shop", "lab")
    dry = kube("apply", "--server-side", "--dry-run=server", "-f", write(tmp_path, config))
    assert dry.stdout.strip() == "configmap/settings serverside-applied (server dry run)"
    assert kube("get", "cm", "settings", "-n", "lab", check=False).returncode == 1
    typo = config.replace("\ndata:", "\ndta:")
    rejected = kube("apply", "--server-side", "-f", write(tmp_path, typo), check=False)
    assert rejected.returncode == 1 and 'unknown field "dta"' in rejected.stderr
    created = kube("apply", "-f", write(tmp_path, config))
    assert created.stdout.strip() == "configmap/settings created"
    changed = kube("apply", "-f", write(tmp_path, config.replace("prod", "staging")))
    assert changed.stdout.strip() == "configmap/settings configured"
    assert kube("get", "cm", "settings", "-n", "lab", "-o", "jsonpath={.data.mode}").stdout == "staging"


def test_custom_resources_and_failed_rollouts(kube: Callable[..., subprocess.CompletedProcess[str]],
                                              tmp_path: Path) -> None:
    kube("apply", "--server-side", "-f", write(tmp_path, CRD))
    kube("wait", "--for=condition=Established", "crd/gadgets.example.com", "--timeout=10s")
    gadget = "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1, namespace: default}\nspec: {size: 7}\n"
    assert kube("apply", "--server-side", "-f", write(tmp_path, gadget)).stdout.strip() == \
        "gadget.example.com/g1 serverside-applied"
    rows = kube("get", "gd").stdout.splitlines()
    assert rows[0].split() == ["NAME", "SIZE", "AGE"] and rows[1].split()[:2] == ["g1", "7"]
    broken = APP.split("---\n")[1].replace("shop", "default").replace("nginx:1.25", "nginx:fail")
    kube("apply", "--server-side", "-f", write(tmp_path, broken))
    timed_out = kube("wait", "--for=condition=Available", "deployment/web", "--timeout=1s", check=False)
    assert timed_out.returncode == 1 and "timed out" in timed_out.stderr


def test_client_side_apply_patches_containers_by_name(kube: Callable[..., subprocess.CompletedProcess[str]],
                                                      tmp_path: Path) -> None:
    template = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: csa, namespace: default}
spec:
  selector: {matchLabels: {app: csa}}
  template:
    metadata: {labels: {app: csa}}
    spec:
      containers: CONTAINERS
"""
    first = ('[{name: a, image: "nginx:1", env: [{name: "X", value: "1"}, {name: "Y", value: "2"}]}, '
             '{name: b, image: "busybox:1"}]')
    second = '[{name: c, image: "redis:7"}, {name: a, image: "nginx:2", env: [{name: "Y", value: "3"}]}]'
    kube("apply", "-f", write(tmp_path, template.replace("CONTAINERS", first)))
    kube("apply", "-f", write(tmp_path, template.replace("CONTAINERS", second)))
    containers = json.loads(kube("get", "deployment", "csa", "-o", "json").stdout)["spec"]["template"]["spec"][
        "containers"]
    assert [(c["name"], c["image"], c.get("env")) for c in containers] == [
        ("c", "redis:7", None), ("a", "nginx:2", [{"name": "Y", "value": "3"}])]
