"""The three-way preview engine: Kusion's action rules over the Runtime port."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from bot.core.errors import ConfigError, PlanError, RuntimeFailed
from bot.core.ports import REPLACE_KEY, SENSITIVE_KEY
from bot.core.preview import (
    Action,
    DiffKind,
    changeset_from,
    parse_ignore_fields,
    preview,
    preview_destroy,
)
from bot.core.spec import EXT_IMPORT_ID, KUBERNETES, TERRAFORM, Resource, Spec, State
from tests.core.test_render_golden import (
    DEPLOY,
    NS,
    NULL,
    SVC,
    DictRuntime,
    deployment,
    k8s,
    namespace,
    served,
    service,
    tf,
)


class CountingRuntime(DictRuntime):
    """Records every batch it is asked for."""

    def __init__(self, objects: Mapping[str, Any], **kw: Any) -> None:
        super().__init__(objects, **kw)
        self.calls: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = []

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, Any]:
        self.calls.append(
            ("read", tuple(r.id for r in resources), tuple(r.id for r in prior.resources))
        )
        return super().read(resources, prior)

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Any]:
        self.calls.append(
            ("dry_run", tuple(r.id for r in planned), tuple(r.id for r in prior.resources))
        )
        return super().dry_run(planned, prior)


def test_actions_follow_kusion_rules_and_runtimes_are_called_in_batches() -> None:
    prior = State.of(
        [k8s(NS, namespace()), k8s(DEPLOY, deployment(), [NS]), tf(NULL, {"triggers": {"v": "1"}})]
    )
    kube = CountingRuntime({NS: served(namespace(), 1), DEPLOY: served(deployment(replicas=4), 2)})
    terra = CountingRuntime({NULL: {"id": "1", "triggers": {"v": "1"}}})
    spec = Spec(
        (k8s(NS, namespace()), k8s(SVC, service(), [NS]), tf(NULL, {"triggers": {"v": "1"}}))
    )
    cs = preview(
        spec, prior, {KUBERNETES: kube, TERRAFORM: terra}, project="p", stack="s", workspace="w"
    )

    assert {s.id: s.action for s in cs.steps} == {
        NS: Action.UNCHANGED,
        SVC: Action.CREATE,
        NULL: Action.UNCHANGED,
        DEPLOY: Action.DELETE,
    }
    assert (cs.project, cs.stack, cs.workspace) == ("p", "s", "w")
    # one read per runtime (planned + removed), one dry-run of what exists live
    assert [c[:2] for c in kube.calls] == [("read", (NS, SVC, DEPLOY)), ("dry_run", (NS,))]
    assert [c[:2] for c in terra.calls] == [("read", (NULL,)), ("dry_run", (NULL,))]
    step = cs.by_id()[DEPLOY]
    assert step.to is None and step.from_ is not None
    assert step.from_.attributes["spec"]["replicas"] == 4  # `from` is the live object
    assert "status" not in step.from_.attributes and "uid" not in step.from_.attributes["metadata"]


def test_update_compares_dry_run_with_live_not_with_plan() -> None:
    live = served(deployment(replicas=5), 1)
    prior = State.of([k8s(DEPLOY, deployment())])
    spec = Spec((k8s(DEPLOY, deployment()),))
    cs = preview(spec, prior, {KUBERNETES: DictRuntime({DEPLOY: live})})
    (step,) = cs.steps
    assert step.action is Action.UPDATE
    assert [(d.dotted, d.before, d.after) for d in step.diffs] == [("spec.replicas", 5, 2)]


def test_fields_owned_by_others_are_kept_by_the_dry_run_and_are_no_change() -> None:
    live = served(deployment(), 1)
    live["metadata"]["annotations"] = {"owner": "someone-else"}
    spec = Spec((k8s(DEPLOY, deployment()),))
    cs = preview(spec, State.of(spec.resources), {KUBERNETES: DictRuntime({DEPLOY: live})})
    assert cs.steps[0].action is Action.UNCHANGED


def test_ignore_fields_descend_through_lists() -> None:
    live = served(deployment(image="nginx:1.0"), 1)
    live["metadata"]["annotations"] = {"a.b/c": "x"}
    spec = Spec(
        (
            k8s(
                DEPLOY,
                deployment(image="nginx:2.0")
                | {
                    "metadata": {
                        "name": "web",
                        "namespace": "shop",
                        "labels": {"app": "web"},
                        "annotations": {"a.b/c": "y"},
                    }
                },
            ),
        )
    )
    runtimes = {KUBERNETES: DictRuntime({DEPLOY: live})}
    prior = State.of(spec.resources)
    assert preview(spec, prior, runtimes).steps[0].action is Action.UPDATE
    ignore = ["spec.template.spec.containers.image", "metadata.annotations.a\\.b/c"]
    cs = preview(spec, prior, runtimes, ignore)
    assert cs.steps[0].action is Action.UNCHANGED
    assert "image" not in cs.steps[0].to.attributes["spec"]["template"]["spec"]["containers"][0]  # type: ignore[union-attr]


def test_parse_ignore_fields() -> None:
    assert parse_ignore_fields(["a.b,c", "metadata.annotations.x\\.y", "a.b"]) == (
        ("a", "b"),
        ("c",),
        ("metadata", "annotations", "x.y"),
    )
    with pytest.raises(ConfigError, match="empty segment"):
        parse_ignore_fields(["a..b"])


def test_imported_resource_without_prior_uses_live_as_prior_and_is_never_deleted() -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "shop"},
        "data": {"k": "v"},
    }
    rid = "v1:ConfigMap:shop:x"
    imported = Resource(rid, KUBERNETES, cm, (), {EXT_IMPORT_ID: "shop/x"})
    live_cm = served(cm, 1) | {"data": {"k": "v", "extra": "kept"}}
    kube = CountingRuntime({rid: live_cm})
    cs = preview(Spec((imported,)), State(), {KUBERNETES: kube})
    assert kube.calls[1] == ("dry_run", (rid,), (rid,))  # live adopted as prior for the merge
    # With live as prior, what the Spec leaves out is owned and so removed (Kusion's import).
    assert cs.steps[0].action is Action.UPDATE
    assert [(d.dotted, d.kind) for d in cs.steps[0].diffs] == [("data.extra", DiffKind.REMOVED)]

    destroy = preview_destroy(State.of([imported, k8s(NS, namespace())]), {KUBERNETES: kube})
    assert {s.id: s.action for s in destroy.steps} == {rid: Action.UNCHANGED, NS: Action.DELETE}
    removed = preview(Spec(), State.of([imported]), {KUBERNETES: kube})
    assert removed.steps[0].action is Action.UNCHANGED and "imported" in removed.steps[0].note


def test_deletions_go_dependents_first_and_creations_dependencies_first() -> None:
    a, b, c = (f"v1:ConfigMap:ns:{n}" for n in "abc")
    res = [
        k8s(c, {"kind": "ConfigMap"}, [b]),
        k8s(b, {"kind": "ConfigMap"}, [a]),
        k8s(a, {"kind": "ConfigMap"}),
    ]
    created = changeset_from(Spec(tuple(res)), State(), {}, {})
    assert created.step_keys == (a, b, c)
    deleted = changeset_from(Spec(), State.of(res), {}, {})
    assert deleted.step_keys == (c, b, a)
    assert all(s.action is Action.DELETE and s.note for s in deleted.steps)  # gone live already


def test_cycles_do_not_lose_steps() -> None:
    a, b = "v1:ConfigMap:ns:a", "v1:ConfigMap:ns:b"
    cs = changeset_from(Spec((k8s(a, {}, [b]), k8s(b, {}, [a]))), State(), {}, {})
    assert cs.step_keys == (a, b)


def test_errors_name_the_problem() -> None:
    spec = Spec((k8s(NS, namespace()), tf(NULL, {})))
    with pytest.raises(PlanError, match="no runtime for resource type Terraform"):
        preview(spec, State(), {KUBERNETES: DictRuntime({})})
    with pytest.raises(PlanError, match="duplicate resource ID"):
        preview(
            Spec((k8s(NS, namespace()), k8s(NS, namespace()))),
            State(),
            {KUBERNETES: DictRuntime({})},
        )

    class Forgetful(DictRuntime):
        def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, Any]:
            return {}

    with pytest.raises(RuntimeFailed, match=f"no read result for {NS}"):
        preview(Spec((k8s(NS, namespace()),)), State(), {KUBERNETES: Forgetful({})})
    with pytest.raises(RuntimeFailed, match="no dry-run result"):
        changeset_from(Spec((k8s(NS, namespace()),)), State(), {NS: namespace()}, {})


def test_sensitive_marker_is_removed_and_recorded() -> None:
    rid = "hashicorp:random:random_password:db"
    live = {"id": "none", "length": 16, "result": "hunter2-long", "nested": [{"k": "v"}]}
    terra = DictRuntime({rid: live}, sensitive={rid: {"result": True, "nested": [{"k": True}]}})
    spec = Spec((tf(rid, {"length": 20}),))
    cs = preview(spec, State.of(spec.resources), {TERRAFORM: terra})
    (step,) = cs.steps
    assert SENSITIVE_KEY not in step.from_.attributes and SENSITIVE_KEY not in step.to.attributes  # type: ignore[union-attr]
    assert step.sensitive == frozenset({("result",), ("nested", 0, "k")})
    assert [d.dotted for d in step.diffs] == ["length"]


def test_create_and_delete_diffs_are_the_whole_object() -> None:
    cs = changeset_from(
        Spec((k8s(NS, namespace()),)),
        State.of([k8s(SVC, service())]),
        {SVC: served(service(), 1)},
        {},
    )
    create, delete = cs.steps
    assert create.diffs[0].kind is DiffKind.ADDED and create.diffs[0].path == ()
    assert delete.diffs[0].kind is DiffKind.REMOVED and delete.diffs[0].before["kind"] == "Service"
    assert cs.counts().summary() == "1 to create, 0 to update, 1 to delete, 0 unchanged"


def test_a_dry_run_marked_for_replacement_is_a_replace_with_what_forces_it() -> None:
    seed = "hashicorp:null:null_resource:seed"
    prior = State.of([tf(NULL, {"triggers": {"v": "1"}}), tf(seed, {"triggers": {"b": "1"}})])
    live = {NULL: {"id": "1", "triggers": {"v": "1"}}, seed: {"id": "2", "triggers": {"b": "1"}}}
    runtime = DictRuntime(live, replaces={NULL: [["triggers"], "not a path"], seed: []})
    spec = Spec((tf(NULL, {"triggers": {"v": "2"}}), tf(seed, {"triggers": {"b": "1"}})))
    steps = preview(spec, prior, {TERRAFORM: runtime}).by_id()
    changed, tainted = steps[NULL], steps[seed]
    assert (changed.action, changed.forces) == (Action.REPLACE, (("triggers",),))
    assert [d.dotted for d in changed.diffs] == ["triggers.v"]
    assert changed.to is not None and REPLACE_KEY not in changed.to.attributes
    # Replaced though nothing changes (a tainted resource): still a Replace, forced by nothing.
    assert (tainted.action, tainted.forces, tainted.diffs) == (Action.REPLACE, (), ())
    counts = preview(spec, prior, {TERRAFORM: runtime}).counts()
    assert (counts.replace, counts.update, counts.changes) == (2, 0, 2)
