"""The Kubernetes runtime against the project's Kubernetes API simulator, over real HTTP.

Covers read / dry-run / apply / delete of the common kinds, a CRD and its custom resource in
one batch, namespace defaulting and mismatches, API rejections, readiness and its timeout,
and concurrent applies from many threads.
"""

from __future__ import annotations

import copy
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, BatchV1Api, Configuration
from kubernetes.config import load_kube_config

from bot.adapters.kubernetes import KubernetesRuntime, normalize
from bot.core.errors import RuntimeFailed
from bot.core.runtimes import hearing_waits
from bot.core.spec import KUBERNETES, Resource, State
from bot.settings import KubernetesOptions
from fixtures.kube_sim import KubeSim
from tests.adapters.kubeproxy import ForwardingProxy

EMPTY = State()


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


def new_config(kubeconfig_file: Path) -> Configuration:
    config = Configuration()
    load_kube_config(str(kubeconfig_file), client_configuration=config, persist_config=False)
    return config


def kubectl(kubeconfig_file: Path, *args: str) -> str:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig_file), *args],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout


def res(manifest: dict[str, Any], *depends_on: str) -> Resource:
    """A Spec resource with Kusion's ID for the manifest."""
    meta = manifest["metadata"]
    parts = [manifest["apiVersion"], manifest["kind"]]
    if meta.get("namespace"):
        parts.append(meta["namespace"])
    parts.append(meta["name"])
    return Resource(":".join(parts), KUBERNETES, manifest, tuple(depends_on))


def namespace(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def configmap(ns: str, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": ns}, "data": data}


def deployment(ns: str, name: str, image: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": image,
                                         "ports": [{"containerPort": 8080}]}]},
            },
        },
    }


