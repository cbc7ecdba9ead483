"""Server-side apply, CRDs and watch on the Kubernetes API simulator, through DynamicClient."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config, dynamic, watch
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

from fixtures.kube_sim import KubeSim


@pytest.fixture(scope="module")
def sim() -> Iterator[KubeSim]:
    with KubeSim.start(ready_delay=0.1) as running:
        yield running


@pytest.fixture(scope="module")
def api_client(sim: KubeSim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(str(sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")))
    yield api
    api.close()


@pytest.fixture
def dyn(api_client: client.ApiClient, tmp_path: Path) -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "discovery.json"))


_counter = iter(range(1, 10_000))


@pytest.fixture
def ns(api_client: client.ApiClient) -> str:
    name = f"a{next(_counter)}"
    client.CoreV1Api(api_client).create_namespace({"metadata": {"name": name}})
    return name


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def failure(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(DynamicApiError) as info:
        call()
    return info.value.status, json.loads(info.value.body)


def deployment(name: str, replicas: int | None = 2, env: list[dict[str, str]] | None = None,
               containers: list[str] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [
            {"name": c, "image": f"{c}:1", **({"env": env} if env and i == 0 else {})}
            for i, c in enumerate(containers or ["app"])]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, **({"labels": labels} if labels else {})}, "spec": spec}


def managers(obj: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["manager"], m["operation"]): m["fieldsV1"] for m in obj.to_dict()["metadata"]["managedFields"]}


def deployments(dyn: dynamic.DynamicClient) -> Any:
    return dyn.resources.get(api_version="apps/v1", kind="Deployment")


def configmaps(dyn: dynamic.DynamicClient) -> Any:
    return dyn.resources.get(api_version="v1", kind="ConfigMap")


# --- apply basics ---------------------------------------------------------------------------------------

def test_apply_creates_when_absent_and_records_the_manager(dyn: dynamic.DynamicClient, ns: str) -> None:
    created = deployments(dyn).server_side_apply(
        body=deployment("web", env=[{"name": "MODE", "value": "prod"}]), namespace=ns, field_manager="shipmate")
    assert (created.metadata.generation, created.spec.replicas) == (1, 2)
    entry = created.to_dict()["metadata"]["managedFields"][0]
    assert {k: entry[k] for k in ("manager", "operation", "apiVersion", "fieldsType")} == {
        "manager": "shipmate", "operation": "Apply", "apiVersion": "apps/v1", "fieldsType": "FieldsV1"}
    assert entry["fieldsV1"] == {"f:spec": {
        "f:replicas": {},
        "f:selector": {},
        "f:template": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:containers": {
            'k:{"name":"app"}': {".": {}, "f:env": {'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}},
                                 "f:image": {}, "f:name": {}}}}}}}
    again = deployments(dyn).server_side_apply(body=deployment("web", replicas=5), namespace=ns,
                                               field_manager="shipmate")
    assert (again.metadata.generation, again.spec.replicas) == (2, 5)


def test_reapplying_the_same_configuration_is_a_no_op(dyn: dynamic.DynamicClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    first = configmaps(dyn).server_side_apply(body=body, namespace=ns, field_manager="shipmate")
    second = configmaps(dyn).server_side_apply(body=body, namespace=ns, field_manager="shipmate")
    assert second.metadata.resourceVersion == first.metadata.resourceVersion
    assert second.metadata.managedFields[0].time == first.metadata.managedFields[0].time


def test_apply_dry_run_is_not_persisted(dyn: dynamic.DynamicClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d"}, "data": {"a": "1"}}
    preview = configmaps(dyn).server_side_apply(body=body, namespace=ns, field_manager="shipmate", dry_run="All")
    assert preview.data.a == "1" and preview.metadata.uid
    assert failure(lambda: configmaps(dyn).get(name="d", namespace=ns))[0] == 404
    live = configmaps(dyn).server_side_apply(body=body, namespace=ns, field_manager="shipmate")
    changed = dict(body, data={"a": "2"})
    preview = configmaps(dyn).server_side_apply(body=changed, namespace=ns, field_manager="shipmate",
                                                dry_run="All")
    assert preview.data.a == "2"
    after = configmaps(dyn).get(name="d", namespace=ns)
    assert after.data.a == "1" and after.metadata.resourceVersion == live.metadata.resourceVersion


def test_apply_needs_a_field_manager(dyn: dynamic.DynamicClient, ns: str) -> None:
    code, body = failure(lambda: configmaps(dyn).server_side_apply(
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}, namespace=ns))
    assert (code, body["reason"]) == (400, "BadRequest")
    assert "fieldManager" in body["message"]


def test_apply_ignores_status_on_the_main_resource(dyn: dynamic.DynamicClient, ns: str) -> None:
    body = deployment("st", replicas=1)
    body["status"] = {"replicas": 42}
    applied = deployments(dyn).server_side_apply(body=body, namespace=ns, field_manager="shipmate")
    assert not applied.status or applied.status.replicas != 42
    assert "f:status" not in managers(applied)[("shipmate", "Apply")]


def test_apply_to_the_status_subresource_changes_only_the_status(dyn: dynamic.DynamicClient,
                                                                 api_client: client.ApiClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    dyn.resources.get(api_version="v1", kind="PersistentVolumeClaim").server_side_apply(
        body=body, namespace=ns, field_manager="shipmate")
    status_body = dict(body, spec={"accessModes": ["ReadOnlyMany"]},
                       status={"phase": "Lost", "conditions": [{"type": "Resizing", "status": "True"}]})
    response = requests.patch(
        f"{api_client.configuration.host}/api/v1/namespaces/{ns}/persistentvolumeclaims/data/status",
        params={"fieldManager": "volume-controller", "force": "true"}, data=json.dumps(status_body), timeout=10,
        headers={"Content-Type": "application/apply-patch+yaml"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"]["phase"] == "Lost" and result["spec"]["accessModes"] == ["ReadWriteOnce"]
    entry = [m for m in result["metadata"]["managedFields"] if m["manager"] == "volume-controller"][0]
    assert entry["subresource"] == "status" and set(entry["fieldsV1"]) == {"f:status"}


# --- conflicts and ownership ------------------------------------------------------------------------------

def test_conflict_with_an_updater_until_forced(dyn: dynamic.DynamicClient, ns: str) -> None:
    deployments(dyn).server_side_apply(body=deployment("c"), namespace=ns, field_manager="shipmate")
    deployments(dyn).patch(name="c", namespace=ns, body={"spec": {"replicas": 7}}, field_manager="kubectl-edit",
                           content_type="application/merge-patch+json")
    code, body = failure(lambda: deployments(dyn).server_side_apply(body=deployment("c", replicas=3), namespace=ns,
                                                                    field_manager="shipmate"))
    assert (code, body["reason"]) == (409, "Conflict")
    assert body["message"] == ('Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: '
                               ".spec.replicas")
    assert body["details"]["causes"] == [{"type": "FieldManagerConflict",
                                          "message": 'conflict with "kubectl-edit" using apps/v1',
                                          "field": ".spec.replicas"}]
    assert deployments(dyn).get(name="c", namespace=ns).spec.replicas == 7
    forced = deployments(dyn).server_side_apply(body=deployment("c", replicas=3), namespace=ns,
                                                field_manager="shipmate", force_conflicts=True)
    assert forced.spec.replicas == 3
    owners = managers(forced)
    assert ("kubectl-edit", "Update") not in owners
    assert "f:replicas" in owners[("shipmate", "Apply")]["f:spec"]


def test_same_value_is_shared_and_a_different_value_conflicts(dyn: dynamic.DynamicClient, ns: str) -> None:
    cms = configmaps(dyn)
    cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"},
                                "data": {"a": "1", "b": "2"}}, namespace=ns, field_manager="one")
    shared = cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"},
                                         "data": {"a": "1"}}, namespace=ns, field_manager="two")
    owners = managers(shared)
    assert owners[("one", "Apply")] == {"f:data": {"f:a": {}, "f:b": {}}}
    assert owners[("two", "Apply")] == {"f:data": {"f:a": {}}}
    code, body = failure(lambda: cms.server_side_apply(
        body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s"}, "data": {"a": "9", "b": "9"}},
        namespace=ns, field_manager="two"))
    assert code == 409
    assert body["message"] == ('Apply failed with 2 conflicts: conflicts with "one":\n- .data.a\n- .data.b')
    assert {c["field"] for c in body["details"]["causes"]} == {".data.a", ".data.b"}


def test_fields_dropped_from_the_configuration_are_removed(dyn: dynamic.DynamicClient, ns: str) -> None:
    full = deployment("rm", env=[{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                      containers=["app", "side"], labels={"team": "x", "tier": "web"})
    deployments(dyn).server_side_apply(body=full, namespace=ns, field_manager="shipmate")
    slim = deployment("rm", replicas=None, env=[{"name": "A", "value": "1"}], containers=["app"],
                      labels={"team": "x"})
    result = deployments(dyn).server_side_apply(body=slim, namespace=ns, field_manager="shipmate")
    assert result.metadata.labels.to_dict() == {"team": "x"}
    containers = result.spec.template.spec.containers
    assert [c.name for c in containers] == ["app"]
    assert [e.name for e in containers[0].env] == ["A"]
    assert result.spec.replicas == 1  # removed from the config, then defaulted by the server


def test_a_field_another_manager_owns_survives_removal(dyn: dynamic.DynamicClient, ns: str) -> None:
    cms = configmaps(dyn)
    cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "k"},
                                "data": {"a": "1", "b": "2"}}, namespace=ns, field_manager="one")
    cms.patch(name="k", namespace=ns, body={"data": {"c": "3"}}, field_manager="editor",
              content_type="application/merge-patch+json")
    cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "k"},
                                "data": {"b": "2"}}, namespace=ns, field_manager="two")
    result = cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "k"},
                                         "data": {}}, namespace=ns, field_manager="one")
    assert result.data.to_dict() == {"b": "2", "c": "3"}


def test_keyed_lists_merge_items_from_several_managers(dyn: dynamic.DynamicClient, ns: str) -> None:
    deployments(dyn).server_side_apply(body=deployment("m", containers=["app"]), namespace=ns,
                                       field_manager="shipmate")
    deployments(dyn).patch(name="m", namespace=ns, field_manager="injector", body={"spec": {"template": {"spec": {
        "containers": [{"name": "proxy", "image": "envoy:1"}]}}}})
    reapplied = deployments(dyn).server_side_apply(body=deployment("m", containers=["app", "extra"]), namespace=ns,
                                                   field_manager="shipmate")
    assert [c.name for c in reapplied.spec.template.spec.containers] == ["app", "proxy", "extra"]
    proxy_owner = managers(reapplied)[("injector", "Update")]
    assert 'k:{"name":"proxy"}' in proxy_owner["f:spec"]["f:template"]["f:spec"]["f:containers"]


def test_ports_are_keyed_by_port_and_protocol(dyn: dynamic.DynamicClient, ns: str) -> None:
    services = dyn.resources.get(api_version="v1", kind="Service")
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80},
                                                         {"name": "dns", "port": 53, "protocol": "UDP"}]}}
    applied = services.server_side_apply(body=body, namespace=ns, field_manager="shipmate")
    ports = managers(applied)[("shipmate", "Apply")]["f:spec"]["f:ports"]
    assert sorted(ports) == ['k:{"port":53,"protocol":"UDP"}', 'k:{"port":80,"protocol":"TCP"}']
    assert [p.targetPort for p in applied.spec.ports] == [80, 53]


# --- list and watch through DynamicClient -----------------------------------------------------------------

def test_dynamic_list_and_label_selector(dyn: dynamic.DynamicClient, ns: str) -> None:
    for name, tier in (("l1", "a"), ("l2", "b")):
        configmaps(dyn).create(body={"apiVersion": "v1", "kind": "ConfigMap",
                                     "metadata": {"name": name, "labels": {"tier": tier}}}, namespace=ns)
    listed = configmaps(dyn).get(namespace=ns, label_selector="tier=b")
    assert listed.kind == "ConfigMapList" and [i.metadata.name for i in listed.items] == ["l2"]


def test_dynamic_watch(dyn: dynamic.DynamicClient, ns: str) -> None:
    cms = configmaps(dyn)
    seed = cms.create(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w"}}, namespace=ns)
    seen: list[tuple[str, str]] = []
    started = threading.Event()

    def consume() -> None:
        watcher = watch.Watch()
        started.set()
        for event in cms.watch(namespace=ns, resource_version=seed.metadata.resourceVersion, timeout=3,
                               watcher=watcher):
            seen.append((event["type"], event["object"].metadata.name))
            if event["type"] == "DELETED":
                watcher.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    started.wait()
    cms.server_side_apply(body={"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "w2"}},
                          namespace=ns, field_manager="shipmate")
    cms.patch(name="w", namespace=ns, body={"data": {"x": "1"}})
    cms.delete(name="w", namespace=ns)
    thread.join(timeout=10)
    assert seen == [("ADDED", "w2"), ("MODIFIED", "w"), ("DELETED", "w")]


# --- custom resources ---------------------------------------------------------------------------------------

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.com"},
    "spec": {"group": "example.com", "scope": "Namespaced",
             "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
             "versions": [{
                 "name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                 "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                 "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                     "spec": {"type": "object", "required": ["size"], "properties": {
                         "size": {"type": "integer"},
                         "color": {"type": "string", "enum": ["red", "blue"]},
                         "tags": {"type": "array", "x-kubernetes-list-type": "map",
                                  "x-kubernetes-list-map-keys": ["key"],
                                  "items": {"type": "object", "properties": {"key": {"type": "string"},
                                                                             "value": {"type": "string"}}}}}},
                     "status": {"type": "object", "properties": {"phase": {"type": "string"}}}}}}}]},
}


def widget(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def test_crd_lifecycle_and_custom_resources(dyn: dynamic.DynamicClient, api_client: client.ApiClient,
                                            ns: str, tmp_path: Path) -> None:
    crds = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    crds.server_side_apply(body=WIDGET_CRD, field_manager="shipmate")
    established = wait_for(lambda: [c for c in (crds.get(name="widgets.example.com").status or {}).get(
        "conditions", []) if c["type"] == "Established" and c["status"] == "True"])
    assert established
    fresh = dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "fresh.json"))
    widgets = fresh.resources.get(api_version="example.com/v1", kind="Widget")
    assert widgets.short_names == ["wd"] and widgets.namespaced

    created = widgets.server_side_apply(body=widget("w", size=3, tags=[{"key": "a", "value": "1"}], junk=True),
                                        namespace=ns, field_manager="shipmate")
    assert created.spec.to_dict() == {"size": 3, "tags": [{"key": "a", "value": "1"}]}  # unknown field pruned
    assert created.metadata.generation == 1
    widgets.patch(name="w", namespace=ns, field_manager="tagger", content_type="application/merge-patch+json",
                  body={"spec": {"tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]}})
    merged = widgets.server_side_apply(body=widget("w", size=4, tags=[{"key": "a", "value": "1"}]),
                                       namespace=ns, field_manager="shipmate")
    assert [t.key for t in merged.spec.tags] == ["a", "b"] and merged.metadata.generation == 3

    code, body = failure(lambda: widgets.server_side_apply(body=widget("bad", size="big"), namespace=ns,
                                                           field_manager="shipmate"))
    assert (code, body["reason"]) == (422, "Invalid")
    assert body["details"]["causes"][0]["field"] == "spec.size"
    code, body = failure(lambda: widgets.server_side_apply(body=widget("bad", color="green"), namespace=ns,
                                                           field_manager="shipmate"))
    assert code == 422
    assert {c["reason"] for c in body["details"]["causes"]} == {"FieldValueRequired", "FieldValueNotSupported"}
    code, _ = failure(lambda: widgets.patch(name="w", namespace=ns, body={"spec": {"size": 1}}))
    assert code == 415  # strategic merge patch is not supported for custom resources

    status = widgets.status.patch(name="w", namespace=ns, body={"status": {"phase": "Ready"}},
                                  content_type="application/merge-patch+json")
    assert status.status.phase == "Ready" and status.metadata.generation == 3
    ignored = widgets.patch(name="w", namespace=ns, body={"status": {"phase": "Lost"}},
                            content_type="application/merge-patch+json")
    assert ignored.status.phase == "Ready"

    crds.delete(name="widgets.example.com")
    wait_for(lambda: not crds.get(field_selector="metadata.name=widgets.example.com").items)
    gone = dynamic.DynamicClient(api_client, cache_file=str(tmp_path / "gone.json"))
    with pytest.raises(ResourceNotFoundError):
        gone.resources.get(api_version="example.com/v1", kind="Widget")
    response = requests.get(f"{api_client.configuration.host}/apis/example.com/v1/namespaces/{ns}/widgets",
                            timeout=10)
    assert response.status_code == 404 and response.json()["reason"] == "NotFound"
