"""Three-way removal against the Kubernetes simulator, over real HTTP and real `kubectl`.

A field the prior release's state holds but the Spec dropped is removed, in the dry run and
in the apply, even when another field manager created the object (`kubectl create`, a
client-side `kubectl apply`, Kusion's create with field manager `kusion`); fields nobody
declared in the prior state (added by hand, or by a controller) stay.
"""

from __future__ import annotations

import copy
import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration, CoreV1Api
from kubernetes.config import load_kube_config

from bot.adapters.kubernetes import KubernetesRuntime, normalize
from bot.core.spec import EXT_IMPORT_ID, KUBERNETES, Resource, State
from fixtures.kube_sim import KubeSim
from tests.adapters.kubeproxy import ForwardingProxy


@pytest.fixture(scope="module")
def sim() -> Iterator[KubeSim]:
    with KubeSim.start(ready_delay=0.05) as running:
        yield running


@pytest.fixture(scope="module")
def kubeconfig_file(sim: KubeSim, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig")


@pytest.fixture
def runtime(kubeconfig_file: Path) -> Iterator[KubernetesRuntime]:
    with KubernetesRuntime.from_context({"KUBECONFIG_PATH": str(kubeconfig_file)}) as rt:
        yield rt


def kubectl(kubeconfig_file: Path, *args: str, stdin: str = "") -> str:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig_file), *args],
        check=True, capture_output=True, text=True, timeout=30, input=stdin,
    ).stdout


def res(manifest: dict[str, Any]) -> Resource:
    meta = manifest["metadata"]
    rid = ":".join([manifest["apiVersion"], manifest["kind"], meta["namespace"], meta["name"]])
    return Resource(rid, KUBERNETES, manifest)


def configmap(name: str, data: dict[str, str], **meta: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "default", **meta}, "data": data}


def deployment(name: str, env: dict[str, str], ports: list[int]) -> dict[str, Any]:
    labels = {"app": name}
    container = {"name": "main", "image": "registry.example/app:1",
                 "env": [{"name": k, "value": v} for k, v in env.items()],
                 "ports": [{"containerPort": p} for p in ports]}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": [container]}}},
    }


def live_raw(kubeconfig_file: Path, kind: str, name: str) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(kubectl(kubeconfig_file, "get", kind, name, "-o", "json", "--show-managed-fields"))
    return out


def managers(obj: dict[str, Any]) -> dict[str, str]:
    """Manager → operation of every managedFields entry."""
    return {e["manager"]: e["operation"] for e in obj["metadata"].get("managedFields") or ()}


def test_a_field_kubectl_created_is_removed_once_the_spec_drops_it(
    runtime: KubernetesRuntime, kubeconfig_file: Path
) -> None:
    before = configmap("created", {"keep": "1", "drop": "2"},
                       labels={"team": "a", "tier": "web"}, annotations={"note": "x"})
    kubectl(kubeconfig_file, "create", "-f", "-", stdin=json.dumps(before))
    prior = State((res(before),))
    after = configmap("created", {"keep": "1"}, labels={"team": "a"})

    dry = runtime.dry_run([res(after)], prior)[res(after).id]
    assert dry["data"] == {"keep": "1"}
    assert dry["metadata"]["labels"] == {"team": "a"}
    assert "annotations" not in dry["metadata"]
    assert live_raw(kubeconfig_file, "configmap", "created")["data"] == {"keep": "1", "drop": "2"}

    runtime.apply([res(after)], prior)
    live = live_raw(kubeconfig_file, "configmap", "created")
    assert live["data"] == {"keep": "1"}
    assert live["metadata"]["labels"] == {"team": "a"}
    assert "annotations" not in live["metadata"]
    assert managers(live)["shipmate"] == "Apply"
    # The dry run said what the apply did, and nothing is left to change.
    assert normalize(live) == dry
    assert runtime.dry_run([res(after)], State((res(after),))) == {res(after).id: normalize(live)}


def test_keyed_list_items_of_a_client_side_apply_are_removed(
    runtime: KubernetesRuntime, kubeconfig_file: Path
) -> None:
    before = deployment("csa", {"A": "1", "B": "2"}, [8080, 9090])
    kubectl(kubeconfig_file, "apply", "-f", "-", stdin=json.dumps(before))
    assert "kubectl-client-side-apply" in managers(live_raw(kubeconfig_file, "deployment", "csa"))
    prior = State((res(before),))
    after = deployment("csa", {"A": "1"}, [8080])

    dry = runtime.dry_run([res(after)], prior)[res(after).id]
    container = dry["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert [p["containerPort"] for p in container["ports"]] == [8080]

    runtime.apply([res(after)], prior)
    live = live_raw(kubeconfig_file, "deployment", "csa")
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "A", "value": "1"}]
    assert [p["containerPort"] for p in container["ports"]] == [8080]
    assert normalize(live) == dry