def job(ns: str, name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"backoffLimit": 0, "template": {"spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "main", "image": image, "command": ["true"]}]}}},
    }


def app_stack(ns: str) -> list[Resource]:
    """Namespace, ConfigMap, Secret, Deployment, Service, Job, CronJob and Ingress."""
    nsr = res(namespace(ns))
    return [
        nsr,
        res(configmap(ns, "settings", {"LOG_LEVEL": "info"}), nsr.id),
        res({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": "creds", "namespace": ns},
             "stringData": {"password": "s3cret"}}, nsr.id),
        res(deployment(ns, "web", "nginx:1.27"), nsr.id),
        res({"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "web", "namespace": ns},
             "spec": {"selector": {"app": "web"},
                      "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}, nsr.id),
        res(job(ns, "migrate", "busybox:1.36"), nsr.id),
        res({"apiVersion": "batch/v1", "kind": "CronJob",
             "metadata": {"name": "nightly", "namespace": ns},
             "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
                 "restartPolicy": "OnFailure",
                 "containers": [{"name": "main", "image": "busybox:1.36"}]}}}}}}, nsr.id),
        res({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
             "metadata": {"name": "web", "namespace": ns},
             "spec": {"rules": [{"host": "web.example.com", "http": {"paths": [{
                 "path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}},
            nsr.id),
    ]


SERVER_FIELDS = ("resourceVersion", "creationTimestamp", "uid", "generation", "managedFields")


def test_lifecycle_of_the_common_kinds(runtime: KubernetesRuntime, kubeconfig_file: Path) -> None:
    stack = app_stack("shop")
    ids = [r.id for r in stack]
    assert runtime.read(stack, EMPTY) == dict.fromkeys(ids)

    # Preview before anything exists: objects in the not-yet-existing namespace come back as
    # planned; the Namespace itself is dry-run by the server. Nothing is persisted.
    planned = runtime.dry_run(stack, EMPTY)
    assert sorted(planned) == sorted(ids)
    for r in stack:
        assert planned[r.id]["metadata"]["name"] == r.attributes["metadata"]["name"]
        assert "status" not in planned[r.id]
    assert runtime.read(stack, EMPTY) == dict.fromkeys(ids)

    applied = runtime.apply(stack[:1], EMPTY)
    applied.update(runtime.apply(stack[1:], EMPTY))
    assert applied == {r.id: r for r in stack}  # State records the planned manifests
    live = runtime.read(stack, EMPTY)
    for r in stack:
        obj = live[r.id]
        assert obj is not None, r.id
        assert "status" not in obj
        assert not set(SERVER_FIELDS) & set(obj["metadata"]), r.id
    assert live["v1:ConfigMap:shop:settings"]["data"] == {"LOG_LEVEL": "info"}
    assert kubectl(kubeconfig_file, "get", "configmap", "settings", "-n", "shop",
                   "-o", "jsonpath={.data.LOG_LEVEL}") == "info"

    # Nothing changed: the server's dry-run equals live (the preview says UnChanged).
    assert runtime.dry_run(stack, EMPTY) == live

    # A change shows up in the dry-run only, then in live after apply.
    changed = res(configmap("shop", "settings", {"LOG_LEVEL": "debug"}))
    assert runtime.dry_run([changed], EMPTY)[changed.id]["data"] == {"LOG_LEVEL": "debug"}
    assert runtime.read([changed], EMPTY)[changed.id]["data"] == {"LOG_LEVEL": "info"}
    runtime.apply([changed], EMPTY)
    assert runtime.read([changed], EMPTY)[changed.id]["data"] == {"LOG_LEVEL": "debug"}

    # Deleting what a State recorded needs only the IDs.
    recorded = [Resource(r.id, KUBERNETES, {}) for r in reversed(stack)]
    runtime.delete(recorded, State(tuple(recorded)))
    assert runtime.read(stack, EMPTY) == dict.fromkeys(ids)
    runtime.delete(stack, EMPTY)  # absent objects are not an error


def test_fields_shipmate_stops_declaring_are_removed(runtime: KubernetesRuntime) -> None:
    first = res(configmap("default", "owned", {"a": "1", "b": "2"}))
    runtime.apply([first], EMPTY)
    second = res(configmap("default", "owned", {"a": "1"}))
    assert runtime.dry_run([second], EMPTY)[second.id]["data"] == {"a": "1"}
    runtime.apply([second], State((first,)))
    assert runtime.read([second], EMPTY)[second.id]["data"] == {"a": "1"}
    runtime.delete([second], EMPTY)


def test_crd_and_its_custom_resource_in_one_batch(runtime: KubernetesRuntime) -> None:
    crd = res({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                      "listKind": "WidgetList"},
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                "openAPIV3Schema": {"type": "object", "properties": {"spec": {
                    "type": "object", "properties": {"size": {"type": "integer"}}}}}}}],
        },
    })
    widget = res({"apiVersion": "example.com/v1", "kind": "Widget",
                  "metadata": {"name": "w1", "namespace": "default"}, "spec": {"size": 3}},
                 crd.id)
    batch = [widget, crd]
    # Preview: the kind is unknown, so there is no live object and the dry-run is the plan.
    assert runtime.read(batch, EMPTY) == {crd.id: None, widget.id: None}
    preview = runtime.dry_run(batch, EMPTY)
    assert preview[widget.id] == widget.attributes
    assert preview[crd.id]["spec"]["names"]["kind"] == "Widget"

    assert runtime.apply(batch, EMPTY) == {crd.id: crd, widget.id: widget}
    live = runtime.read(batch, EMPTY)
    assert live[widget.id]["spec"] == {"size": 3}
    runtime.wait_ready(crd, 30)  # returns once Established; the bound only matters on a loaded machine

    # A second Widget applied on its own (the executor's way) finds the kind at once.
    other = res({"apiVersion": "example.com/v1", "kind": "Widget",
                 "metadata": {"name": "w2", "namespace": "default"}, "spec": {"size": 1}})
    runtime.apply([other], EMPTY)
    runtime.delete([crd, widget, other], EMPTY)
    # A CRD goes once its instances are cleaned up (its finalizer), as on a real API server.
    deadline = time.monotonic() + 30
    while runtime.read([crd], EMPTY) != {crd.id: None} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert runtime.read([crd], EMPTY) == {crd.id: None}


def test_custom_resource_applied_after_its_crd_in_separate_calls(
    runtime: KubernetesRuntime,
) -> None:
    crd = res({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.org"},
        "spec": {
            "group": "example.org", "scope": "Cluster",
            "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
            "versions": [{"name": "v1alpha1", "served": True, "storage": True, "schema": {
                "openAPIV3Schema": {"type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True}}}],
        },
    })
    gadget = res({"apiVersion": "example.org/v1alpha1", "kind": "Gadget",
                  "metadata": {"name": "g1"}, "spec": {"color": "red"}})
    # A runtime that looked the kind up (and missed) before the CRD existed.
    assert runtime.read([gadget], EMPTY) == {gadget.id: None}
    runtime.apply([crd], EMPTY)
    runtime.apply([gadget], EMPTY)
    assert runtime.read([gadget], EMPTY)[gadget.id]["spec"] == {"color": "red"}
    runtime.delete([gadget, crd], EMPTY)


def test_custom_resource_without_a_crd_fails_clearly(runtime: KubernetesRuntime) -> None:
    thing = res({"apiVersion": "nowhere.example.net/v1", "kind": "Thing",
                 "metadata": {"name": "t", "namespace": "default"}})
    with pytest.raises(RuntimeFailed, match="nowhere.example.net/v1:Thing:default:t: the API "
                       "server has no kind Thing in nowhere.example.net/v1"):
        runtime.apply([thing], EMPTY)


def test_namespace_defaults_and_mismatch(runtime: KubernetesRuntime) -> None:
    manifest = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "plain"},
                "data": {"k": "v"}}
    plain = Resource("v1:ConfigMap:plain", KUBERNETES, manifest)
    runtime.apply([plain], EMPTY)
    assert runtime.read([plain], EMPTY)[plain.id]["metadata"]["namespace"] == "default"
    runtime.delete([plain], EMPTY)

    wrong = Resource("v1:ConfigMap:prod:cm", KUBERNETES, configmap("staging", "cm", {}))
    with pytest.raises(RuntimeFailed, match=r"v1:ConfigMap:prod:cm: the ID's namespace \(prod\) "
                       "does not match metadata.namespace 'staging'"):
        runtime.apply([wrong], EMPTY)
    cluster = Resource("v1:Namespace:x:y", KUBERNETES, namespace("y"))
    with pytest.raises(RuntimeFailed, match="Namespace is cluster-scoped"):
        runtime.dry_run([cluster], EMPTY)
    renamed = Resource("v1:ConfigMap:default:a", KUBERNETES, configmap("default", "b", {}))
    with pytest.raises(RuntimeFailed, match="the ID says metadata.name 'a', the manifest 'b'"):
        runtime.read([renamed], EMPTY)


def test_invalid_manifest_is_rejected_with_the_servers_message(runtime: KubernetesRuntime) -> None:
    bad = deployment("default", "broken", "nginx:1.27")
    bad["spec"]["replicas"] = -1
    del bad["spec"]["template"]["spec"]["containers"][0]["image"]
    r = res(bad)
    for call in (runtime.dry_run, runtime.apply):
        with pytest.raises(RuntimeFailed) as info:
            call([r], EMPTY)
        message = str(info.value)
        assert message.startswith("apps/v1:Deployment:default:broken: ")
        assert "(422 " in message
        assert 'Deployment.apps "broken" is invalid' in message
        assert "spec.replicas" in message
    assert runtime.read([r], EMPTY) == {r.id: None}


def test_batch_failure_reports_what_was_applied(runtime: KubernetesRuntime) -> None:
    good = res(configmap("default", "fine", {"a": "1"}))
    bad_manifest = deployment("default", "bad", "nginx:1.27")
    bad_manifest["spec"]["replicas"] = -3
    bad = res(bad_manifest)
    with pytest.raises(RuntimeFailed) as info:
        runtime.apply([good, bad], EMPTY)
    assert info.value.partial == {good.id: good}
    assert str(info.value).startswith("apps/v1:Deployment:default:bad: apply rejected")
    runtime.delete([good], EMPTY)


def test_readiness_of_deployment_and_job(runtime: KubernetesRuntime) -> None:
    web = res(deployment("default", "ready-web", "nginx:1.27", replicas=2))
    batch = res(job("default", "ready-job", "busybox:1.36"))
    runtime.apply([web, batch], EMPTY)
    runtime.wait_ready(web, 20)
    runtime.wait_ready(batch, 20)
    for kind_ready in (res(configmap("default", "never-applied", {})),):
        runtime.wait_ready(kind_ready, 0.1)  # kinds without a rule are ready at once
    runtime.delete([web, batch], EMPTY)


def test_readiness_timeout_names_the_resource_and_its_status(runtime: KubernetesRuntime) -> None:
    stuck = res(deployment("default", "stuck", "registry.example/app:fail"))
    runtime.apply([stuck], EMPTY)
    with pytest.raises(RuntimeFailed) as info:
        runtime.wait_ready(stuck, 1.0)
    message = str(info.value)
    assert message.startswith("apps/v1:Deployment:default:stuck: not ready after 1s (")
    assert "available" in message and "last status: {" in message
    runtime.delete([stuck], EMPTY)


def test_a_wait_tells_what_the_resource_still_lacks(runtime: KubernetesRuntime) -> None:
    stuck = res(deployment("default", "stuck-told", "registry.example/app:fail"))
    runtime.apply([stuck], EMPTY)
    told: list[str] = []
    with hearing_waits(told.append), pytest.raises(RuntimeFailed):
        runtime.wait_ready(stuck, 1.0)
    assert told and "available" in told[-1]
    assert all(a != b for a, b in zip(told, told[1:], strict=False))  # a change is told once
    runtime.delete([stuck], EMPTY)


def test_concurrent_applies_from_many_threads(runtime: KubernetesRuntime) -> None:
    runtime.apply([res(namespace("many"))], EMPTY)
    maps = [res(configmap("many", f"cm-{i:02d}", {"i": str(i)})) for i in range(40)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda r: runtime.apply([r], EMPTY), maps))
    assert [next(iter(r)) for r in results] == [m.id for m in maps]
    live = runtime.read(maps, EMPTY)
    assert [live[m.id]["data"]["i"] for m in maps] == [str(i) for i in range(40)]
    runtime.delete(maps + [res(namespace("many"))], EMPTY)


def test_normalize_drops_only_server_fields() -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "status": {"x": 1},
           "metadata": {"name": "a", "uid": "u", "resourceVersion": "3", "generation": 2,
                        "creationTimestamp": "t", "managedFields": [], "selfLink": "/x",
                        "labels": {"k": "v"}, "annotations": {"a": "b"}}}
    before = copy.deepcopy(obj)
    assert normalize(obj) == {"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "a", "labels": {"k": "v"},
                                           "annotations": {"a": "b"}}}
    assert obj == before


