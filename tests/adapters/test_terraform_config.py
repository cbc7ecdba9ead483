"""The pure parts of the Terraform runtime: main.tf.json, references, state documents, settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.terraform import TerraformRuntime, TerraformSettings, config, tfstate
from bot.adapters.terraform.tfstate import TF_STATE_EXT
from bot.core import graph
from bot.core.errors import RuntimeFailed
from bot.core.ports import KNOWN_AFTER_APPLY, REPLACE_KEY, SENSITIVE_KEY
from bot.core.spec import KUBERNETES, TERRAFORM, Resource
from bot.settings import Settings

NULL = "registry.terraform.io/hashicorp/null/2.1.2"
AWS = "registry.terraform.io/hashicorp/aws/5.0.0"


def tf(rid: str, attributes: dict[str, Any], provider: str = NULL, **ext: Any) -> Resource:
    resource_type = rid.split(":")[2]
    extensions: dict[str, Any] = {"provider": provider, "resourceType": resource_type, **ext}
    return Resource(id=rid, type=TERRAFORM, attributes=attributes, extensions=extensions)


def test_main_tf_json_for_a_stack() -> None:
    vpc = tf(
        "hashicorp:aws:aws_vpc:main",
        {"cidr_block": "10.0.0.0/16"},
        AWS,
        providerMeta={"region": "us-east-1"},
    )
    subnet = Resource(
        id="hashicorp:aws:aws_subnet:a",
        type=TERRAFORM,
        attributes={
            "vpc_id": "$kusion_path.hashicorp:aws:aws_vpc:main.id",
            "cidr_block": "10.0.1.0/24",
        },
        depends_on=("hashicorp:aws:aws_vpc:main", "v1:Namespace:web"),
        extensions={
            "provider": AWS,
            "resourceType": "aws_subnet",
            "providerMeta": {"region": "us-east-1"},
        },
    )
    trigger = tf(
        "hashicorp:null:null_resource:hook",
        {"triggers": {"vpc": "$kusion_path.hashicorp:aws:aws_vpc:main.tags.Name"}},
    )
    document = config.render([trigger, subnet, vpc], [], {})
    alias = config.address_of(vpc).alias
    assert alias is not None and alias.startswith("m_")
    assert json.loads(document.text) == {
        "terraform": {
            "required_providers": {
                "aws": {"source": "registry.terraform.io/hashicorp/aws", "version": "5.0.0"},
                "null": {"source": "registry.terraform.io/hashicorp/null", "version": "2.1.2"},
            }
        },
        "provider": {"aws": [{"alias": alias, "region": "us-east-1"}], "null": [{}]},
        "resource": {
            "aws_subnet": {
                "a": {
                    "cidr_block": "10.0.1.0/24",
                    "vpc_id": "${aws_vpc.main.id}",
                    "provider": f"aws.{alias}",
                    "depends_on": ["aws_vpc.main"],
                }
            },
            "aws_vpc": {"main": {"cidr_block": "10.0.0.0/16", "provider": f"aws.{alias}"}},
            "null_resource": {"hook": {"triggers": {"vpc": "${aws_vpc.main.tags.Name}"}}},
        },
    }
    # Deterministic: the same resources in another order give the same bytes.
    assert config.render([vpc, subnet, trigger], [], {}).text == document.text
    assert document.unresolved == {}


def test_references_outside_the_call() -> None:
    recorded = tf("hashicorp:null:null_resource:base", {"id": "42", "triggers": {"k": "v"}})
    dotted = "networking.k8s.io/v1:Ingress:web:site"
    body = {
        "a": "$kusion_path.hashicorp:null:null_resource:base.id",
        "b": ["$kusion_path.hashicorp:null:null_resource:base.triggers.k"],
        "c": f"$kusion_path.{dotted}.spec.rules",
        "d": "not a $kusion_path. reference",
    }
    out = config.rewrite_references(body, {}, {recorded.id: recorded})
    assert out.body == {
        "a": "42",
        "b": ["v"],
        "c": f"$kusion_path.{dotted}.spec.rules",
        "d": "not a $kusion_path. reference",
    }
    assert out.unresolved == (f"$kusion_path.{dotted}.spec.rules",)
    # An ID with dots is split on the known ID, not on the first dot (the graph's one parser).
    ingress = Resource(id=dotted, type=KUBERNETES, attributes={"spec": {"rules": ["r"]}})
    out = config.rewrite_references({"c": body["c"]}, {}, {dotted: ingress})
    assert out.body == {"c": ["r"]} and out.unresolved == ()
    assert config.rewrite_references({"x": "$kusion_path.a:b.x"}, {}, {}).unresolved == (
        "$kusion_path.a:b.x",
    )


def test_native_traversal_quotes_odd_keys() -> None:
    target = config.address_of(tf("hashicorp:null:null_resource:a", {}))
    out = config.rewrite_references(
        {"x": "$kusion_path.hashicorp:null:null_resource:a.triggers.my key.0"},
        {target.id: target},
        {},
    )
    assert out.body == {"x": '${null_resource.a.triggers["my key"][0]}'}


# --- one reference parser: the rewrite reads references as the core does ------------------------

_BASE = "hashicorp:null:null_resource:"
# `web` and `web.v2` overlap: a reference to `web.v2.id` names the recorded `web.v2` when it is
# known, else `web` with the path `v2.id` (the longest known ID wins).
_CALL_IDS = [_BASE + n for n in ("web", "db", "a")]
_RECORDED_IDS = [*_CALL_IDS, _BASE + "web.v2", _BASE + "old"]
_OTHER_IDS = ["networking.k8s.io/v1:Ingress:shop:web", _BASE + "gone"]
_RECORDED = {"id": "42", "triggers": {"k": "v", "my key": ["p", "q"]}, "v2": {"id": "7"}}
_PATHS = st.lists(st.sampled_from(["id", "triggers", "k", "my key", "0", "1", "v2", "", "x"]), max_size=3)
_MISSING = object()


@settings(max_examples=300, deadline=None)
@given(
    st.sets(st.sampled_from(_CALL_IDS)),
    st.sets(st.sampled_from(_RECORDED_IDS)),
    st.lists(st.tuples(st.sampled_from([*_RECORDED_IDS, *_OTHER_IDS]), _PATHS), min_size=1, max_size=6),
)
def test_the_rewrite_agrees_with_the_cores_resolve(
    in_call: set[str], recorded: set[str], refs: list[tuple[str, list[str]]]
) -> None:
    call = {rid: config.address_of(tf(rid, {})) for rid in in_call}
    prior = {rid: tf(rid, _RECORDED) for rid in recorded}
    names = {*call, *prior}
    raws = [str(graph.Reference(rid, tuple(path))) for rid, path in refs]
    out = config.rewrite_references({"refs": raws}, call, prior)
    # What the executor hands a batch: references to its members left, the rest resolved.
    core = graph.resolve(raws, {r: p.attributes for r, p in prior.items()}, inside=call, names=names,
                         strict=False, unknown=_MISSING)
    found, unknown = graph.referenced_ids(raws, names)
    assert set(unknown) <= set(out.unresolved)
    for raw, got, resolved in zip(raws, out.body["refs"], core, strict=True):
        ref = graph.parse_reference(raw, names)
        if ref is None:
            assert got == resolved == raw and raw in out.unresolved
        elif ref.resource_id in call:
            # Left to the batch by the core, a native interpolation of that resource here.
            assert resolved == raw and ref.resource_id in found
            assert got == "${" + call[ref.resource_id].address + config._traversal(ref.path) + "}"
        elif resolved is _MISSING or resolved == raw:
            assert got == raw and raw in out.unresolved
        else:
            assert got == resolved == graph.value_at(_RECORDED, ref.path)
    left = [raw for raw, got in zip(raws, out.body["refs"], strict=True) if got == raw]
    assert sorted(set(left)) == list(out.unresolved)


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        (
            tf("hashicorp:null:null_resource", {}),
            "must be providerNs:providerName:resourceType:name",
        ),
        (
            tf("hashicorp:null:null_resource:a", {}, provider="hashicorp/null"),
            "is not host/namespace/name/version",
        ),
        (tf("hashicorp:random:null_resource:a", {}), "the ID names provider hashicorp/random"),
        (tf("hashicorp:null:null_resource:9lives", {}), "is not a valid Terraform address"),
        (
            Resource(id="hashicorp:null:null_resource:a", type=TERRAFORM, attributes={}),
            "extensions.provider is missing",
        ),
        (
            Resource(id="v1:Namespace:a", type=KUBERNETES, attributes={}),
            "got a resource of type 'Kubernetes'",
        ),
    ],
)
def test_invalid_resources_are_named(resource: Resource, message: str) -> None:
    with pytest.raises(RuntimeFailed, match=message) as caught:
        config.render([resource], [], {})
    assert caught.value.failed_ids == {resource.id}


def test_one_version_per_provider_and_single_instances() -> None:
    a = tf("hashicorp:null:null_resource:a", {})
    b = tf(
        "hashicorp:null:null_resource:b", {}, provider="registry.terraform.io/hashicorp/null/3.2.1"
    )
    with pytest.raises(RuntimeFailed, match="one stack can use one version of a provider"):
        config.render([a, b], [], {})
    # A recorded entry of an older version does not block an upgrade: the blocks win.
    text = config.render([b], [a], {}).text
    assert json.loads(text)["terraform"]["required_providers"]["null"]["version"] == "3.2.1"
    with pytest.raises(RuntimeFailed, match="'count' is not supported"):
        config.render([tf("hashicorp:null:null_resource:c", {"count": 2})], [], {})


def test_state_document_roundtrip() -> None:
    recorded = tf(
        "hashicorp:null:null_resource:a",
        {"id": "1", "triggers": {"k": "v"}},
        **{
            TF_STATE_EXT: {
                "schema_version": 0,
                "dependencies": ["null_resource.z"],
                "provider": 'provider["registry.terraform.io/hashicorp/null"]',
                "status": "tainted",
            }
        },
    )
    bare = tf("hashicorp:null:null_resource:b", {"id": "2"})
    addrs = config.addresses([recorded, bare])
    document = tfstate.build_state([bare, recorded], addrs, tfstate.lineage_for("x"))
    assert document["lineage"] == tfstate.lineage_for("x")
    found = tfstate.instances(document)
    assert sorted(found) == ["null_resource.a", "null_resource.b"]
    assert found["null_resource.a"].tainted
    assert found["null_resource.a"].attributes == {"id": "1", "triggers": {"k": "v"}}
    assert found["null_resource.b"].raw == {
        "attributes": {"id": "2"},
        "schema_version": 0,
        "sensitive_attributes": [],
    }
    again = tfstate.state_resource(recorded, found["null_resource.a"], {"triggers": {"k": True}})
    assert again.extensions[TF_STATE_EXT] == recorded.extensions[TF_STATE_EXT] | {
        "sensitive_attributes": []
    }
    assert again.extensions[SENSITIVE_KEY] == {"triggers": {"k": True}}
    with pytest.raises(RuntimeFailed, match="format version 3"):
        tfstate.instances({"version": 3})


def test_plan_documents_of_both_format_generations() -> None:
    change = {
        "address": "null_resource.b",
        "mode": "managed",
        "type": "null_resource",
        "name": "b",
        "change": {
            "actions": ["create"],
            "after": {"triggers": {"k": "v"}, "list": ["x", None]},
            "after_unknown": {"id": True, "triggers": {}, "list": [False, True]},
            "after_sensitive": {"triggers": {"k": True}, "list": [False, False]},
        },
    }
    for version in ("0.2", "1.2"):
        changes = tfstate.planned_changes({"format_version": version, "resource_changes": [change]})
        assert changes["null_resource.b"].view() == {
            "id": KNOWN_AFTER_APPLY,
            "triggers": {"k": "v"},
            "list": ["x", KNOWN_AFTER_APPLY],
            SENSITIVE_KEY: {"triggers": {"k": True}},
        }
    with pytest.raises(RuntimeFailed, match="format_version 2.0"):
        tfstate.planned_changes({"format_version": "2.0"})
    assert tfstate.prune({"a": {}, "b": [False, {"c": True}], "d": False}) == {
        "b": [False, {"c": True}]
    }
    assert tfstate.prune({"a": {}}) is None


def configured(environ: dict[str, str], cache_dir: Path) -> TerraformSettings:
    """As the wiring does it: Terraform's settings read by `Settings`, the environment as the parent."""
    return TerraformSettings.configured(Settings.from_env(environ).terraform, environ, cache_dir=cache_dir)


