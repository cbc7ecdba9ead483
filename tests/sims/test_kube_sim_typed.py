"""The Kubernetes API simulator driven by the official typed client (CoreV1Api, AppsV1Api, ...)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config, watch

from fixtures.kube_sim import KubeSim

READY_DELAY = 0.15


@pytest.fixture(scope="module")
def sim() -> Iterator[KubeSim]:
    with KubeSim.start(ready_delay=READY_DELAY) as running:
        yield running


@pytest.fixture(scope="module")
def api_client(sim: KubeSim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[client.ApiClient]:
    path = sim.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    api = config.new_client_from_config(str(path))
    yield api
    api.close()


@pytest.fixture
def core(api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api_client)


@pytest.fixture
def batch(api_client: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api_client)


_counter = iter(range(1, 10_000))


@pytest.fixture
def ns(core: client.CoreV1Api) -> str:
    name = f"t{next(_counter)}"
    core.create_namespace({"metadata": {"name": name}})
    return name


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `check()` returns something truthy (the simulator's controllers are asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def error_of(call: Callable[[], Any]) -> tuple[int, dict[str, Any]]:
    with pytest.raises(client.ApiException) as info:
        call()
    return info.value.status, json.loads(info.value.body)


def deployment(name: str, image: str = "nginx:1.25", replicas: int = 2, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name, **labels}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "main", "image": image,
                                                       "ports": [{"containerPort": 8080}]}]}}},
    }


def condition(obj: Any, kind: str) -> str | None:
    for cond in (obj.status.conditions or []) if obj.status else []:
        if cond.type == kind:
            return str(cond.status)
    return None


# --- discovery and version ---------------------------------------------------------------------------

def test_version_validates_against_the_strict_client_model(api_client: client.ApiClient) -> None:
    info = client.VersionApi(api_client).get_code()
    assert (info.major, info.minor, info.git_version) == ("1", "33", "v1.33.0")
    assert info.platform == "linux/amd64"


def test_discovery_lists_groups_resources_short_names_and_subresources(api_client: client.ApiClient) -> None:
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert {"apps", "batch", "networking.k8s.io", "rbac.authorization.k8s.io", "apiextensions.k8s.io"} <= groups
    core_resources = {r.name: r for r in client.CoreV1Api(api_client).get_api_resources().resources}
    assert core_resources["configmaps"].short_names == ["cm"]
    assert core_resources["namespaces"].namespaced is False
    assert "pods/status" in core_resources
    apps_resources = {r.name: r for r in client.AppsV1Api(api_client).get_api_resources().resources}
    assert apps_resources["deployments"].short_names == ["deploy"]
    assert apps_resources["deployments"].categories == ["all"]
    assert set(apps_resources["deployments"].verbs) >= {"create", "get", "list", "watch", "patch", "delete"}


def test_one_ready_node_runs_the_pods(core: client.CoreV1Api) -> None:
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == ["kube-sim-node"]
    assert nodes[0].status.node_info.kubelet_version == "v1.33.0"
    assert [(c.type, c.status) for c in nodes[0].status.conditions] == [("Ready", "True")]


def test_openapi_documents_announce_server_side_field_validation(sim: KubeSim) -> None:
    root = requests.get(f"{sim.url}/openapi/v3", timeout=10).json()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/apiextensions.k8s.io/v1"} <= set(root)
    doc = requests.get(sim.url + root["apis/apps/v1"]["serverRelativeURL"], timeout=10).json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert {p["name"] for p in patch["parameters"] if p["in"] == "query"} >= {"fieldValidation", "fieldManager",
                                                                              "dryRun", "force"}
    swagger = requests.get(f"{sim.url}/openapi/v2", headers={"Accept": "application/json"}, timeout=10).json()
    assert swagger["swagger"] == "2.0"
    assert "/api/v1/namespaces/{namespace}/configmaps" in swagger["paths"]


# --- create, read, list ----------------------------------------------------------------------------------

def test_create_sets_server_fields_and_lists_carry_the_list_kind(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, {"metadata": {"name": "one", "labels": {"tier": "web"}},
                                                     "data": {"k": "v"}})
    assert created.metadata.uid and created.metadata.creation_timestamp and created.metadata.resource_version
    assert created.metadata.namespace == ns
    assert created.metadata.generation is None  # ConfigMaps have no generation, as in a real cluster
    entry = created.metadata.managed_fields[0]
    assert (entry.manager, entry.operation, entry.fields_type) == ("OpenAPI-Generator", "Update", "FieldsV1")
    assert entry.fields_v1 == {"f:data": {".": {}, "f:k": {}}, "f:metadata": {"f:labels": {".": {}, "f:tier": {}}}}
    core.create_namespaced_config_map(ns, {"metadata": {"name": "two", "labels": {"tier": "db"}}})
    listed = core.list_namespaced_config_map(ns, label_selector="tier")
    assert [c.metadata.name for c in listed.items] == ["one", "two"]
    raw = core.list_namespaced_config_map(ns, _preload_content=False)
    body = json.loads(raw.data)
    assert (body["kind"], body["apiVersion"]) == ("ConfigMapList", "v1")
    assert int(body["metadata"]["resourceVersion"]) >= int(created.metadata.resource_version)


@pytest.mark.parametrize(("selector", "expected"), [
    ("tier=web", ["a"]), ("tier!=web", ["b", "c", "kube-root-ca.crt"]), ("tier in (web,db)", ["a", "b"]),
    ("tier notin (web)", ["b", "c", "kube-root-ca.crt"]), ("!tier", ["c", "kube-root-ca.crt"]),
    ("tier,env=prod", ["b"]),
])
def test_label_selectors(core: client.CoreV1Api, ns: str, selector: str, expected: list[str]) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "a", "labels": {"tier": "web"}}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "b", "labels": {"tier": "db", "env": "prod"}}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}})
    wait_for(lambda: core.list_namespaced_config_map(ns, field_selector="metadata.name=kube-root-ca.crt").items)
    names = [c.metadata.name for c in core.list_namespaced_config_map(ns, label_selector=selector).items]
    assert names == expected


def test_field_selector_and_pagination(core: client.CoreV1Api, ns: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(ns, {"metadata": {"name": f"cm{i}"}})
    assert [c.metadata.name for c in core.list_namespaced_config_map(
        ns, field_selector="metadata.name=cm3").items] == ["cm3"]
    page = core.list_namespaced_config_map(ns, limit=2, label_selector="!kubernetes.io/none")
    seen = [c.metadata.name for c in page.items]
    while page.metadata._continue:
        page = core.list_namespaced_config_map(ns, limit=2, _continue=page.metadata._continue)
        seen += [c.metadata.name for c in page.items]
    assert [s for s in seen if s.startswith("cm")] == [f"cm{i}" for i in range(5)]


def test_list_across_namespaces(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_secret(ns, {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}})
    everywhere = core.list_secret_for_all_namespaces(field_selector=f"metadata.namespace={ns}")
    assert [(s.metadata.namespace, s.metadata.name) for s in everywhere.items] == [(ns, "s")]
    secret = everywhere.items[0]
    assert secret.data == {"password": "aHVudGVyMg=="} and secret.string_data is None and secret.type == "Opaque"


# --- errors ----------------------------------------------------------------------------------------------

def test_not_found_and_already_exists_have_the_status_shape(core: client.CoreV1Api, apps: client.AppsV1Api,
                                                           ns: str) -> None:
    code, body = error_of(lambda: apps.read_namespaced_deployment("ghost", ns))
    assert code == 404
    assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": 'deployments.apps "ghost" not found', "reason": "NotFound",
                    "details": {"name": "ghost", "group": "apps", "kind": "deployments"}, "code": 404}
    core.create_namespaced_config_map(ns, {"metadata": {"name": "dup"}})
    code, body = error_of(lambda: core.create_namespaced_config_map(ns, {"metadata": {"name": "dup"}}))
    assert (code, body["reason"], body["message"]) == (409, "AlreadyExists", 'configmaps "dup" already exists')


def test_namespaced_objects_need_an_existing_namespace(core: client.CoreV1Api) -> None:
    code, body = error_of(lambda: core.create_namespaced_config_map("nowhere", {"metadata": {"name": "x"}}))
    assert (code, body["reason"], body["message"]) == (404, "NotFound", 'namespaces "nowhere" not found')


def test_namespace_in_body_must_match_the_url(core: client.CoreV1Api, ns: str) -> None:
    code, body = error_of(lambda: core.create_namespaced_config_map(
        ns, {"metadata": {"name": "x", "namespace": "default"}}))
    assert (code, body["reason"]) == (400, "BadRequest")
    assert body["message"] == "the namespace of the provided object does not match the namespace sent on the request"


def test_invalid_objects_get_422_with_causes(apps: client.AppsV1Api, ns: str) -> None:
    bad = deployment("bad")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    del bad["spec"]["template"]["spec"]["containers"][0]["image"]
    code, body = error_of(lambda: apps.create_namespaced_deployment(ns, bad))
    assert (code, body["reason"]) == (422, "Invalid")
    fields = {c["field"]: c["reason"] for c in body["details"]["causes"]}
    assert fields == {"spec.template.metadata.labels": "FieldValueInvalid",
                      "spec.template.spec.containers[0].image": "FieldValueRequired"}
    assert body["message"].startswith('Deployment.apps "bad" is invalid: [')
    code, body = error_of(lambda: apps.create_namespaced_deployment(ns, deployment("Bad_Name")))
    assert code == 422 and body["details"]["causes"][0]["field"] == "metadata.name"


# --- updates, concurrency, generation --------------------------------------------------------------------

def test_put_uses_optimistic_concurrency(core: client.CoreV1Api, ns: str) -> None:
    first = core.create_namespaced_config_map(ns, {"metadata": {"name": "c"}, "data": {"v": "1"}})
    first.data = {"v": "2"}
    second = core.replace_namespaced_config_map("c", ns, first)
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    first.data = {"v": "3"}  # still carries the old resourceVersion
    code, body = error_of(lambda: core.replace_namespaced_config_map("c", ns, first))
    assert (code, body["reason"]) == (409, "Conflict")
    assert body["message"] == ('Operation cannot be fulfilled on configmaps "c": the object has been modified; '
                               "please apply your changes to the latest version and try again")
    assert core.read_namespaced_config_map("c", ns).data == {"v": "2"}
    unconditional = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"v": "4"})
    assert core.replace_namespaced_config_map("c", ns, unconditional).data == {"v": "4"}


def test_generation_moves_with_the_spec_only(apps: client.AppsV1Api, ns: str) -> None:
    created = apps.create_namespaced_deployment(ns, deployment("gen", replicas=1))
    assert created.metadata.generation == 1
    labelled = apps.patch_namespaced_deployment("gen", ns, {"metadata": {"labels": {"x": "y"}}})
    assert labelled.metadata.generation == 1
    scaled = apps.patch_namespaced_deployment("gen", ns, {"spec": {"replicas": 3}})
    assert scaled.metadata.generation == 2
    unchanged = apps.patch_namespaced_deployment("gen", ns, {"spec": {"replicas": 3}})
    assert unchanged.metadata.generation == 2


def test_a_write_that_changes_nothing_keeps_the_resource_version(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, {"metadata": {"name": "same"}, "data": {"a": "1"}})
    again = core.patch_namespaced_config_map("same", ns, {"data": {"a": "1"}})
    assert again.metadata.resource_version == created.metadata.resource_version


def test_status_written_through_the_main_resource_is_ignored(apps: client.AppsV1Api, ns: str) -> None:
    body = deployment("stat", replicas=1)
    body["status"] = {"replicas": 99}
    created = apps.create_namespaced_deployment(ns, body)
    assert created.status is None or created.status.replicas != 99


# --- patches ---------------------------------------------------------------------------------------------

def test_strategic_merge_patch_merges_containers_by_name(apps: client.AppsV1Api, ns: str) -> None:
    body = deployment("smp")
    body["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox:1"})
    apps.create_namespaced_deployment(ns, body)
    patched = apps.patch_namespaced_deployment("smp", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "image": "busybox:2", "env": [{"name": "A", "value": "1"}]}]}}}})
    containers = patched.spec.template.spec.containers
    assert [(c.name, c.image) for c in containers] == [("main", "nginx:1.25"), ("side", "busybox:2")]
    deleted = apps.patch_namespaced_deployment("smp", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "side", "$patch": "delete"}]}}}})
    assert [c.name for c in deleted.spec.template.spec.containers] == ["main"]


def test_merge_patch_replaces_lists_and_null_deletes(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "m", "labels": {"a": "1", "b": "2"}},
                                           "data": {"x": "1"}})
    patched = core.patch_namespaced_config_map("m", ns, {"metadata": {"labels": {"a": None}}, "data": {"y": "2"}},
                                               _content_type="application/merge-patch+json")
    assert patched.metadata.labels == {"b": "2"} and patched.data == {"x": "1", "y": "2"}


def test_json_patch_operations_and_failed_tests(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "j"}, "data": {"x": "1"}})
    patched = core.patch_namespaced_config_map("j", ns, [
        {"op": "test", "path": "/data/x", "value": "1"},
        {"op": "add", "path": "/data/y", "value": "2"},
        {"op": "move", "from": "/data/x", "path": "/data/z"},
    ])
    assert patched.data == {"y": "2", "z": "1"}
    code, body = error_of(lambda: core.patch_namespaced_config_map("j", ns, [
        {"op": "test", "path": "/data/y", "value": "nope"}, {"op": "remove", "path": "/data/y"}]))
    assert (code, body["reason"]) == (422, "Invalid")
    assert core.read_namespaced_config_map("j", ns).data == {"y": "2", "z": "1"}


# --- dry run ---------------------------------------------------------------------------------------------

def test_dry_run_is_never_persisted(core: client.CoreV1Api, ns: str) -> None:
    created = core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}, "data": {"a": "1"}},
                                                dry_run="All")
    assert created.metadata.uid and not created.metadata.resource_version
    assert error_of(lambda: core.read_namespaced_config_map("dry", ns))[0] == 404
    live = core.create_namespaced_config_map(ns, {"metadata": {"name": "dry"}, "data": {"a": "1"}})
    patched = core.patch_namespaced_config_map("dry", ns, {"data": {"a": "2"}}, dry_run="All")
    assert patched.data == {"a": "2"}
    live.data = {"a": "3"}
    assert core.replace_namespaced_config_map("dry", ns, live, dry_run="All").data == {"a": "3"}
    core.delete_namespaced_config_map("dry", ns, dry_run="All")
    after = core.read_namespaced_config_map("dry", ns)
    assert after.data == {"a": "1"} and after.metadata.resource_version == live.metadata.resource_version


# --- deletion --------------------------------------------------------------------------------------------

def _children(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str) -> tuple[list[str], list[str]]:
    return ([r.metadata.name for r in apps.list_namespaced_replica_set(ns).items],
            [p.metadata.name for p in core.list_namespaced_pod(ns).items])


def test_background_deletion_collects_dependents(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment("bg"))
    wait_for(lambda: len(_children(core, apps, ns)[1]) == 2)
    status = apps.delete_namespaced_deployment("bg", ns)
    assert (status["kind"], status["status"], status["details"]["name"]) == ("Status", "Success", "bg")
    assert error_of(lambda: apps.read_namespaced_deployment("bg", ns))[0] == 404
    wait_for(lambda: _children(core, apps, ns) == ([], []))


def test_orphan_deletion_keeps_dependents_without_owner(core: client.CoreV1Api, apps: client.AppsV1Api,
                                                        ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment("orph", replicas=1))
    replica_sets = wait_for(lambda: apps.list_namespaced_replica_set(ns).items)
    apps.delete_namespaced_deployment("orph", ns, propagation_policy="Orphan")
    kept = apps.read_namespaced_replica_set(replica_sets[0].metadata.name, ns)
    assert kept.metadata.owner_references is None


def test_foreground_deletion_waits_for_dependents(core: client.CoreV1Api, apps: client.AppsV1Api,
                                                  ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment("fg", replicas=1))
    wait_for(lambda: _children(core, apps, ns)[1])
    apps.delete_namespaced_deployment("fg", ns, propagation_policy="Foreground")
    wait_for(lambda: _children(core, apps, ns) == ([], []))
    wait_for(lambda: not apps.list_namespaced_deployment(ns).items)


def test_finalizers_hold_deletion_until_removed(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    held = core.delete_namespaced_config_map("f", ns)
    assert held["kind"] == "ConfigMap" and held["metadata"]["deletionTimestamp"]
    pending = core.read_namespaced_config_map("f", ns)
    assert pending.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("f", ns, {"metadata": {"finalizers": None}},
                                     _content_type="application/merge-patch+json")
    assert error_of(lambda: core.read_namespaced_config_map("f", ns))[0] == 404


def test_namespace_deletion_removes_its_objects(core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "c"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    apps.create_namespaced_deployment("doomed", deployment("d", replicas=1))
    answer = core.delete_namespace("doomed")
    assert answer["status"]["phase"] == "Terminating"
    wait_for(lambda: core.list_namespaced_config_map("doomed").items == [] or
             [c.metadata.name for c in core.list_namespaced_config_map("doomed").items] == ["held"])
    assert core.read_namespace("doomed").status.phase == "Terminating"
    code, body = error_of(lambda: core.create_namespaced_config_map("doomed", {"metadata": {"name": "late"}}))
    assert (code, body["reason"]) == (403, "Forbidden")
    assert body["message"] == ('configmaps "late" is forbidden: unable to create new content in namespace doomed '
                               "because it is being terminated")
    core.patch_namespaced_config_map("held", "doomed", [{"op": "remove", "path": "/metadata/finalizers"}])
    wait_for(lambda: "doomed" not in [n.metadata.name for n in core.list_namespace().items])
    assert not core.list_config_map_for_all_namespaces(field_selector="metadata.namespace=doomed").items
    assert not apps.list_deployment_for_all_namespaces(field_selector="metadata.namespace=doomed").items


def test_delete_collection_by_label(core: client.CoreV1Api, ns: str) -> None:
    for name, tier in (("a", "x"), ("b", "x"), ("c", "y")):
        core.create_namespaced_config_map(ns, {"metadata": {"name": name, "labels": {"tier": tier}}})
    core.delete_collection_namespaced_config_map(ns, label_selector="tier=x")
    assert [c.metadata.name for c in core.list_namespaced_config_map(ns, label_selector="tier").items] == ["c"]


# --- controllers -----------------------------------------------------------------------------------------

def test_deployment_becomes_available_with_replica_set_and_pods(core: client.CoreV1Api, apps: client.AppsV1Api,
                                                                ns: str) -> None:
    created = apps.create_namespaced_deployment(ns, deployment("web", replicas=3))
    assert condition(created, "Available") is None
    ready = wait_for(lambda: (d := apps.read_namespaced_deployment("web", ns)) and
                     condition(d, "Available") == "True" and d)
    assert (ready.status.ready_replicas, ready.status.available_replicas, ready.status.updated_replicas) == (3, 3, 3)
    assert ready.status.observed_generation == 1
    pods = core.list_namespaced_pod(ns, label_selector="app=web").items
    assert len(pods) == 3 and {p.status.phase for p in pods} == {"Running"}
    owner = pods[0].metadata.owner_references[0]
    assert owner.kind == "ReplicaSet" and owner.controller is True
    rs = apps.read_namespaced_replica_set(owner.name, ns)
    assert rs.status.ready_replicas == 3 and condition(rs, "Available") == "True"
    rollout = apps.patch_namespaced_deployment("web", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:1.26"}]}}}})
    assert rollout.metadata.generation == 2
    wait_for(lambda: {p.spec.containers[0].image for p in core.list_namespaced_pod(
        ns, label_selector="app=web").items} == {"nginx:1.26"})
    wait_for(lambda: (d := apps.read_namespaced_deployment("web", ns)).status.observed_generation == 2 and
             d.status.available_replicas == 3 and len(apps.list_namespaced_replica_set(ns).items) == 2)


def test_failing_image_never_becomes_ready(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment("broken", image="registry.local/app:fail", replicas=1))
    pod = wait_for(lambda: [p for p in core.list_namespaced_pod(ns).items if p.status.container_statuses])[0]
    assert pod.status.phase == "Pending"
    assert pod.status.container_statuses[0].state.waiting.reason == "ImagePullBackOff"
    time.sleep(READY_DELAY * 3)
    dep = apps.read_namespaced_deployment("broken", ns)
    assert condition(dep, "Available") == "False" and not dep.status.ready_replicas


def test_a_rollout_to_a_failing_image_keeps_the_old_pods_serving(core: client.CoreV1Api, apps: client.AppsV1Api,
                                                                 ns: str) -> None:
    body = deployment("roll", replicas=2)
    body["spec"]["progressDeadlineSeconds"] = 1
    apps.create_namespaced_deployment(ns, body)
    wait_for(lambda: condition(apps.read_namespaced_deployment("roll", ns), "Available") == "True")
    apps.patch_namespaced_deployment("roll", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": "nginx:fail"}]}}}})
    stuck = wait_for(lambda: (d := apps.read_namespaced_deployment("roll", ns)) and
                     condition(d, "Progressing") == "False" and d)
    progressing = [c for c in stuck.status.conditions if c.type == "Progressing"][0]
    assert progressing.reason == "ProgressDeadlineExceeded"
    assert condition(stuck, "Available") == "True"
    assert (stuck.status.updated_replicas, stuck.status.available_replicas, stuck.status.replicas) == (1, 2, 3)
    images = sorted(p.spec.containers[0].image for p in core.list_namespaced_pod(ns, label_selector="app=roll").items)
    assert images == ["nginx:1.25", "nginx:1.25", "nginx:fail"]


def test_statefulset_rolls_one_pod_at_a_time(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str) -> None:
    template = {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "redis:7"}]}}
    apps.create_namespaced_stateful_set(ns, {"metadata": {"name": "db"}, "spec": {
        "replicas": 3, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": template}})
    wait_for(lambda: apps.read_namespaced_stateful_set("db", ns).status.ready_replicas == 3)
    apps.patch_namespaced_stateful_set("db", ns, {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "redis:fail"}]}}}})
    wait_for(lambda: [p for p in core.list_namespaced_pod(ns).items
                      if p.spec.containers[0].image == "redis:fail" and p.status.container_statuses])
    time.sleep(READY_DELAY * 3)
    sts = apps.read_namespaced_stateful_set("db", ns)
    assert (sts.status.ready_replicas, sts.status.updated_replicas, sts.status.current_replicas) == (2, 1, 2)
    assert sts.status.current_revision != sts.status.update_revision
    images = {p.metadata.name: p.spec.containers[0].image for p in core.list_namespaced_pod(ns).items}
    assert images == {"db-0": "redis:7", "db-1": "redis:7", "db-2": "redis:fail"}


def test_the_scale_subresource(core: client.CoreV1Api, apps: client.AppsV1Api, ns: str) -> None:
    apps.create_namespaced_deployment(ns, deployment("sc", replicas=1))
    scale = apps.read_namespaced_deployment_scale("sc", ns)
    assert (scale.spec.replicas, scale.status.selector) == (1, "app=sc")
    scaled = apps.patch_namespaced_deployment_scale("sc", ns, {"spec": {"replicas": 3}})
    assert scaled.spec.replicas == 3
    dep = apps.read_namespaced_deployment("sc", ns)
    assert dep.spec.replicas == 3 and dep.metadata.generation == 2
    owner = [m for m in dep.metadata.managed_fields if m.subresource == "scale"][0]
    assert owner.fields_v1 == {"f:spec": {"f:replicas": {}}}
    wait_for(lambda: len(core.list_namespaced_pod(ns, label_selector="app=sc").items) == 3)
    code, body = error_of(lambda: apps.patch_namespaced_deployment_scale("sc", ns, {"spec": {"replicas": -1}}))
    assert (code, body["reason"]) == (422, "Invalid")


def test_statefulset_daemonset_and_job(core: client.CoreV1Api, apps: client.AppsV1Api, batch: client.BatchV1Api,
                                       ns: str) -> None:
    template = {"metadata": {"labels": {"app": "s"}}, "spec": {"containers": [{"name": "c", "image": "redis:7"}]}}
    apps.create_namespaced_stateful_set(ns, {"metadata": {"name": "db"}, "spec": {
        "replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "s"}}, "template": template}})
    apps.create_namespaced_daemon_set(ns, {"metadata": {"name": "agent"}, "spec": {
        "selector": {"matchLabels": {"app": "s"}}, "template": template}})
    batch.create_namespaced_job(ns, {"metadata": {"name": "once"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox:1", "command": ["true"]}]}}}})
    sts = wait_for(lambda: (s := apps.read_namespaced_stateful_set("db", ns)).status.ready_replicas == 2 and s)
    assert sts.status.available_replicas == 2 and condition(sts, "Available") == "True"
    assert {"db-0", "db-1"} <= {p.metadata.name for p in core.list_namespaced_pod(ns).items}
    ds = wait_for(lambda: (d := apps.read_namespaced_daemon_set("agent", ns)).status.number_ready == 1 and d)
    assert ds.status.desired_number_scheduled == 1 and condition(ds, "Available") == "True"
    job = wait_for(lambda: (j := batch.read_namespaced_job("once", ns)) and condition(j, "Complete") == "True" and j)
    assert job.status.succeeded == 1 and job.status.completion_time is not None
    assert job.spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": job.metadata.uid}


def test_service_gets_cluster_ip_and_load_balancer(core: client.CoreV1Api, ns: str) -> None:
    svc = core.create_namespaced_service(ns, {"metadata": {"name": "front"}, "spec": {
        "type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.ports[0].protocol == "TCP"
    assert svc.spec.ports[0].node_port >= 30000
    lb = wait_for(lambda: core.read_namespaced_service("front", ns).status.load_balancer.ingress)
    assert lb[0].ip
    code, body = error_of(lambda: core.patch_namespaced_service("front", ns, {"spec": {"clusterIP": "10.0.0.9"}}))
    assert code == 422 and body["details"]["causes"][0]["message"] == "field is immutable"


# --- watch -----------------------------------------------------------------------------------------------

def test_watch_streams_changes_from_a_resource_version(core: client.CoreV1Api, ns: str) -> None:
    start = core.create_namespaced_config_map(ns, {"metadata": {"name": "w", "labels": {"watched": "yes"}}})
    seen: list[tuple[str, str, str | None]] = []
    ready = threading.Event()

    def consume() -> None:
        stream = watch.Watch()
        ready.set()
        for event in stream.stream(core.list_namespaced_config_map, ns, label_selector="watched=yes",
                                   resource_version=start.metadata.resource_version, timeout_seconds=3):
            obj = event["object"]
            seen.append((event["type"], obj.metadata.name, (obj.data or {}).get("v")))
            if event["type"] == "DELETED" and obj.metadata.name == "w2":
                stream.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    ready.wait()
    core.patch_namespaced_config_map("w", ns, {"data": {"v": "1"}})
    core.create_namespaced_config_map(ns, {"metadata": {"name": "w2", "labels": {"watched": "yes"}}})
    core.patch_namespaced_config_map("w", ns, {"metadata": {"labels": {"watched": "no"}}})
    core.delete_namespaced_config_map("w2", ns)
    thread.join(timeout=10)
    assert seen == [("MODIFIED", "w", "1"), ("ADDED", "w2", None), ("DELETED", "w", "1"), ("DELETED", "w2", None)]


def test_watch_without_resource_version_starts_with_current_objects(core: client.CoreV1Api, ns: str) -> None:
    core.create_namespaced_config_map(ns, {"metadata": {"name": "pre", "labels": {"k": "v"}}})
    events = [(e["type"], e["object"].metadata.name) for e in watch.Watch().stream(
        core.list_namespaced_config_map, ns, label_selector="k=v", timeout_seconds=1)]
    assert events == [("ADDED", "pre")]


def test_concurrent_writers_overlap_their_latency(tmp_path: Path) -> None:
    with KubeSim.start(latency_ms=150, ready_delay=READY_DELAY) as slow:
        configuration = client.Configuration()
        config.load_kube_config(str(slow.write_kubeconfig(tmp_path / "kc")), client_configuration=configuration)
        configuration.connection_pool_maxsize = 20
        api = client.ApiClient(configuration)
        core = client.CoreV1Api(api)
        errors: list[BaseException] = []

        def write(i: int) -> None:
            try:
                core.create_namespaced_config_map("default", {"metadata": {"name": f"c{i}"}, "data": {"i": str(i)}})
                core.patch_namespaced_config_map("shared", "default", {"data": {f"k{i}": str(i)}})
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        core.create_namespaced_config_map("default", {"metadata": {"name": "shared"}})
        threads = [threading.Thread(target=write, args=(i,)) for i in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert slow.max_in_flight >= 6
        shared = core.read_namespaced_config_map("shared", "default")
        assert shared.data == {f"k{i}": str(i) for i in range(12)}
        api.close()


TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.mark.parametrize(("path", "columns", "first_row"), [
    ("/api/v1/namespaces/default", ["Name", "Status", "Age"], ["default", "Active"]),
    ("/api/v1/nodes", ["Name", "Status", "Roles", "Age", "Version"],
     ["kube-sim-node", "Ready", "control-plane"]),
    ("/api/v1/namespaces/default/services", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"],
     ["kubernetes", "ClusterIP", "10.96.0.1", "<none>", "443/TCP"]),
    ("/api/v1/namespaces/default/configmaps/kube-root-ca.crt", ["Name", "Data", "Age"], ["kube-root-ca.crt", 1]),
])
def test_server_side_tables_for_kubectl(sim: KubeSim, path: str, columns: list[str], first_row: list[Any]) -> None:
    wait_for(lambda: requests.get(sim.url + path, timeout=10).status_code == 200)
    table = requests.get(sim.url + path, headers={"Accept": TABLE}, timeout=10).json()
    assert (table["kind"], table["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in table["columnDefinitions"]] == columns
    row = table["rows"][0]
    assert row["cells"][: len(first_row)] == first_row
    assert row["object"]["kind"] == "PartialObjectMetadata" and "managedFields" not in row["object"]["metadata"]