def test_failed_job_fails_the_wait_at_once(runtime: KubernetesRuntime, kubeconfig_file: Path) -> None:
    failing = res(job("default", "doomed", "registry.example/migrate:fail"))
    runtime.apply([failing], EMPTY)
    # Report the failure the way the Job controller does: through the status subresource.
    with ApiClient(new_config(kubeconfig_file)) as api:
        BatchV1Api(api).patch_namespaced_job_status("doomed", "default", {"status": {
            "failed": 1, "conditions": [{
                "type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit"}]}})
    with pytest.raises(RuntimeFailed, match="batch/v1:Job:default:doomed: not ready: job failed: "
                       "BackoffLimitExceeded: Job has reached the specified backoff limit"):
        runtime.wait_ready(failing, 30)
    runtime.delete([failing], EMPTY)


def test_progress_deadline_fails_the_wait_before_the_timeout(runtime: KubernetesRuntime) -> None:
    manifest = deployment("default", "deadline", "registry.example/app:fail")
    manifest["spec"]["progressDeadlineSeconds"] = 1
    stuck = res(manifest)
    runtime.apply([stuck], EMPTY)
    with pytest.raises(RuntimeFailed, match="apps/v1:Deployment:default:deadline: not ready: "
                       "progress deadline exceeded: ReplicaSet .* has timed out progressing"):
        runtime.wait_ready(stuck, 30)
    runtime.delete([stuck], EMPTY)