def test_settings_from_the_shipmate_settings(tmp_path: Path) -> None:
    rc = tmp_path / "terraformrc"
    rc.write_text("disable_checkpoint = true\n")
    environ = {
        "SHIPMATE_TERRAFORM_BIN": "/opt/tf/terraform",
        "TF_CLI_CONFIG_FILE": str(rc),
        "HOME": str(tmp_path / "home"),
        "PATH": "/usr/bin",
        "TF_CLI_ARGS_plan": "-json",
        "TF_WORKSPACE": "other",
        "AWS_PROFILE": "ci",
    }
    settings = configured(environ, tmp_path / "cache")
    assert settings.binary == "/opt/tf/terraform"
    assert settings.cli_config_file == rc
    assert settings.cache_dir == tmp_path / "cache"
    assert settings.plugin_cache_dir == settings.cache_dir / "terraform" / "plugin-cache"
    runtime = settings.runtime(
        "my app",
        "../prod",
        "prod",
        context={
            "AWS_ACCESS_KEY_ID": "AKIA",
            "AWS_REGION": "eu-west-1",
            "KUBECONFIG_PATH": "/k",
            "ALICLOUD_REGION": "cn",
            "not-an-env": "x",
        },
    )
    assert runtime.work_dir == settings.cache_dir / "terraform" / "my_app" / ".._prod" / "prod"
    env = runtime.env
    assert env["TF_CLI_CONFIG_FILE"] == str(rc)
    assert env["CHECKPOINT_DISABLE"] == "1" and env["TF_IN_AUTOMATION"] == "1"
    assert env["AWS_ACCESS_KEY_ID"] == "AKIA" and env["AWS_REGION"] == "eu-west-1"
    # The process environment is not inherited: only the allowlist and the context's
    # provider credentials (AWS_PROFILE only with SHIPMATE_TERRAFORM_PASS_ENV, below).
    assert env["ALICLOUD_REGION"] == "cn" and "AWS_PROFILE" not in env
    assert env["HOME"] == str(tmp_path / "home") and env["PATH"] == "/usr/bin"
    passing = configured(
        {**environ, "SHIPMATE_TERRAFORM_PASS_ENV": "AWS_PROFILE, GITHUB_TOKEN", "GITHUB_TOKEN": "t"},
        tmp_path / "cache",
    )
    assert passing.env["AWS_PROFILE"] == "ci" and "GITHUB_TOKEN" not in passing.env
    assert "KUBECONFIG_PATH" not in env and "not-an-env" not in env
    assert "TF_CLI_ARGS_plan" not in env and "TF_WORKSPACE" not in env

    # A configured CLI config that does not exist is not used; an empty one is written instead.
    bare = configured({"TF_CLI_CONFIG_FILE": str(tmp_path / "missing"), "PATH": "/nowhere"}, tmp_path / "c")
    assert bare.cli_config_file is None and bare.binary == "terraform"
    runtime = bare.runtime("p", "s", "w")
    assert runtime.env["TF_CLI_CONFIG_FILE"] == str(runtime.work_dir / "shipmate.terraformrc")


