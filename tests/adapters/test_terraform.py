"""The Terraform runtime against the real Terraform binary and the offline null provider.

Needs SHIPMATE_TERRAFORM_BIN and TF_CLI_CONFIG_FILE (./scripts/test sets both to the copies
./scripts/install puts in .tools/terraform/).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.terraform import TerraformRuntime, TerraformSettings
from bot.adapters.terraform.tfstate import TF_STATE_EXT
from bot.core import render
from bot.core.errors import RuntimeFailed
from bot.core.ports import KNOWN_AFTER_APPLY, REPLACE_KEY, SENSITIVE_KEY
from bot.core.preview import Action, preview
from bot.core.spec import TERRAFORM, Resource, Spec, State
from bot.settings import Settings

NULL = "registry.terraform.io/hashicorp/null/2.1.2"


def null(
    name: str,
    attributes: Mapping[str, Any],
    *,
    depends_on: tuple[str, ...] = (),
    meta: Mapping[str, Any] | None = None,
) -> Resource:
    ext: dict[str, Any] = {"provider": NULL, "resourceType": "null_resource"}
    if meta is not None:
        ext["providerMeta"] = dict(meta)
    return Resource(
        id=f"hashicorp:null:null_resource:{name}",
        type=TERRAFORM,
        attributes=dict(attributes),
        depends_on=depends_on,
        extensions=ext,
    )


def rid(name: str) -> str:
    return f"hashicorp:null:null_resource:{name}"


def ref(name: str, attr: str) -> str:
    return f"$kusion_path.{rid(name)}.{attr}"


@pytest.fixture(scope="module")
def settings_env() -> dict[str, str]:
    binary = os.environ.get("SHIPMATE_TERRAFORM_BIN", "")
    if not binary or not Path(binary).is_file():
        pytest.fail(
            "SHIPMATE_TERRAFORM_BIN must name a terraform binary: run the tests through "
            "./scripts/test, which sets it to .tools/terraform/bin/terraform "
            f"(got {binary!r})"
        )
    cli = os.environ.get("TF_CLI_CONFIG_FILE", "")
    if not cli or not Path(cli).is_file():
        pytest.fail(
            "TF_CLI_CONFIG_FILE must name the CLI config with the offline provider mirror "
            f"(.tools/terraform/terraformrc; got {cli!r})"
        )
    return {
        "SHIPMATE_TERRAFORM_BIN": binary,
        "TF_CLI_CONFIG_FILE": cli,
        "PATH": os.environ.get("PATH", os.defpath),
    }


@pytest.fixture
def settings(settings_env: dict[str, str], tmp_path: Path) -> TerraformSettings:
    # No plugin cache: the provider is linked straight from the mirror.
    base = TerraformSettings.configured(Settings.from_env(settings_env).terraform, settings_env,
                                        cache_dir=tmp_path / "cache")
    return TerraformSettings(
        binary=base.binary,
        cli_config_file=base.cli_config_file,
        cache_dir=base.cache_dir,
        env=base.env,
        plugin_cache_dir=None,
        timeout_seconds=120,
    )


@pytest.fixture
def runtime(settings: TerraformSettings) -> TerraformRuntime:
    return settings.runtime("shop", "dev", "dev")


def record(prior: State, applied: Mapping[str, Resource | None]) -> State:
    """What the executor does with results: replace, add or (None) drop State entries."""
    by_id = prior.by_id()
    for key, value in applied.items():
        if value is None:
            by_id.pop(key, None)
        else:
            by_id[key] = value
    return State.of(by_id.values())


def commands(runtime: TerraformRuntime) -> list[str]:
    return [name for name, _, _ in runtime.history]


def working_state(runtime: TerraformRuntime) -> list[Any]:
    """The resources of the throwaway terraform.tfstate after the last command."""
    document = json.loads((runtime.work_dir / "terraform.tfstate").read_text())
    return [r for r in document["resources"] if r["instances"]]


def stack(c_trigger: str = "one") -> list[Resource]:
    return [
        null("a", {"triggers": {"x": "1"}}),
        null("b", {"triggers": {"upstream": ref("a", "id")}}, depends_on=(rid("a"),)),
        null("c", {"triggers": {"y": c_trigger}}),
    ]


def test_lifecycle_in_one_working_directory(runtime: TerraformRuntime) -> None:
    planned = stack()
    empty = State()

    assert runtime.read(planned, empty) == {r.id: None for r in planned}

    preview = runtime.dry_run(planned, empty)
    assert preview[rid("a")] == {"id": KNOWN_AFTER_APPLY, "triggers": {"x": "1"}}
    # b's trigger refers to a's id: one plan covers both, the value is not known yet.
    assert preview[rid("b")] == {"id": KNOWN_AFTER_APPLY, "triggers": KNOWN_AFTER_APPLY}
    assert preview[rid("c")]["triggers"] == {"y": "one"}

    main = json.loads((runtime.work_dir / "main.tf.json").read_text())
    assert main["resource"]["null_resource"]["b"] == {
        "triggers": {"upstream": "${null_resource.a.id}"},
        "depends_on": ["null_resource.a"],
    }
    assert main["terraform"]["required_providers"] == {
        "null": {"source": "registry.terraform.io/hashicorp/null", "version": "2.1.2"}
    }

    assert commands(runtime) == ["init", "plan", "show"]

    # apply applies the plan file the dry run made: no second plan.
    seen = len(runtime.history)
    applied = runtime.apply(planned, empty)
    assert commands(runtime)[seen:] == ["apply"]
    assert sorted(applied) == sorted(r.id for r in planned)
    a, b = applied[rid("a")], applied[rid("b")]
    assert a.attributes["triggers"] == {"x": "1"}
    assert a.attributes["id"].isdigit()
    assert b.attributes["triggers"] == {"upstream": a.attributes["id"]}
    assert b.depends_on == (rid("a"),)
    assert b.extensions["provider"] == NULL
    assert b.extensions[TF_STATE_EXT]["dependencies"] == ["null_resource.a"]
    assert (
        b.extensions[TF_STATE_EXT]["provider"] == 'provider["registry.terraform.io/hashicorp/null"]'
    )
    state = record(empty, applied)

    live = runtime.read(planned, state)
    assert live == {r.id: dict(r.attributes) for r in state.resources}

    # Unchanged: the dry run equals live, so the preview reports no diff.
    assert runtime.dry_run(planned, state) == live

    changed = stack(c_trigger="two")
    preview = runtime.dry_run(changed, state)
    # A changed trigger replaces the resource (-/+): the plan names the attribute forcing it.
    assert preview[rid("c")] == {"id": KNOWN_AFTER_APPLY, "triggers": {"y": "two"}, REPLACE_KEY: [["triggers"]]}
    assert preview[rid("a")] == live[rid("a")]

    applied = runtime.apply(changed, state)
    assert applied[rid("c")].attributes["triggers"] == {"y": "two"}
    assert applied[rid("a")] == state.by_id()[rid("a")]
    state = record(state, applied)

    # Delete one resource; the others stay untouched.
    runtime.delete([state.by_id()[rid("c")]], state)
    assert working_state(runtime) == []  # held only c, which Terraform destroyed
    state = record(state, {rid("c"): None})
    assert runtime.read(changed, state) == {
        rid("a"): dict(state.by_id()[rid("a")].attributes),
        rid("b"): dict(state.by_id()[rid("b")].attributes),
        rid("c"): None,
    }

    # Destroy all (dependents first: Terraform orders it from the recorded dependencies).
    runtime.delete(list(state.resources), state)
    assert working_state(runtime) == []
    state = record(state, {r.id: None for r in state.resources})
    assert runtime.read(changed, state) == {r.id: None for r in changed}
    # One init for the whole life of the working directory.
    assert commands(runtime).count("init") == 1


def test_a_replacement_is_previewed_as_replace_and_applied(runtime: TerraformRuntime) -> None:
    first = [null("seed", {"triggers": {"build": "41"}}), null("keep", {"triggers": {"x": "1"}})]
    state = record(State(), runtime.apply(first, State()))
    old_id = state.by_id()[rid("seed")].attributes["id"]
    changed = [null("seed", {"triggers": {"build": "42"}}), first[1]]

    cs = preview(Spec(tuple(changed)), state, {TERRAFORM: runtime}, batched={TERRAFORM})
    steps = cs.by_id()
    assert steps[rid("seed")].action is Action.REPLACE
    assert steps[rid("seed")].forces == (("triggers",),)
    assert steps[rid("keep")].action is Action.UNCHANGED
    assert cs.counts().summary() == "0 to create, 0 to update, 1 to replace, 0 to delete, 1 unchanged"
    text = render.text(cs)
    assert "Plan: Replace (-/+)\nForced by: triggers" in text
    assert "@@ triggers.build (forces replacement) @@" in text
    assert '"action": "Update"' in render.json(cs)  # Kusion has no Replace

    # Applying it is an apply like an update: Terraform replaces the resource itself.
    applied = runtime.apply(changed, state)
    assert applied[rid("seed")].attributes["triggers"] == {"build": "42"}
    assert applied[rid("seed")].attributes["id"] != old_id
    state = record(state, applied)
    again = preview(Spec(tuple(changed)), state, {TERRAFORM: runtime}, batched={TERRAFORM})
    assert not again.has_changes


def test_ephemeral_runner_rebuilds_from_release_state(
    settings: TerraformSettings, settings_env: dict[str, str], tmp_path: Path
) -> None:
    first = settings.runtime("shop", "prod", "prod")
    planned = stack()
    state = record(State(), first.apply(planned, State()))
    first.clean()
    assert not first.work_dir.exists()

    # A different machine: new cache directory, nothing but the release State.
    elsewhere = TerraformSettings.configured(
        Settings.from_env(settings_env).terraform, settings_env, cache_dir=tmp_path / "other-runner"
    ).runtime("shop", "prod", "prod")
    assert elsewhere.work_dir == tmp_path / "other-runner" / "terraform" / "shop" / "prod" / "prod"
    live = elsewhere.read(planned, state)
    assert live == {r.id: dict(r.attributes) for r in state.resources}
    assert elsewhere.dry_run(planned, state) == live

    changed = stack(c_trigger="three")
    applied = elsewhere.apply(changed, state)
    assert applied[rid("c")].attributes["triggers"] == {"y": "three"}
    assert applied[rid("c")].attributes["id"] != state.by_id()[rid("c")].attributes["id"]
    state = record(state, applied)

    elsewhere.clean()
    elsewhere.delete(list(state.resources), state)
    assert working_state(elsewhere) == []


def test_state_written_without_raw_instance_still_refreshes(runtime: TerraformRuntime) -> None:
    applied = runtime.apply([null("solo", {"triggers": {"k": "v"}})], State())
    bare = Resource(
        id=rid("solo"),
        type=TERRAFORM,
        attributes=applied[rid("solo")].attributes,
        extensions={"provider": NULL, "resourceType": "null_resource"},
    )
    state = State.of([bare])
    runtime.clean()
    assert runtime.read([bare], state) == {rid("solo"): dict(bare.attributes)}
    runtime.delete([bare], state)
    assert working_state(runtime) == []


def test_invalid_attribute_is_a_clear_runtime_failure(runtime: TerraformRuntime) -> None:
    planned = [null("good", {"triggers": {"k": "v"}}), null("bad", {"bogus": "x"})]
    with pytest.raises(RuntimeFailed) as caught:
        runtime.dry_run(planned, State())
    message = str(caught.value)
    assert f"terraform plan failed for {rid('bad')}" in message
    assert "in resource.null_resource.bad:" in message
    assert 'No argument or block type is named "bogus".' in message
    assert "\x1b[" not in message
    assert caught.value.failed_ids == {rid("bad")}

    with pytest.raises(RuntimeFailed) as caught:
        runtime.apply(planned, State())
    assert caught.value.partial == {}
    assert caught.value.failed_ids == {rid("bad")}


def test_failed_apply_reports_exactly_what_was_applied(runtime: TerraformRuntime) -> None:
    failing = {"local-exec": {"command": "echo disk full >&2; exit 3"}}
    planned = [
        null("first", {"triggers": {"k": "v"}}),
        null("broken", {"triggers": {"up": ref("first", "id")}, "provisioner": [failing]}),
        null("after", {"triggers": {"up": ref("broken", "id")}}),
    ]
    with pytest.raises(RuntimeFailed) as caught:
        runtime.apply(planned, State())
    error = caught.value
    assert "terraform apply failed for" in str(error)
    assert rid("broken") in str(error)
    assert f"applied before the error: {rid('first')}" in str(error)
    assert "disk full" in str(error)
    # first succeeded; broken exists but is tainted (recorded so it is not leaked, and
    # failed); after never ran.
    assert set(error.partial) == {rid("first"), rid("broken")}
    assert error.failed_ids == {rid("broken")}
    broken = error.partial[rid("broken")]
    assert broken is not None and broken.extensions[TF_STATE_EXT]["status"] == "tainted"
    first = error.partial[rid("first")]
    assert first is not None and first.attributes["triggers"] == {"k": "v"}

    # The next run starts from what was recorded: the tainted one is replaced.
    state = record(State(), error.partial)
    fixed = [planned[0], null("broken", {"triggers": {"up": ref("first", "id")}}), planned[2]]
    preview = runtime.dry_run(fixed, state)
    assert preview[rid("first")] == dict(first.attributes)
    assert preview[rid("broken")]["id"] == KNOWN_AFTER_APPLY
    state = record(state, runtime.apply(fixed, state))
    assert {r.id for r in state.resources} == {rid("first"), rid("broken"), rid("after")}


def test_sensitive_values_are_flagged(runtime: TerraformRuntime) -> None:
    planned = [null("secretive", {"triggers": {"pw": '${sensitive("hunter2")}', "user": "me"}})]
    preview = runtime.dry_run(planned, State())
    assert preview[rid("secretive")][SENSITIVE_KEY] == {"triggers": {"pw": True}}
    assert preview[rid("secretive")]["triggers"] == {"pw": "hunter2", "user": "me"}

    applied = runtime.apply(planned, State())[rid("secretive")]
    assert applied.extensions[SENSITIVE_KEY] == {"triggers": {"pw": True}}
    assert SENSITIVE_KEY not in applied.attributes
    state = State.of([applied])
    live = runtime.read(planned, state)[rid("secretive")]
    assert live is not None and live[SENSITIVE_KEY] == {"triggers": {"pw": True}}


def test_provider_meta_and_references_to_recorded_resources(runtime: TerraformRuntime) -> None:
    base = null("base", {"triggers": {"k": "v"}}, meta={})
    state = record(State(), runtime.apply([base], State()))
    base_id = state.by_id()[rid("base")].attributes["id"]

    # providerMeta is the provider block body: a non-empty one gets its own aliased provider
    # configuration (the null provider takes no arguments, so Terraform rejects this one).
    child = null("child", {"triggers": {"up": ref("base", "id")}}, meta={"alias_note": None})
    with pytest.raises(RuntimeFailed) as caught:
        runtime.dry_run([child], state)
    assert 'No argument or block type is named "alias_note".' in str(caught.value)
    main = json.loads((runtime.work_dir / "main.tf.json").read_text())
    alias = main["resource"]["null_resource"]["child"]["provider"]
    assert alias.startswith("null.m_")
    assert {"alias": alias.removeprefix("null."), "alias_note": None} in main["provider"]["null"]

    # A later call without `base`: its reference resolves to the recorded value.

    child = null("child", {"triggers": {"up": ref("base", "id")}}, meta={})
    preview = runtime.dry_run([child], state)
    assert preview[rid("child")]["triggers"] == {"up": base_id}

    with pytest.raises(RuntimeFailed) as caught:
        runtime.apply(
            [null("orphan", {"triggers": {"up": "$kusion_path.v1:Service:x.spec"}})], state
        )
    assert "unresolved $kusion_path references" in str(caught.value)
    assert caught.value.failed_ids == {rid("orphan")}


def test_missing_binary_is_reported(tmp_path: Path) -> None:
    runtime = TerraformRuntime(tmp_path / "wd", binary=str(tmp_path / "no-terraform"))
    with pytest.raises(RuntimeFailed, match="Terraform binary not found"):
        runtime.dry_run([null("a", {})], State())


def test_resources_with_an_import_id_are_imported_not_planned(runtime: TerraformRuntime) -> None:
    adopt = {"kusionstack.io/import-id": "5577006791947779410"}
    wanted = null("adopted", {})
    wanted = Resource(wanted.id, TERRAFORM, {}, (), {**wanted.extensions, **adopt})
    # The null provider cannot import null_resource: such a resource is not live (nothing
    # was imported), is planned like any other and created by apply, not a failure.
    assert runtime.read([wanted], State()) == {wanted.id: None}
    assert runtime.dry_run([wanted], State())[wanted.id] == {"id": KNOWN_AFTER_APPLY, "triggers": None}
    created = runtime.apply([wanted], State())[wanted.id]
    assert created.attributes["id"] and created.extensions["kusionstack.io/import-id"]
    runtime.delete([created], State.of([created]))

    # Once recorded, an imported resource is refreshed, never planned or changed.
    existing = runtime.apply([null("adopted", {"triggers": {"k": "v"}})], State())[wanted.id]
    state = State.of([existing])
    assert runtime.dry_run([wanted], state) == {wanted.id: dict(existing.attributes)}
    seen = len(runtime.history)
    kept = runtime.apply([wanted], state)[wanted.id]
    assert commands(runtime)[seen:] == []
    assert kept.attributes == existing.attributes
    assert kept.extensions["kusionstack.io/import-id"] == adopt["kusionstack.io/import-id"]
    assert kept.extensions[TF_STATE_EXT] == existing.extensions[TF_STATE_EXT]


def test_concurrent_calls_share_the_working_directory_safely(settings: TerraformSettings) -> None:
    from concurrent.futures import ThreadPoolExecutor

    left, right = settings.runtime("shop", "dev", "dev"), settings.runtime("shop", "dev", "dev")
    assert left.work_dir == right.work_dir
    batches = [
        (left, [null("l1", {"triggers": {"k": "1"}}), null("l2", {"triggers": {"k": "2"}})]),
        (right, [null("r1", {"triggers": {"k": "3"}})]),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: job[0].apply(job[1], State()), batches))
    assert sorted(results[0]) == [rid("l1"), rid("l2")]
    assert sorted(results[1]) == [rid("r1")]
    assert results[0][rid("l2")].attributes["triggers"] == {"k": "2"}
    assert results[1][rid("r1")].attributes["triggers"] == {"k": "3"}