def test_runtime_from_kubeconfig_content_and_environment(
    kubeconfig_file: Path, tmp_path: Path
) -> None:
    default_ns = res(namespace("default"))
    content = {"KUBECONFIG_CONTENT": kubeconfig_file.read_text()}
    for context, options in ((content, KubernetesOptions()), ({}, KubernetesOptions(kubeconfig=str(kubeconfig_file)))):
        with KubernetesRuntime.from_context(context, options) as rt:
            live = rt.read([default_ns], EMPTY)[default_ns.id]
            assert live is not None and live["metadata"]["name"] == "default"


def test_discovery_cache_is_private_to_the_runtime(kubeconfig_file: Path, tmp_path: Path) -> None:
    default_ns = res(namespace("default"))
    rt = KubernetesRuntime.from_context({"KUBECONFIG_PATH": str(kubeconfig_file)})
    rt.read([default_ns], EMPTY)
    scratch = rt.scratch_dir
    assert (scratch / "discovery.json").is_file()
    rt.close()
    assert not scratch.exists()


class _NoWatchProxy(ForwardingProxy):
    """Forwards to the simulator but answers every watch with 405, as some proxies do."""

    watches_refused = 0

    def intercept(self) -> tuple[int, bytes] | None:
        if "watch=true" not in self.path:
            return None
        type(self).watches_refused += 1
        return 405, json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                "reason": "MethodNotAllowed", "code": 405,
                                "message": "watch is not allowed here"}).encode()