def test_constructor_without_environment(tmp_path: Path) -> None:
    runtime = TerraformRuntime(tmp_path / "wd", binary="terraform")
    env = runtime.env
    assert env["PATH"] and "HOME" not in env and "TF_PLUGIN_CACHE_DIR" not in env


def test_a_plan_reads_replacements_and_the_attributes_forcing_them() -> None:
    def change(address: str, actions: list[str], **extra: Any) -> dict[str, Any]:
        return {"address": address, "mode": "managed", "type": "null_resource", "name": address.split(".")[1],
                "change": {"actions": actions, "after": {"triggers": {"v": "2"}}, "after_unknown": {"id": True},
                           **extra}}

    plan = {"format_version": "1.2", "resource_changes": [
        change("null_resource.a", ["delete", "create"], replace_paths=[["triggers"], ["ingress", 0, "port"]]),
        change("null_resource.b", ["create", "delete"]),  # create_before_destroy, tainted: no paths
        change("null_resource.c", ["update"]),
    ]}
    views = {address: c.view() for address, c in tfstate.planned_changes(plan).items()}
    assert views["null_resource.a"][REPLACE_KEY] == [["triggers"], ["ingress", 0, "port"]]
    assert views["null_resource.b"][REPLACE_KEY] == []
    assert REPLACE_KEY not in views["null_resource.c"]
    assert views["null_resource.c"] == {"triggers": {"v": "2"}, "id": KNOWN_AFTER_APPLY}
