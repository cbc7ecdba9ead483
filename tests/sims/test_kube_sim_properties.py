"""Properties of the simulator's field sets, server-side apply and patch algorithms (no server)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client import models

from fixtures.kube_sim import fieldpath, managed, merge, schema

DEPLOYMENT = schema.model_node(models.V1Deployment)
CONFIGMAP = schema.model_node(models.V1ConfigMap)

names = st.sampled_from(["a", "b", "c", "d"])
values = st.sampled_from(["1", "2", "x"])


@st.composite
def deployment_configs(draw: st.DrawFn) -> dict[str, Any]:
    labels = draw(st.dictionaries(names, values, max_size=3))
    containers = []
    for name in draw(st.lists(st.sampled_from(["app", "side", "proxy"]), min_size=1, max_size=3, unique=True)):
        container: dict[str, Any] = {"name": name, "image": draw(st.sampled_from(["nginx:1", "nginx:2"]))}
        env = draw(st.lists(st.sampled_from(["A", "B", "C"]), max_size=3, unique=True))
        if env:
            container["env"] = [{"name": e, "value": draw(values)} for e in env]
        ports = draw(st.lists(st.sampled_from([80, 443, 8080]), max_size=2, unique=True))
        if ports:
            container["ports"] = [{"containerPort": p} for p in ports]
        containers.append(container)
    spec: dict[str, Any] = {"selector": {"matchLabels": {"app": "x"}},
                            "template": {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": containers}}}
    replicas = draw(st.one_of(st.none(), st.integers(0, 5)))
    if replicas is not None:
        spec["replicas"] = replicas
    meta: dict[str, Any] = {"name": "web", "namespace": "default"}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


def apply(live: dict[str, Any], config: dict[str, Any], owners: managed.Managers, who: str = "shipmate",
          force: bool = False) -> managed.Outcome:
    return managed.server_side_apply(live, config, owners, who, force, node=DEPLOYMENT, api_version="apps/v1",
                                     now="2024-01-01T00:00:00Z", builtin=True)


@settings(max_examples=60, deadline=None)
@given(deployment_configs())
def test_fields_v1_round_trips(config: dict[str, Any]) -> None:
    fields = fieldpath.to_set(config, DEPLOYMENT)
    assert fieldpath.decode(fieldpath.encode(fields)) == fields


@settings(max_examples=60, deadline=None)
@given(deployment_configs(), deployment_configs())
def test_a_sole_applier_ends_with_exactly_its_latest_configuration(first: dict[str, Any],
                                                                   second: dict[str, Any]) -> None:
    created = apply({}, first, managed.Managers())
    updated = apply(created.obj, second, created.managers)
    fresh = apply({}, second, managed.Managers())
    assert updated.obj == fresh.obj
    assert updated.managers.sets() == fresh.managers.sets()
    again = apply(updated.obj, second, updated.managers)
    assert not again.changed


@settings(max_examples=60, deadline=None)
@given(deployment_configs(), st.dictionaries(names, values, min_size=1, max_size=2))
def test_fields_of_another_applier_survive(config: dict[str, Any], annotations: dict[str, str]) -> None:
    mine = apply({}, config, managed.Managers())
    theirs_config = {"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": "web", "namespace": "default", "annotations": annotations}}
    theirs = apply(mine.obj, theirs_config, mine.managers, who="other")
    stripped = dict(config, metadata={"name": "web", "namespace": "default"})
    result = apply(theirs.obj, stripped, theirs.managers)
    assert result.obj["metadata"].get("annotations") == annotations
    assert "labels" not in result.obj["metadata"]


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(names, values, max_size=4))
def test_strategic_merge_with_an_empty_patch_changes_nothing(data: dict[str, str]) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}
    assert merge.strategic_merge(obj, {}, CONFIGMAP) == obj


@pytest.mark.parametrize(("target", "patch", "result"), [
    # RFC 7386, appendix A
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
])
def test_json_merge_patch_rfc_7386_examples(target: Any, patch: Any, result: Any) -> None:
    assert merge.json_merge_patch(target, patch) == result


@pytest.mark.parametrize(("doc", "ops", "result"), [
    # RFC 6902, appendix A
    ({"foo": "bar"}, [{"op": "add", "path": "/baz", "value": "qux"}], {"baz": "qux", "foo": "bar"}),
    ({"foo": ["bar", "baz"]}, [{"op": "add", "path": "/foo/1", "value": "qux"}], {"foo": ["bar", "qux", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    ({"foo": ["bar", "qux", "baz"]}, [{"op": "remove", "path": "/foo/1"}], {"foo": ["bar", "baz"]}),
    ({"baz": "qux", "foo": "bar"}, [{"op": "replace", "path": "/baz", "value": "boo"}], {"baz": "boo", "foo": "bar"}),
    ({"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
     [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
     {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}}),
    ({"foo": ["all", "grass", "cows", "eat"]}, [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
     {"foo": ["all", "cows", "eat", "grass"]}),
    ({"foo": "bar"}, [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
     {"foo": "bar", "child": {"grandchild": {}}}),
    ({"foo": ["bar"]}, [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}], {"foo": ["bar", ["abc", "def"]]}),
    ({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    ({"foo": 1}, [{"op": "copy", "from": "/foo", "path": "/bar"}], {"foo": 1, "bar": 1}),
])
def test_json_patch_rfc_6902_examples(doc: Any, ops: list[Any], result: Any) -> None:
    assert merge.json_patch(doc, ops) == result


@pytest.mark.parametrize("ops", [
    [{"op": "remove", "path": "/missing"}],
    [{"op": "test", "path": "/baz", "value": "bar"}],
    [{"op": "add", "path": "/a/b", "value": 1}],
    [{"op": "add", "path": "/foo/9", "value": 1}],
    [{"op": "replace", "path": "nope", "value": 1}],
])
def test_json_patch_errors(ops: list[Any]) -> None:
    with pytest.raises(merge.PatchError):
        merge.json_patch({"baz": "qux", "foo": []}, ops)


def test_conflict_paths_are_printed_like_the_api_server() -> None:
    path = (("f", "spec"), ("f", "template"), ("f", "spec"), ("f", "containers"), ("k", '{"name":"app"}'),
            ("f", "ports"), ("k", '{"containerPort":80,"protocol":"TCP"}'), ("f", "containerPort"))
    assert fieldpath.path_string(path) == \
        '.spec.template.spec.containers[name="app"].ports[containerPort=80,protocol="TCP"].containerPort'
    assert fieldpath.path_string((("f", "metadata"), ("f", "finalizers"), ("v", '"x"'))) == \
        '.metadata.finalizers[="x"]'
