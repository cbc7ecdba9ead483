"""Bad requests get the API server's error shape and never crash or corrupt the simulator."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.kube_sim import KubeSim

STATUS_KEYS = {"kind", "apiVersion", "metadata", "status", "message", "reason", "code"}


@pytest.fixture(scope="module")
def sim() -> Iterator[KubeSim]:
    with KubeSim.start(ready_delay=0.05, history=50) as running:
        requests.post(f"{running.url}/api/v1/namespaces", json={"metadata": {"name": "bad"}}, timeout=10)
        requests.post(f"{running.url}/api/v1/namespaces/bad/configmaps", timeout=10,
                      json={"metadata": {"name": "keep", "labels": {"a": "b"}}, "data": {"x": "1"}})
        yield running


def call(sim: KubeSim, method: str, path: str, body: Any = None, content_type: str = "application/json",
         **params: str) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    return requests.request(method, sim.url + path, data=data, params=params, timeout=10,
                            headers={"Content-Type": content_type, "Accept": "application/json"})


def status_of(response: requests.Response, code: int, reason: str) -> dict[str, Any]:
    assert response.status_code == code, response.text
    body = response.json()
    assert STATUS_KEYS <= set(body) and body["kind"] == "Status" and body["status"] == "Failure"
    assert (body["code"], body["reason"]) == (code, reason)
    return dict(body)


def snapshot(sim: KubeSim) -> str:
    """The objects of the test namespace, which no bad request may change."""
    items, _ = sim.store.objects("configmaps", "bad")
    return json.dumps([i for i in items if i["metadata"]["name"] == "keep"], sort_keys=True)


CM = "/api/v1/namespaces/bad/configmaps"
APPLY = CM + "/keep?fieldManager=tester"


@pytest.mark.parametrize(("method", "path", "body", "content_type", "code", "reason", "message"), [
    ("POST", CM, b"{not json", "application/json", 400, "BadRequest", "couldn't get version/kind; json parse error"),
    ("POST", CM, b"[1, 2]", "application/json", 400, "BadRequest", "the object provided is unrecognized"),
    ("POST", CM, b"\xff\xfe", "application/json", 400, "BadRequest", "json parse error"),
    ("POST", CM, {"kind": "Secret", "metadata": {"name": "x"}}, "application/json", 400, "BadRequest",
     "the kind of the provided object (Secret) does not match the expected kind (ConfigMap)"),
    ("POST", CM, {"apiVersion": "v2", "metadata": {"name": "x"}}, "application/json", 400, "BadRequest",
     "the API version in the data (v2) does not match the expected API version (v1)"),
    ("POST", CM, {"metadata": {"name": "x", "namespace": "other"}}, "application/json", 400, "BadRequest",
     "the namespace of the provided object does not match the namespace sent on the request"),
    ("POST", CM, {"metadata": {"name": "x"}, "data": {"n": 1}}, "application/json", 400, "BadRequest",
     'ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal number into Go struct '
     "field ConfigMap.data of type string"),
    ("POST", CM, {"metadata": {"name": "x", "labels": ["a"]}}, "application/json", 400, "BadRequest",
     "cannot unmarshal array into Go struct field ObjectMeta.metadata.labels"),
    ("POST", CM, {"metadata": {"name": "x"}}, "application/vnd.kubernetes.protobuf", 415, "UnsupportedMediaType",
     "the body of the request was in an unknown format"),
    ("POST", "/api/v1/namespaces/bad/secrets", {"metadata": {"name": "s"}, "data": {"k": "***"}},
     "application/json", 400, "BadRequest", "illegal base64 data"),
    ("POST", CM, {"metadata": {"name": "Not_Valid"}}, "application/json", 422, "Invalid",
     'ConfigMap "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid"'),
    ("POST", CM, {"metadata": {}}, "application/json", 422, "Invalid",
     "metadata.name: Required value: name or generateName is required"),
    ("POST", CM + "/keep", {"metadata": {"name": "keep"}}, "application/json", 405, "MethodNotAllowed", ""),
    ("PUT", CM + "/keep", {"metadata": {"name": "other"}}, "application/json", 400, "BadRequest",
     "the name of the object (other) does not match the name on the URL (keep)"),
    ("PUT", CM + "/absent", {"metadata": {"name": "absent"}}, "application/json", 404, "NotFound",
     'configmaps "absent" not found'),
    ("PATCH", CM + "/keep", {"data": {"y": "2"}}, "text/plain", 415, "UnsupportedMediaType",
     "application/strategic-merge-patch+json"),
    ("PATCH", CM + "/keep", {"op": "add"}, "application/json-patch+json", 400, "BadRequest", "jsonpatch.Patch"),
    ("PATCH", CM + "/keep", [{"op": "replace", "path": "/data/missing", "value": "1"}],
     "application/json-patch+json", 422, "Invalid", "replace operation does not apply"),
    ("PATCH", CM + "/keep", [{"op": "jump", "path": "/data"}], "application/json-patch+json", 422, "Invalid",
     "Unexpected kind: jump"),
    ("PATCH", CM + "/keep", b"{", "application/merge-patch+json", 400, "BadRequest", "error decoding patch"),
    ("PATCH", CM + "/keep", {"metadata": {"resourceVersion": "1"}, "data": {"y": "2"}},
     "application/merge-patch+json", 409, "Conflict", "the object has been modified"),
    ("PATCH", CM + "/keep", {"data": {"x": "1", "$bogus": 1}}, "application/strategic-merge-patch+json", 422,
     "Invalid", "unknown patch directive $bogus"),
    ("PATCH", APPLY, b"a: [unclosed", "application/apply-patch+yaml", 400, "BadRequest",
     "error decoding YAML"),
    ("PATCH", APPLY, b"- just\n- a list\n", "application/apply-patch+yaml", 400, "BadRequest",
     "must be an object"),
    ("PATCH", APPLY, b"metadata: {name: keep}\n", "application/apply-patch+yaml", 400, "BadRequest",
     "is missing"),
    ("PATCH", APPLY, b"apiVersion: v1\nkind: Widget\nmetadata: {name: keep}\n",
     "application/apply-patch+yaml", 400, "BadRequest", "(Widget) does not match the expected kind (ConfigMap)"),
    ("PATCH", CM + "/ghost", {"data": {"y": "2"}}, "application/merge-patch+json", 404, "NotFound",
     'configmaps "ghost" not found'),
    ("DELETE", CM + "/keep", {"propagationPolicy": "Sideways"}, "application/json", 422, "Invalid",
     'Unsupported value: "Sideways"'),
    ("DELETE", CM + "/keep", {"preconditions": {"uid": "not-the-uid"}}, "application/json", 409, "Conflict",
     "Precondition failed: UID in precondition: not-the-uid"),
    ("DELETE", CM + "/keep", b"[", "application/json", 400, "BadRequest", "json parse error"),
    ("GET", "/apis/example.com/v1/widgets", None, "application/json", 404, "NotFound",
     "the server could not find the requested resource"),
    ("GET", "/apis/apps/v1/namespaces/bad/widgets", None, "application/json", 404, "NotFound",
     "the server could not find the requested resource"),
    ("GET", "/api/v1/namespaces/bad/namespaces/bad", None, "application/json", 404, "NotFound", ""),
    ("POST", "/apis/apps/v1/deployments", {"metadata": {"name": "x"}}, "application/json", 404, "NotFound", ""),
    ("GET", "/api/v1/namespaces/bad/configmaps/keep/scale", None, "application/json", 404, "NotFound", ""),
    ("GET", "/nowhere", None, "application/json", 404, "NotFound", ""),
])
def test_bad_request_gets_a_status_and_changes_nothing(sim: KubeSim, method: str, path: str, body: Any,
                                                       content_type: str, code: int, reason: str,
                                                       message: str) -> None:
    before = snapshot(sim)
    response = call(sim, method, path, body, content_type)
    status = status_of(response, code, reason)
    assert message in status["message"]
    assert snapshot(sim) == before
    assert call(sim, "GET", "/version").json()["gitVersion"] == "v1.33.0"


@pytest.mark.parametrize(("params", "code", "reason", "message"), [
    ({"labelSelector": "a in (b"}, 400, "BadRequest", "unable to parse requirement"),
    ({"fieldSelector": "metadata.name~x"}, 400, "BadRequest", "invalid selector"),
    ({"limit": "many"}, 400, "BadRequest", "invalid limit"),
    ({"continue": "%%%"}, 400, "BadRequest", "continue key is not valid"),
    ({"watch": "true", "resourceVersion": "abc"}, 400, "BadRequest", "invalid resourceVersion"),
])
def test_bad_list_parameters(sim: KubeSim, params: dict[str, str], code: int, reason: str, message: str) -> None:
    response = requests.get(sim.url + CM, params=params, timeout=10)
    assert message in status_of(response, code, reason)["message"]


@pytest.mark.parametrize(("params", "message"), [
    ({"dryRun": "Some"}, 'Invalid dry run value: "Some"'),
    ({"fieldValidation": "Loose"}, "fieldValidation must be one of Ignore, Warn or Strict"),
    ({"force": "true"}, "force is only allowed for apply patches"),
])
def test_bad_write_parameters(sim: KubeSim, params: dict[str, str], message: str) -> None:
    before = snapshot(sim)
    response = requests.patch(sim.url + CM + "/keep", params=params, json={"data": {"z": "1"}}, timeout=10,
                              headers={"Content-Type": "application/merge-patch+json"})
    assert message in status_of(response, 400, "BadRequest")["message"]
    assert snapshot(sim) == before


def test_unknown_fields_follow_the_field_validation_directive(sim: KubeSim) -> None:
    body = {"metadata": {"name": "typo"}, "dta": {"a": "1"}}
    strict = requests.post(sim.url + CM, params={"fieldValidation": "Strict"}, json=body, timeout=10)
    assert 'strict decoding error: unknown field "dta"' in status_of(strict, 400, "BadRequest")["message"]
    warned = requests.post(sim.url + CM, json=body, timeout=10)
    assert warned.status_code == 201 and "dta" not in warned.json()
    assert warned.headers["Warning"] == '299 - "unknown field \\"dta\\""'
    ignored = requests.put(sim.url + CM + "/typo", params={"fieldValidation": "Ignore"}, json=body, timeout=10)
    assert ignored.status_code == 200 and "Warning" not in ignored.headers


def test_watch_from_an_expired_resource_version_reports_410(sim: KubeSim) -> None:
    for i in range(60):
        requests.post(sim.url + CM, json={"metadata": {"name": f"churn{i}"}}, timeout=10)
    response = requests.get(sim.url + CM, params={"watch": "1", "resourceVersion": "101", "timeoutSeconds": "1"},
                            timeout=10)
    event = json.loads(response.text.splitlines()[0])
    assert event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")
    assert event["object"]["message"].startswith("too old resource version: 101")


def test_abandoned_watches_end() -> None:
    # A simulator of its own: watches abandoned by earlier tests end on their own heartbeat,
    # which would move a shared simulator's count under this test.
    with KubeSim.start(ready_delay=0.05) as sim:
        _check_abandoned_watches_end(sim)


def _check_abandoned_watches_end(sim: KubeSim) -> None:
    baseline = sim.open_watches
    streams = [requests.get(sim.url + CM, params={"watch": "1", "fieldSelector": "metadata.name=none"},
                            stream=True, timeout=10) for _ in range(5)]
    assert all(s.status_code == 200 for s in streams)
    deadline = time.monotonic() + 10
    while sim.open_watches < baseline + 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.open_watches == baseline + 5
    for stream in streams:
        stream.close()
    while sim.open_watches > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.open_watches == baseline


def test_disconnecting_watchers_and_garbage_leave_the_server_serving(sim: KubeSim) -> None:
    import socket

    host, port = sim.host, sim.port
    for raw in (b"GARBAGE\r\n\r\n", b"GET /api/v1/namespaces/bad/configmaps?watch=1 HTTP/1.1\r\nHost: x\r\n\r\n",
                b"POST /api/v1/namespaces/bad/configmaps HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"):
        with socket.create_connection((host, port), timeout=5) as conn:
            conn.sendall(raw)
    assert call(sim, "GET", CM + "/keep").json()["data"] == {"x": "1"}


# --- random mutations of valid objects ---------------------------------------------------------------------

_BASES = {
    "/apis/apps/v1/namespaces/bad/deployments/mut": {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "mut", "labels": {"a": "b"}, "annotations": {"x": "y"}},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "mut"}},
                 "template": {"metadata": {"labels": {"app": "mut"}}, "spec": {
                     "containers": [{"name": "c", "image": "nginx:1", "env": [{"name": "A", "value": "1"}],
                                     "ports": [{"containerPort": 80}], "resources": {"limits": {"cpu": "1"}}}],
                     "volumes": [{"name": "v", "emptyDir": {}}]}}}},
    "/api/v1/namespaces/bad/services/mut": {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "mut"},
        "spec": {"type": "NodePort", "selector": {"app": "mut"},
                 "ports": [{"name": "a", "port": 80}, {"name": "b", "port": 81, "protocol": "UDP"}]}},
}
_ODD_VALUES: list[Any] = [None, 0, -1, 1.5, "", "x", True, [], {}, [1], {"a": None}, [{"name": None}],
                          [{"name": "c"}, {"name": "c"}], {"$patch": "delete"}, {"$patch": "replace"},
                          [{"$patch": "replace"}], "70000", 2**40, {"name": 5}]
_WRITES = [("PATCH", "application/apply-patch+yaml", "fieldManager=m"),
           ("PATCH", "application/apply-patch+yaml", "fieldManager=m&force=true"),
           ("PATCH", "application/strategic-merge-patch+json", ""),
           ("PATCH", "application/merge-patch+json", ""),
           ("PUT", "application/json", ""),
           ("PATCH", "application/merge-patch+json", "status")]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(_BASES)), st.sampled_from(_WRITES),
       st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(range(len(_ODD_VALUES))), st.booleans()),
                min_size=1, max_size=3))
def test_mutated_objects_never_cause_a_server_error_or_a_malformed_stored_object(
        sim: KubeSim, url: str, write: tuple[str, str, str],
        edits: list[tuple[int, int, bool]]) -> None:
    from fixtures.kube_sim.handlers import Request
    from fixtures.kube_sim.schema import check

    base = _BASES[url]
    reset = Request("PATCH", url, "fieldManager=base&force=true",
                    {"Content-Type": "application/apply-patch+yaml"}, json.dumps(base).encode())
    assert sim.api.handle(reset).status in (200, 201)
    mutated = json.loads(json.dumps(base))
    for where, value, delete in edits:
        paths = list(_paths(mutated))
        path = paths[where % len(paths)]
        parent = mutated
        for key in path[:-1]:
            parent = parent[key]
        if delete and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = json.loads(json.dumps(_ODD_VALUES[value]))
    method, content_type, query = write
    target = url + "/status" if query == "status" else url
    answer = sim.api.handle(Request(method, target, "" if query == "status" else query,
                                    {"Content-Type": content_type}, json.dumps(mutated).encode()))
    assert answer.status < 500, answer.body
    rtype = sim.registry.by_key("deployments.apps" if "/apps/" in url else "services")[0]
    stored = sim.get(rtype.key, "bad", "mut")
    problems = check(stored, sim.registry.node(rtype))
    assert not (problems.type_errors or problems.unknown or problems.missing)
