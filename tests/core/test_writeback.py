"""Drift adopted into the config (`bot.core.writeback`): which drifted fields map back, the
files after (only the values touched, comments and layout kept), and every field that does
not map back with its reason. Drift is made as the preview makes it: the live object is the
generated one edited, the diff `fields.diff(live, config)`."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.config.snapshot import ConfigSnapshot
from bot.core.generate import generate_stack
from bot.core.preview import fields
from bot.core.preview.model import Action, ChangeSet, ChangeStep
from bot.core.spec import Resource
from bot.core.writeback import MAX_FIELDS, adopt
from bot.core.yamlio import load_all

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "fixtures" / "configs" / "acme"
DEPLOYMENT = "apps/v1:Deployment:shop:shop-dev-web"
SETTINGS = "v1:ConfigMap:shop:web.settings"
MARKER = "hashicorp:null:null_resource:release-marker"


def acme() -> ConfigSnapshot:
    return ConfigSnapshot({p.relative_to(ACME).as_posix(): p.read_text() for p in ACME.rglob("*") if p.is_file()})


def drifted(snapshot: ConfigSnapshot, edits: dict[str, Callable[[dict[str, Any]], None]]) -> ChangeSet:
    """The drift preview of `shop/dev` when the live objects are the generated ones with
    `edits` made (by resource ID)."""
    spec = generate_stack(snapshot, "shop/dev")
    steps = []
    for res in spec.resources:
        live = copy.deepcopy(dict(res.attributes))
        if res.id in edits:
            edits[res.id](live)
        diffs = fields.diff(live, dict(res.attributes), res.type == "Kubernetes")
        steps.append(ChangeStep(res.id, Action.UPDATE if diffs else Action.UNCHANGED,
                                Resource(res.id, res.type, live), res, diffs))
    return ChangeSet(tuple(steps), "shop", "dev", "dev")


def container(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]["containers"][0]  # type: ignore[no-any-return]


def env(obj: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in container(obj)["env"] if e["name"] == name)


def test_literal_values_are_written_where_the_config_holds_them() -> None:
    snap = acme()

    def deployment(obj: dict[str, Any]) -> None:
        container(obj)["image"] = "nginx:1.27"
        env(obj, "LOG_LEVEL")["value"] = "info"

    def settings_map(obj: dict[str, Any]) -> None:
        obj["data"]["greeting"] = "edited: by hand"

    adoption = adopt(snap, "shop/dev", drifted(snap, {DEPLOYMENT: deployment, SETTINGS: settings_map}))
    assert [(f.resource, f.path, f.file, f.line, f.value) for f in adoption.mapped] == [
        (DEPLOYMENT, "spec.template.spec.containers[name=web].image", "shop/dev/main.yaml", 8, "nginx:1.27"),
        (DEPLOYMENT, "spec.template.spec.containers[name=web].env[0].value", "shop/dev/main.yaml", 10, "info"),
        (SETTINGS, "data.greeting", "shop/dev/manifests/settings.yaml", 8, "edited: by hand"),
    ]
    assert adoption.left == ()
    main = snap.read("shop/dev/main.yaml") or ""
    assert adoption.files["shop/dev/main.yaml"] == main.replace("image: nginx:1.25\n        env", "image: nginx:1.27\n        env", 1) \
        .replace("LOG_LEVEL: debug", "LOG_LEVEL: info")
    # the Terraform trigger holding the same image is left alone: writing there changes another resource
    assert "triggers:\n              image: nginx:1.25" in adoption.files["shop/dev/main.yaml"]
    settings_text = adoption.files["shop/dev/manifests/settings.yaml"]
    assert settings_text.startswith("# Settings the web front end reads;")  # comments kept
    assert '  greeting: "edited: by hand"\n' in settings_text  # quoted: a plain `a: b` would be a mapping
    after = generate_stack(snap.merged(adoption.files), "shop/dev").by_id()
    assert after[SETTINGS].attributes["data"]["greeting"] == "edited: by hand"
    assert container(dict(after[DEPLOYMENT].attributes))["image"] == "nginx:1.27"


def test_a_value_a_module_computes_or_a_secret_is_not_written_back() -> None:
    snap = acme()

    def deployment(obj: dict[str, Any]) -> None:
        container(obj)["resources"]["limits"]["cpu"] = "500m"  # from `cpu: 100m-250m`
        env(obj, "DB_PASSWORD")["valueFrom"]["secretKeyRef"]["key"] = "other"

    adoption = adopt(snap, "shop/dev", drifted(snap, {DEPLOYMENT: deployment}), secrets=["hunter2-long"])
    assert adoption.files == {} and adoption.mapped == ()
    reasons = {f.path: f.reason for f in adoption.left}
    assert reasons == {
        "spec.template.spec.containers[name=web].resources.limits.cpu":
            "no value of the stack's own files holds what the config gives it (a module computes it, "
            "or it comes from a workspace)",
        "spec.template.spec.containers[name=web].env[2].valueFrom.secretKeyRef.key":
            "no value of the stack's own files holds what the config gives it (a module computes it, "
            "or it comes from a workspace)",
    }


def test_secret_values_and_masks_are_never_written() -> None:
    snap = acme()
    secret = adopt(snap, "shop/dev", drifted(snap, {"v1:Secret:shop:db": lambda o: o["data"].update(username="x")}))
    assert secret.files == {} and [f.reason for f in secret.left] == [
        "a Secret's fields are never written into the config"]

    def settings_map(obj: dict[str, Any]) -> None:
        obj["data"]["greeting"] = "the password is hunter2-long"

    adoption = adopt(snap, "shop/dev", drifted(snap, {SETTINGS: settings_map}), secrets=["hunter2-long"])
    assert adoption.files == {}
    [left] = adoption.left
    assert (left.path, left.reason) == ("data.greeting", "the live value holds a secret")

    def masked(obj: dict[str, Any]) -> None:
        obj["data"]["greeting"] = "(sensitive value)"

    adoption = adopt(snap, "shop/dev", drifted(snap, {SETTINGS: masked}))
    assert adoption.files == {} and adoption.left[0].reason == "the live value holds a secret"


def test_keys_added_or_removed_on_a_manifest_object_are_added_or_removed_in_the_file() -> None:
    snap = acme()

    def settings_map(obj: dict[str, Any]) -> None:
        obj["data"]["extra"] = "added by hand"
        obj["metadata"]["labels"]["team"] = "web"  # the app's labels are merged into the manifest's
        del obj["data"]["greeting"]

    adoption = adopt(snap, "shop/dev", drifted(snap, {SETTINGS: settings_map}))
    assert sorted((f.path, f.removed) for f in adoption.mapped) == [
        ("data.extra", False), ("data.greeting", True), ("metadata.labels.team", False)]
    text = adoption.files["shop/dev/manifests/settings.yaml"]
    assert "greeting" not in text and "  extra: added by hand\n" in text
    assert '  labels: {"team": "web"}\n' in text
    data = [d.data for d in load_all("settings.yaml", text)][0]
    assert data["data"] == {"marker": "$kusion_path.hashicorp:null:null_resource:release-marker.id",
                            "extra": "added by hand"}


def test_the_whole_object_gone_and_platform_values_are_left_with_reasons() -> None:
    snap = acme()
    spec = generate_stack(snap, "shop/dev")
    ns = spec.by_id()["v1:Namespace:shop"]
    changes = ChangeSet((ChangeStep(ns.id, Action.CREATE, None, ns),), "shop", "dev", "dev")
    [left] = adopt(snap, "shop/dev", changes).left
    assert left.reason == "the whole object was deleted, not a field: only fields are written back"

    kcl = adopt(snap, "shop/dev", drifted(snap, {DEPLOYMENT: lambda o: container(o).update(image="x:1")}),
                fixed=["shop/dev/main.yaml"])
    assert kcl.files == {} and kcl.left[0].path.endswith(".image")


def test_a_terraform_argument_is_written_back() -> None:
    snap = acme()
    adoption = adopt(snap, "shop/dev", drifted(snap, {MARKER: lambda o: o["triggers"].update(image="nginx:2")}))
    [mapped] = adoption.mapped
    assert (mapped.resource, mapped.path, mapped.line) == (MARKER, "triggers.image", 41)
    assert "triggers:\n              image: nginx:2\n" in adoption.files["shop/dev/main.yaml"]
    assert "        image: nginx:1.25\n" in adoption.files["shop/dev/main.yaml"]  # the container's kept


def test_a_flow_mapping_and_a_json_manifest_take_quoted_values() -> None:
    files = dict(acme().files)
    files["shop/dev/manifests/settings.yaml"] = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web.settings, namespace: shop}\n"
        "data: {greeting: hello, marker: x}  # flow\n")
    files["shop/dev/manifests/extra.json"] = (
        '{"apiVersion": "v1", "kind": "ConfigMap",\n "metadata": {"name": "extra", "namespace": "shop"},\n'
        ' "data": {"a": "1"}}\n')
    snap = ConfigSnapshot(files)

    def settings_map(obj: dict[str, Any]) -> None:
        obj["data"]["greeting"] = "a, b"
        obj["data"]["new"] = "n"

    def extra(obj: dict[str, Any]) -> None:
        obj["data"]["a"] = "2"
        obj["data"]["b"] = "3"

    adoption = adopt(snap, "shop/dev", drifted(snap, {SETTINGS: settings_map, "v1:ConfigMap:shop:extra": extra}))
    assert adoption.left == ()
    assert adoption.files["shop/dev/manifests/settings.yaml"].endswith(
        'data: {greeting: "a, b", marker: x, "new": "n"}  # flow\n')
    assert adoption.files["shop/dev/manifests/extra.json"].endswith(' "data": {"a": "2", "b": "3"}}\n')


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(_TEXT, st.integers(-10**6, 10**6), st.booleans()))
def test_any_live_greeting_is_written_back_and_read_again_as_itself(value: Any) -> None:
    snap = acme()
    adoption = adopt(snap, "shop/dev", drifted(snap, {SETTINGS: lambda o: o["data"].update(greeting=value)}))
    [mapped] = adoption.mapped
    assert mapped.value == value
    before = (snap.read("shop/dev/manifests/settings.yaml") or "").splitlines()
    after = adoption.files["shop/dev/manifests/settings.yaml"].splitlines()
    assert [a for a, b in zip(before, after, strict=True) if a != b] == ["  greeting: hello from dev"]
    spec = generate_stack(snap.merged(adoption.files), "shop/dev").by_id()
    assert spec[SETTINGS].attributes["data"]["greeting"] == value


def test_the_work_is_bounded_on_a_large_drift() -> None:
    files = dict(acme().files)
    data = "".join(f"  key{i:02d}: value {i}\n" for i in range(60))
    files["shop/dev/manifests/many.yaml"] = (
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: many, namespace: shop}}\ndata:\n{data}")
    snap = ConfigSnapshot(files)

    def every_key(obj: dict[str, Any]) -> None:
        obj["data"] = {k: f"live {v}" for k, v in obj["data"].items()}

    adoption = adopt(snap, "shop/dev", drifted(snap, {"v1:ConfigMap:shop:many": every_key}))
    assert len(adoption.mapped) == MAX_FIELDS
    assert {f.reason for f in adoption.left} == {f"more than {MAX_FIELDS} drifted fields to try: the rest are not tried"}
    assert adoption.files["shop/dev/manifests/many.yaml"].count("live value") == MAX_FIELDS