def test_kusions_create_and_fields_added_outside_the_spec(
    runtime: KubernetesRuntime, kubeconfig_file: Path
) -> None:
    before = configmap("kusion-made", {"keep": "1", "drop": "2"})
    config = Configuration()
    load_kube_config(str(kubeconfig_file), client_configuration=config, persist_config=False)
    with ApiClient(config) as client:
        CoreV1Api(client).create_namespaced_config_map("default", before, field_manager="kusion")
    kubectl(kubeconfig_file, "annotate", "configmap", "kusion-made", "by-hand=yes")
    prior = State((res(before),))
    after = configmap("kusion-made", {"keep": "1"})

    runtime.apply([res(after)], prior)
    live = live_raw(kubeconfig_file, "configmap", "kusion-made")
    assert live["data"] == {"keep": "1"}
    # Not in the prior state: someone else's, left alone.
    assert live["metadata"]["annotations"] == {"by-hand": "yes"}


def test_an_adopted_prior_is_not_a_third_input(
    runtime: KubernetesRuntime, kubeconfig_file: Path
) -> None:
    made = configmap("adopted", {"keep": "1", "extra": "2"})
    kubectl(kubeconfig_file, "create", "-f", "-", stdin=json.dumps(made))
    live = normalize(live_raw(kubeconfig_file, "configmap", "adopted"))
    # An imported resource without a release takes the live object as its prior.
    adopted = State((Resource(res(made).id, KUBERNETES, copy.deepcopy(live),
                              extensions={EXT_IMPORT_ID: res(made).id}),))
    planned = res(configmap("adopted", {"keep": "1"}))

    assert runtime.dry_run([planned], adopted)[planned.id]["data"] == {"keep": "1", "extra": "2"}
    runtime.apply([planned], adopted)
    assert live_raw(kubeconfig_file, "configmap", "adopted")["data"] == {"keep": "1", "extra": "2"}


class _RacingProxy(ForwardingProxy):
    """Forwards to the simulator; before the first JSON patch passes, `race` changes the object."""

    race: Any = None
    patches = 0
    reads: list[str] = []

    def intercept(self) -> tuple[int, bytes] | None:
        if self.command == "GET":
            type(self).reads.append(self.path)
        if self.command == "PATCH" and "json-patch" in (self.headers.get("Content-Type") or ""):
            type(self).patches += 1
            if type(self).patches == 1:
                type(self).race()
        return None


def test_a_takeover_that_loses_a_race_reads_again(sim: KubeSim, kubeconfig_file: Path) -> None:
    before = configmap("raced", {"keep": "1", "drop": "2"})
    kubectl(kubeconfig_file, "create", "-f", "-", stdin=json.dumps(before))
    handler = type("Proxy", (_RacingProxy,), {
        "upstream": sim.url, "patches": 0,
        "race": staticmethod(lambda: kubectl(kubeconfig_file, "annotate", "configmap", "raced", "late=yes")),
    })
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        doc = sim.kubeconfig()
        doc["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{server.server_address[1]}"
        with KubernetesRuntime.from_context({"KUBECONFIG_CONTENT": doc}) as rt:
            rt.apply([res(configmap("raced", {"keep": "1"}))], State((res(before),)))
    finally:
        server.shutdown()
        server.server_close()
    assert handler.patches == 2  # refused once (the object had changed), then read and sent again
    live = live_raw(kubeconfig_file, "configmap", "raced")
    assert live["data"] == {"keep": "1"}
    assert live["metadata"]["annotations"] == {"late": "yes"}


def test_a_custom_resource_definition_loses_what_the_spec_dropped(
    runtime: KubernetesRuntime, kubeconfig_file: Path
) -> None:
    def crd(**meta: dict[str, str]) -> dict[str, Any]:
        return {
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "sprockets.example.net", **meta},
            "spec": {
                "group": "example.net", "scope": "Namespaced",
                "names": {"plural": "sprockets", "singular": "sprocket", "kind": "Sprocket"},
                "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                    "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}],
            },
        }

    before = crd(labels={"team": "a"}, annotations={"note": "x"})
    kubectl(kubeconfig_file, "create", "-f", "-", stdin=json.dumps(before))
    rid = "apiextensions.k8s.io/v1:CustomResourceDefinition:sprockets.example.net"
    runtime.apply([Resource(rid, KUBERNETES, crd(labels={"team": "a"}))],
                  State((Resource(rid, KUBERNETES, before),)))
    live = live_raw(kubeconfig_file, "customresourcedefinition", "sprockets.example.net")
    assert live["metadata"]["labels"] == {"team": "a"}
    assert "annotations" not in live["metadata"]


def test_an_unchanged_resource_costs_no_read_for_a_takeover(sim: KubeSim, kubeconfig_file: Path) -> None:
    made = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "steady"}, "data": {"a": "1"}}
    kubectl(kubeconfig_file, "create", "-n", "default", "-f", "-", stdin=json.dumps(made))
    steady = Resource("v1:ConfigMap:default:steady", KUBERNETES, made)  # no namespace written
    handler = type("Proxy", (_RacingProxy,), {"upstream": sim.url, "patches": 0, "reads": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        doc = sim.kubeconfig()
        doc["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{server.server_address[1]}"
        with KubernetesRuntime.from_context({"KUBECONFIG_CONTENT": doc}) as rt:
            rt.dry_run([steady], State((steady,)))
            rt.apply([steady], State((steady,)))
    finally:
        server.shutdown()
        server.server_close()
    assert not [p for p in handler.reads if p.endswith("/configmaps/steady")]
    assert handler.patches == 0
