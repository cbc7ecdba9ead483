"""Preview resolves `$kusion_path` references the way apply will: in reference stages, from
the dry-run values of what they name, with KNOWN_AFTER_APPLY for values only apply knows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.core.ports import KNOWN_AFTER_APPLY
from bot.core.preview import Action, preview
from bot.core.runtimes import Capability
from bot.core.spec import KUBERNETES, TERRAFORM, Resource, Spec, State
from tests.core.test_render_golden import DictRuntime, k8s, tf
from tests.runtimes import stack_runtimes

MARK = "hashicorp:null:null_resource:marker"
OTHER = "hashicorp:null:null_resource:other"
CM = "v1:ConfigMap:shop:web.settings"  # an ID with a dot in its name


class Terraformish(DictRuntime):
    """Dry-run like Terraform: a changed trigger replaces the resource, so its id is unknown."""

    def __init__(self, objects: Mapping[str, Any]) -> None:
        super().__init__(objects)
        self.batches: list[tuple[str, ...]] = []

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Any]:
        self.batches.append(tuple(r.id for r in planned))
        out = {}
        for r in planned:  # references inside the batch interpolate, as Terraform's do
            triggers = {
                k: (out.get(MARK, {}).get("id", v) if v == f"$kusion_path.{MARK}.id" else v)
                for k, v in r.attributes.get("triggers", {}).items()
            }
            live = self.objects[r.id]
            same = live.get("triggers") == triggers
            out[r.id] = {**r.attributes, "triggers": triggers, "id": live["id"] if same else KNOWN_AFTER_APPLY}
        return out


def configmap(marker: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web.settings", "namespace": "shop"},
            "data": {"marker": marker}}


def world(trigger: str) -> tuple[Spec, State, dict[str, Any]]:
    marker = tf(MARK, {"triggers": {"image": trigger}})
    other = tf(OTHER, {"triggers": {"of": f"$kusion_path.{MARK}.id"}}, [MARK])
    cm = k8s(CM, configmap(f"$kusion_path.{MARK}.id"), [MARK])
    prior = State.of([
        tf(MARK, {"id": "42", "triggers": {"image": "v1"}}),
        tf(OTHER, {"id": "7", "triggers": {"of": "42"}}),
        k8s(CM, configmap("42")),
    ])
    runtimes = {
        TERRAFORM: Terraformish({MARK: {"id": "42", "triggers": {"image": "v1"}},
                                 OTHER: {"id": "7", "triggers": {"of": "42"}}}),
        KUBERNETES: DictRuntime({CM: configmap("42")}),
    }
    return Spec((marker, other, cm)), prior, runtimes


def test_unchanged_reference_resolves_to_the_recorded_value():
    spec, prior, runtimes = world("v1")
    cs = preview(spec, prior, runtimes)
    assert {s.id: s.action for s in cs.steps} == {MARK: Action.UNCHANGED, OTHER: Action.UNCHANGED,
                                                 CM: Action.UNCHANGED}


def test_a_replaced_target_makes_its_referrers_change_to_known_after_apply():
    spec, prior, runtimes = world("v2")
    cs = preview(spec, prior, runtimes)
    steps = {s.id: s for s in cs.steps}
    assert steps[MARK].action is Action.UPDATE
    assert steps[CM].action is Action.UPDATE
    assert steps[CM].to is not None and steps[CM].to.attributes["data"]["marker"] == KNOWN_AFTER_APPLY


def test_terraform_references_stay_inside_one_terraform_batch():
    spec, prior, runtimes = world("v1")
    preview(spec, prior, runtimes, batched=stack_runtimes(runtimes).having(Capability.BATCH))
    assert runtimes[TERRAFORM].batches == [(MARK, OTHER)]  # type: ignore[attr-defined]
