"""The DAG executor: order, parallelism, batching, failure isolation, references, state flushes."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.app.executor import Executor
from bot.core import plan
from bot.core.errors import RuntimeFailed
from bot.core.runtimes import finished, waiting_for
from bot.core.spec import KUBERNETES, TERRAFORM, Resource, State
from tests.runtimes import stack_runtimes


class DictRuntime:
    """A runtime over a dict, recording calls; `fail` ids raise, `not_ready` ids never get ready."""

    def __init__(self, kind: str, fail: Sequence[str] = (), not_ready: Sequence[str] = (), delay: float = 0.0):
        self.kind = kind
        self.objects: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.fail = set(fail)
        self.not_ready = set(not_ready)
        self.delay = delay
        self.active = 0
        self.peak = 0
        self.lock = threading.Lock()

    def read(self, resources, prior):
        return {r.id: self.objects.get(r.id) for r in resources}

    def dry_run(self, planned, prior):
        return {r.id: dict(r.attributes) for r in planned}

    def apply(self, planned, prior) -> Mapping[str, Resource]:
        with self.lock:
            self.active += 1
            self.peak = max(self.peak, self.active)
            self.calls.append(("apply", tuple(r.id for r in planned)))
        try:
            time.sleep(self.delay)
            done: dict[str, Resource] = {}
            for r in planned:
                if r.id in self.fail:
                    raise RuntimeFailed(f"{r.id}: rejected", partial=done)
                attrs = dict(r.attributes)
                attrs.setdefault("id", f"{r.id}-live")
                self.objects[r.id] = attrs
                done[r.id] = Resource(r.id, r.type, attrs, r.depends_on, r.extensions)
            return done
        finally:
            with self.lock:
                self.active -= 1

    def delete(self, resources, prior):
        with self.lock:
            self.calls.append(("delete", tuple(r.id for r in resources)))
        for r in resources:
            self.objects.pop(r.id, None)

    def wait_ready(self, resource, timeout_seconds):
        waiting_for("0/1 ready")
        if resource.id in self.not_ready:
            raise RuntimeFailed(f"{resource.id} not ready after {timeout_seconds:.0f}s")


def k8s(name: str, *deps: str, **attrs: Any) -> Resource:
    return Resource(f"v1:ConfigMap:ns:{name}", KUBERNETES, {"data": attrs}, tuple(f"v1:ConfigMap:ns:{d}" for d in deps))


def tf(name: str, *deps: str, **attrs: Any) -> Resource:
    return Resource(f"hashicorp:null:null_resource:{name}", TERRAFORM, dict(attrs), deps)


def creates(*resources: Resource) -> list[plan.Operation]:
    return [plan.Operation(r.id, plan.CREATE, r) for r in resources]


def run(ops, runtimes, prior=State(), **kw):
    flushes: list[State] = []
    outcome = Executor(stack_runtimes(runtimes), **kw).run(ops, prior, on_state=flushes.append)
    return outcome, flushes


def test_dependencies_run_first_and_every_op_is_flushed():
    kube = DictRuntime(KUBERNETES)
    a, b, c = k8s("a"), k8s("b", "a"), k8s("c", "b")
    outcome, flushes = run(creates(c, b, a), {KUBERNETES: kube})
    assert outcome.ok and outcome.succeeded == tuple(sorted([a.id, b.id, c.id]))
    assert [ids for _, ids in kube.calls] == [(a.id,), (b.id,), (c.id,)]
    assert [len(s.resources) for s in flushes] == [1, 2, 3]


def test_failed_node_skips_its_dependents_only():
    kube = DictRuntime(KUBERNETES, fail=[k8s("b").id])
    a, b, c, d = k8s("a"), k8s("b", "a"), k8s("c", "b"), k8s("d", "a")
    outcome, _ = run(creates(a, b, c, d), {KUBERNETES: kube})
    assert not outcome.ok
    assert set(outcome.succeeded) == {a.id, d.id}
    assert set(outcome.failed) == {b.id} and "rejected" in outcome.failed[b.id]
    assert set(outcome.skipped) == {c.id}
    assert {r.id for r in outcome.state.resources} == {a.id, d.id}


def test_terraform_resources_share_one_batch_unless_kubernetes_lies_between():
    kube, terra = DictRuntime(KUBERNETES), DictRuntime(TERRAFORM)
    t1, t2 = tf("one"), tf("two", "hashicorp:null:null_resource:one")
    cm = Resource("v1:ConfigMap:ns:mid", KUBERNETES, {"data": {}}, (t2.id,))
    t3 = tf("three", cm.id)
    outcome, _ = run(creates(t1, t2, cm, t3), {KUBERNETES: kube, TERRAFORM: terra})
    assert outcome.ok
    assert terra.calls == [("apply", (t1.id, t2.id)), ("apply", (t3.id,))]


def test_two_batch_runtimes_never_group_a_node_cycle():
    t1, t3 = tf("one"), tf("three", "v1:Other:x")
    other = Resource("v1:Other:x", "Other", {}, (t1.id,))
    t3 = Resource(t3.id, TERRAFORM, {}, (other.id,))
    t4 = tf("four")
    built = plan.build_plan(creates(t1, other, t3, t4), batch_runtimes=[TERRAFORM, "Other"])
    assert [set(built.nodes[key].ids) for key in built.order()] == [{t1.id, t4.id}, {other.id}, {t3.id}]


def test_references_resolve_from_finished_resources_but_stay_inside_a_batch():
    kube, terra = DictRuntime(KUBERNETES), DictRuntime(TERRAFORM)
    t1 = tf("one")
    t2 = tf("two", t1.id, trigger=f"$kusion_path.{t1.id}.id")
    cm = Resource("v1:ConfigMap:ns:cfg.v1", KUBERNETES, {"data": {"x": f"$kusion_path.{t1.id}.id"}}, (t1.id,))
    outcome, _ = run(creates(t1, t2, cm), {KUBERNETES: kube, TERRAFORM: terra})
    assert outcome.ok
    assert kube.objects[cm.id]["data"]["x"] == f"{t1.id}-live"
    assert terra.objects[t2.id]["trigger"] == f"$kusion_path.{t1.id}.id"


def test_batch_failure_records_exactly_the_partial_result():
    terra = DictRuntime(TERRAFORM, fail=["hashicorp:null:null_resource:b"])
    outcome, flushes = run(creates(tf("a"), tf("b"), tf("c")), {TERRAFORM: terra})
    assert outcome.succeeded == ("hashicorp:null:null_resource:a",)
    assert set(outcome.failed) == {"hashicorp:null:null_resource:b", "hashicorp:null:null_resource:c"}
    assert [r.id for r in flushes[-1].resources] == ["hashicorp:null:null_resource:a"]


class ReportingBatch(DictRuntime):
    """A batch runtime that says each resource is done as it finishes (`runtimes.finished`),
    and fails `fail` ids with their own message, holding back what depends on them."""

    def __init__(self, kind: str, fail: Sequence[str] = ()):
        super().__init__(kind, fail)
        self.flushes_seen: list[int] = []

    def apply(self, planned, prior):
        done: dict[str, Resource] = {}
        messages: dict[str, str] = {}
        held: list[str] = []
        for r in planned:
            if any(d in messages or d in held for d in r.depends_on):
                held.append(r.id)
                continue
            if r.id in self.fail:
                messages[r.id] = f"{r.id}: its own reason"
                continue
            done[r.id] = r
            finished(r.id, r)
            self.flushes_seen.append(len(done))
        if messages:
            raise RuntimeFailed("the batch failed", partial=done, messages=messages, skipped=held)
        return done

    def delete(self, resources, prior):
        for r in resources:
            finished(r.id, None)


def test_a_batch_runtime_records_each_resource_as_it_finishes():
    terra = ReportingBatch(TERRAFORM)
    a, b, c = tf("a"), tf("b", "hashicorp:null:null_resource:a"), tf("c")
    outcome, flushes = run(creates(a, b, c), {TERRAFORM: terra})
    assert outcome.ok
    # One State per finished resource while the batch runs, then the batch's own.
    assert [sorted(r.id for r in s.resources) for s in flushes[:3]] == [
        [a.id], [a.id, b.id], [a.id, b.id, c.id]]
    outcome, flushes = run(
        [plan.Operation(r.id, plan.DELETE, r) for r in (a, b, c)], {TERRAFORM: terra}, prior=State.of([a, b, c]))
    assert outcome.ok and [len(s.resources) for s in flushes[:3]] == [2, 1, 0]
    finished("told to nobody", None)  # outside a batch: nothing happens


def test_a_batch_failure_names_each_failed_resource_and_skips_its_dependents():
    terra = ReportingBatch(TERRAFORM, fail=["hashicorp:null:null_resource:b"])
    a, b = tf("a"), tf("b")
    c, d = tf("c", b.id), tf("d", "hashicorp:null:null_resource:c")
    outcome, flushes = run(creates(a, b, c, d), {TERRAFORM: terra})
    assert outcome.succeeded == (a.id,)
    assert outcome.failed == {b.id: f"{b.id}: its own reason"}
    assert set(outcome.skipped) == {c.id, d.id}
    assert [r.id for r in flushes[-1].resources] == [a.id]


def test_readiness_failure_keeps_the_object_in_state_and_fails_the_op():
    kube = DictRuntime(KUBERNETES, not_ready=[k8s("web").id])
    web, after = k8s("web"), k8s("after", "web")
    outcome, _ = run(creates(web, after), {KUBERNETES: kube}, watch=True, timeout_seconds=5)
    assert set(outcome.failed) == {web.id} and "not ready" in outcome.failed[web.id]
    assert set(outcome.skipped) == {after.id}
    assert [r.id for r in outcome.state.resources] == [web.id]
    outcome, _ = run(creates(web), {KUBERNETES: DictRuntime(KUBERNETES, not_ready=[web.id])}, watch=False)
    assert outcome.ok


def test_a_readiness_wait_is_told_between_start_and_done_with_what_the_runtime_says():
    kube, terra = DictRuntime(KUBERNETES), DictRuntime(TERRAFORM)
    web, marker = k8s("web"), tf("marker")
    for watch, waited in ((True, [web.id]), (False, [])):
        events = []
        Executor(stack_runtimes({KUBERNETES: kube, TERRAFORM: terra}), watch=watch).run(
            creates(web, marker), State(), on_event=events.append)
        assert [(e.id, e.action, e.message) for e in events if e.kind == "waiting"] == [
            (i, plan.CREATE, "0/1 ready") for i in waited]
        kinds = [e.kind for e in events if e.id == web.id]
        assert kinds == (["start", "waiting", "done"] if watch else ["start", "done"])
    waiting_for("told to nobody")  # outside a wait: nothing happens


def test_deletes_run_dependents_first_and_leave_state():
    kube = DictRuntime(KUBERNETES)
    a, b = k8s("a"), k8s("b", "a")
    prior = State.of([a, b])
    ops = [plan.Operation(a.id, plan.DELETE, a), plan.Operation(b.id, plan.DELETE, b)]
    outcome, _ = run(ops, {KUBERNETES: kube}, prior=prior)
    assert outcome.ok and outcome.state.resources == ()
    assert kube.calls == [("delete", (b.id,)), ("delete", (a.id,))]


def test_concurrency_is_bounded():
    kube = DictRuntime(KUBERNETES, delay=0.02)
    ops = creates(*(k8s(f"r{i}") for i in range(12)))
    outcome, _ = run(ops, {KUBERNETES: kube}, concurrency=3)
    assert outcome.ok and kube.peak <= 3 and kube.peak >= 2


def test_cancel_stops_new_work_and_records_what_finished():
    kube = DictRuntime(KUBERNETES, delay=0.05)
    cancel = threading.Event()
    ops = creates(*(k8s(f"r{i}", *( [f"r{i-1}"] if i else [])) for i in range(5)))
    events = []

    def on_event(event):
        events.append(event)
        if event.kind == "done":
            cancel.set()

    outcome = Executor(stack_runtimes({KUBERNETES: kube})).run(ops, State(), on_event=on_event, cancel=cancel)
    assert outcome.cancelled and not outcome.ok
    assert len(outcome.succeeded) == 1 and len(outcome.skipped) == 4
    assert [r.id for r in outcome.state.resources] == list(outcome.succeeded)


def test_cancel_skips_what_waits_for_a_free_slot_and_start_means_started():
    kube = DictRuntime(KUBERNETES, delay=0.05)
    cancel = threading.Event()
    ops = creates(*(k8s(f"r{i}") for i in range(4)))
    events = []

    def on_event(event):
        events.append(event)
        if [e.kind for e in events].count("start") == 2:  # both slots taken
            cancel.set()

    outcome = Executor(stack_runtimes({KUBERNETES: kube}), concurrency=2).run(ops, State(), on_event=on_event,
                                                                            cancel=cancel)
    assert outcome.succeeded == (k8s("r0").id, k8s("r1").id)
    assert set(outcome.skipped) == {k8s("r2").id, k8s("r3").id}
    assert [e.kind for e in events if e.kind == "start"] == ["start", "start"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(0, 11), max_size=3), min_size=1, max_size=12), st.data())
def test_property_every_dependency_finishes_before_its_dependent(deps_lists, data):
    n = len(deps_lists)
    kinds = data.draw(st.lists(st.sampled_from([KUBERNETES, TERRAFORM]), min_size=n, max_size=n))
    resources = []
    for i, deps in enumerate(deps_lists):
        ids = tuple(sorted({resources[d].id for d in deps if d < i}))
        make = k8s if kinds[i] == KUBERNETES else tf
        r = make(f"r{i}")
        resources.append(Resource(r.id, r.type, r.attributes, ids))
    order: list[str] = []

    class Recording(DictRuntime):
        def apply(self, planned, prior):
            out = super().apply(planned, prior)
            order.extend(r.id for r in planned)
            return out

    outcome, _ = run(creates(*resources), {KUBERNETES: Recording(KUBERNETES), TERRAFORM: Recording(TERRAFORM)})
    assert outcome.ok
    position = {rid: i for i, rid in enumerate(order)}
    batch_of = {
        op.id: key
        for key, node in plan.build_plan(creates(*resources), batch_runtimes=[TERRAFORM]).nodes.items()
        for op in node.operations
    }
    for r in resources:
        for dep in r.depends_on:
            if batch_of[dep] == batch_of[r.id]:
                continue  # Terraform orders the members of one batch itself
            assert position[dep] < position[r.id]


def unchanged(*resources: Resource) -> list[plan.Operation]:
    return [plan.Operation(r.id, plan.UNCHANGED, r) for r in resources]


def test_unchanged_resources_missing_from_the_state_are_adopted_and_recorded():
    # Live and equal to the Spec but recorded nowhere: applied (no readiness wait) so that
    # the runtime's record lands in the state, which is flushed although nothing changed.
    kube = DictRuntime(KUBERNETES, not_ready=[k8s("web").id])
    terra = DictRuntime(TERRAFORM)
    ns, web, bucket = k8s("ns"), k8s("web", "ns"), tf("bucket")
    events = []
    flushes: list[State] = []
    outcome = Executor(stack_runtimes({KUBERNETES: kube, TERRAFORM: terra}), watch=True).run(
        unchanged(ns, web, bucket), State(), on_state=flushes.append, on_event=events.append)
    assert outcome.ok and outcome.succeeded == () and events == []
    assert {r.id for r in outcome.state.resources} == {ns.id, web.id, bucket.id}
    assert {r.id for r in flushes[-1].resources} == {ns.id, web.id, bucket.id}
    assert terra.objects[bucket.id]["id"] == f"{bucket.id}-live"  # the runtime's entry, not the Spec's
    assert [ids for _, ids in kube.calls] == [(ns.id,), (web.id,)]


def test_recorded_unchanged_resources_are_left_alone():
    kube = DictRuntime(KUBERNETES)
    a, b = k8s("a"), k8s("b")
    prior = State((a,))
    outcome, flushes = run([*unchanged(a), *creates(b)], {KUBERNETES: kube}, prior=prior)
    assert outcome.ok and outcome.succeeded == (b.id,)
    assert kube.calls == [("apply", (b.id,))]
    assert [r.id for r in flushes[-1].resources] == [a.id, b.id]
    nothing, flushes = run(unchanged(a), {KUBERNETES: DictRuntime(KUBERNETES)}, prior=prior)
    assert nothing.ok and flushes == [] and nothing.state == prior


def test_a_failed_adoption_is_reported_and_not_recorded():
    kube = DictRuntime(KUBERNETES, fail=[k8s("a").id])
    a, b = k8s("a"), k8s("b", "a")
    events = []
    outcome = Executor(stack_runtimes({KUBERNETES: kube})).run(unchanged(a, b), State(), on_event=events.append)
    assert set(outcome.failed) == {a.id} and set(outcome.skipped) == {b.id}
    assert [(e.kind, e.id) for e in events] == [("failed", a.id), ("skipped", b.id)]
    assert outcome.state.resources == ()


def test_mark_adoptions_marks_only_unchanged_resources_the_state_lacks():
    a, b, c = k8s("a"), k8s("b"), k8s("c")
    ops = plan.mark_adoptions([*unchanged(a, b), *creates(c)], {a.id})
    assert [(op.id, op.adopt, op.runs) for op in ops] == [(a.id, False, False), (b.id, True, True), (c.id, False, True)]
    assert plan.build_plan(ops).order() == tuple(sorted([b.id, c.id]))


def test_a_replace_is_applied_like_an_update_in_the_batch_of_its_runtime():
    terra = DictRuntime(TERRAFORM)
    kept, replaced = tf("kept"), tf("replaced", v="2")
    prior = State.of([kept, tf("replaced", v="1")])
    ops = [plan.Operation(kept.id, plan.UPDATE, kept), plan.Operation(replaced.id, plan.REPLACE, replaced)]
    built = plan.build_plan(ops, batch_runtimes=[TERRAFORM])
    assert [(n.deleting, n.ids) for n in built.nodes.values()] == [(False, (kept.id, replaced.id))]
    outcome, _ = run(ops, {TERRAFORM: terra}, prior)
    assert outcome.ok and terra.calls == [("apply", (kept.id, replaced.id))]
    assert outcome.state.by_id()[replaced.id].attributes["v"] == "2"


def test_runtimes_run_with_the_callers_log_fields():
    from bot import logs

    seen: list[dict[str, object]] = []

    class Logging(DictRuntime):
        def apply(self, planned, prior):
            seen.append(dict(logs.context()))
            return super().apply(planned, prior)

    a, b = k8s("a"), k8s("b")
    with logs.bound(delivery="d-1", stack="shop/dev", operation="apply"):
        outcome, _ = run(creates(a, b), {KUBERNETES: Logging(KUBERNETES)}, concurrency=2)
    assert outcome.ok
    assert seen == [{"delivery": "d-1", "stack": "shop/dev", "operation": "apply"}] * 2