def test_readiness_falls_back_to_polling_without_watch(sim: KubeSim, tmp_path: Path) -> None:
    handler = type("Proxy", (_NoWatchProxy,), {"upstream": sim.url, "watches_refused": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        doc = sim.kubeconfig()
        doc["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{server.server_address[1]}"
        with KubernetesRuntime.from_context({"KUBECONFIG_CONTENT": doc}) as rt:
            web = res(deployment("default", "polled", "nginx:1.27", replicas=2))
            stuck = res(deployment("default", "polled-stuck", "registry.example/app:fail"))
            rt.apply([web, stuck], EMPTY)
            rt.wait_ready(web, 20)
            with pytest.raises(RuntimeFailed, match="polled-stuck: not ready after 0.5s"):
                rt.wait_ready(stuck, 0.5)
            rt.delete([web, stuck], EMPTY)
        # At most one refusal per wait, then polling (the first wait needs no watch at all when
        # the Deployment is already available by then, as it can be on a loaded machine).
        assert 1 <= handler.watches_refused <= 2
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_api_server_is_a_clear_failure(tmp_path: Path) -> None:
    probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = probe.server_address[1]
    probe.server_close()  # nothing listens on this port any more
    doc = {"apiVersion": "v1", "kind": "Config", "current-context": "gone",
           "clusters": [{"name": "gone", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
           "users": [{"name": "gone", "user": {}}],
           "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "gone"}}]}
    with KubernetesRuntime.from_context({"KUBECONFIG_CONTENT": doc}) as rt:
        with pytest.raises(RuntimeFailed, match=f"cannot reach the Kubernetes API server at "
                           f"http://127.0.0.1:{port}"):
            rt.read([res(namespace("default"))], EMPTY)


def test_many_objects_of_one_kind_are_read_with_a_paged_list(runtime: KubernetesRuntime, sim: KubeSim) -> None:
    from bot.adapters.kubernetes.runtime import LIST_FROM, LIST_PAGE

    runtime.apply([res(namespace("listed"))], EMPTY)
    count = LIST_PAGE + LIST_FROM  # two pages
    maps = [res(configmap("listed", f"cm-{i:04d}", {"i": str(i)})) for i in range(count)]
    runtime.apply(maps[: count // 2], EMPTY)
    few = [res(deployment("listed", f"web-{i}", "nginx:1.25")) for i in range(3)]
    clash = Resource("v1:Namespace:other", KUBERNETES, {**namespace("other"),
                                                          "metadata": {"name": "other", "namespace": "x"}})
    before = sim.requests_served
    live = runtime.read([*maps, *few], EMPTY)
    # Two pages of ConfigMaps, and one GET for each Deployment.
    assert sim.requests_served - before == 2 + len(few)
    assert [rid for rid, obj in live.items() if obj is not None] == [m.id for m in maps[: count // 2]]
    first = live[maps[0].id]
    assert first is not None
    assert first["apiVersion"] == "v1" and first["kind"] == "ConfigMap" and first["data"] == {"i": "0"}
    assert "resourceVersion" not in first["metadata"]
    assert first == runtime.read([maps[0]], EMPTY)[maps[0].id]
    # An ID the single read refuses is refused the same inside a listed batch.
    with pytest.raises(RuntimeFailed, match="Namespace is cluster-scoped"):
        runtime.read([*maps, clash], EMPTY)
    runtime.delete(maps[: count // 2], EMPTY)
