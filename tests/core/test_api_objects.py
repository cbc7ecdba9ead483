"""The `api-objects` capability: a runtime declaring it gets the treatment Kubernetes gets
(server-filled fields and the order of keyed lists are no change, a Secret's values are
masked); a runtime not declaring it gets none of it; masking that is not told which types
are API objects masks anything shaped like a Secret."""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import mask, render
from bot.core.outcome import StackOutcome
from bot.core.ports import JSON
from bot.core.preview import Action, ChangeSet, changeset_from, preview
from bot.core.release import Phase, Release
from bot.core.runtimes import Capability, StackRuntimes
from bot.core.spec import KUBERNETES, Resource, Spec, State
from tests.runtimes import stack_runtimes

CLUSTER = "Cluster"  # an outside runtime declaring api-objects
PLAIN = "Plain"  # an outside runtime declaring nothing
CAPABILITIES = {CLUSTER: {Capability.API_OBJECTS}, PLAIN: set()}

DEPLOY = "apps/v1:Deployment:shop:web"
SECRET = "v1:Secret:shop:db"
CM = "v1:ConfigMap:shop:cfg"
PASSWORD = base64.b64encode(b"s3cret-passw0rd").decode()
NEW_PASSWORD = base64.b64encode(b"n3w-passw0rd!").decode()
SERVER = {"uid": "6f1c", "resourceVersion": "41", "generation": 3, "creationTimestamp": "2026-01-02T03:04:05Z",
          "managedFields": [{"manager": "shipmate"}]}


def meta(name: str) -> dict[str, Any]:
    return {"name": name, "namespace": "shop"}


def deployment(image: str, containers_reversed: bool = False) -> dict[str, Any]:
    containers = [
        {"name": "app", "image": image, "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]},
        {"name": "side", "image": "side:1"},
    ]
    if containers_reversed:
        containers.reverse()
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
            "spec": {"template": {"spec": {"containers": containers}}}}


def secret(password: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta("db"), "data": {"password": password}}


def configmap() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cfg"), "data": {"level": "info"}}


def served(obj: Mapping[str, Any]) -> dict[str, Any]:
    """`obj` as a server returns it: its own fields filled in."""
    out = copy.deepcopy(dict(obj))
    out["metadata"] = {**out["metadata"], **SERVER}
    out["status"] = {"observedGeneration": 3}
    return out


class Server:
    """A runtime whose live objects carry server-filled fields; a dry run returns the plan."""

    def __init__(self, live: Mapping[str, JSON]) -> None:
        self.live = dict(live)

    def read(self, resources: Sequence[Resource], prior: State) -> Mapping[str, JSON | None]:
        return {r.id: copy.deepcopy(self.live.get(r.id)) for r in resources}

    def dry_run(self, planned: Sequence[Resource], prior: State) -> Mapping[str, JSON]:
        return {r.id: copy.deepcopy(dict(r.attributes)) for r in planned}

    def apply(self, planned: Sequence[Resource], prior: State) -> Mapping[str, Resource]:
        raise AssertionError("a preview applies nothing")

    def delete(self, resources: Sequence[Resource], prior: State) -> None:
        raise AssertionError("a preview deletes nothing")

    def wait_ready(self, resource: Resource, timeout_seconds: float) -> None:
        raise AssertionError("a preview waits for nothing")


def world(rtype: str) -> tuple[Spec, State, dict[str, JSON]]:
    """Planned, recorded and live objects of `rtype`: a Deployment whose image changes and whose
    containers the server lists in another order, a Secret whose value changes, and a
    ConfigMap the server only added its fields to."""
    spec = Spec((
        Resource(CM, rtype, configmap()),
        Resource(DEPLOY, rtype, deployment("web:2")),
        Resource(SECRET, rtype, secret(NEW_PASSWORD)),
    ))
    prior = State.of([
        Resource(CM, rtype, configmap()),
        Resource(DEPLOY, rtype, deployment("web:1")),
        Resource(SECRET, rtype, secret(PASSWORD)),
    ])
    live = {
        CM: served(configmap()),
        DEPLOY: served(deployment("web:1", containers_reversed=True)),
        SECRET: served(secret(PASSWORD)),
    }
    return spec, prior, live


def previewed(rtype: str, runtimes: StackRuntimes | None = None) -> ChangeSet:
    spec, prior, live = world(rtype)
    runtimes = runtimes or StackRuntimes.of({rtype: Server(live)}, CAPABILITIES)
    return preview(spec, prior, runtimes, api_objects=runtimes.having(Capability.API_OBJECTS),
                   project="shop", stack="dev", workspace="dev")


def shown(cs: ChangeSet, secrets: Sequence[str] = ()) -> list[str]:
    """Everything a person reads of `cs`: terminal text, Kusion JSON, the PR comment."""
    return [render.text(cs, secrets=secrets), render.json(cs, secrets=secrets),
            *render.markdown([StackOutcome.previewed(cs)], secrets=secrets)]


def as_kubernetes(texts: list[str], rtype: str) -> list[str]:
    """`texts` with the resource type (which only the JSON rendering names) read as Kubernetes."""
    return [t.replace(f'"type": "{rtype}"', f'"type": "{KUBERNETES}"') for t in texts]


def test_a_runtime_declaring_api_objects_is_previewed_and_masked_as_kubernetes_is() -> None:
    spec, prior, live = world(KUBERNETES)
    kubernetes = previewed(KUBERNETES, stack_runtimes({KUBERNETES: Server(live)}))
    cluster = previewed(CLUSTER)
    assert cluster.api_objects == frozenset({CLUSTER}) and kubernetes.api_objects == frozenset({KUBERNETES})

    steps = cluster.by_id()
    assert steps[CM].action is Action.UNCHANGED  # the server's fields are no change
    assert [d.dotted for d in steps[DEPLOY].diffs] == ["spec.template.spec.containers[name=app].image"]
    assert [d.dotted for d in steps[SECRET].diffs] == ["data.password"]
    outputs = shown(cluster)
    assert as_kubernetes(outputs, CLUSTER) == shown(kubernetes)  # byte for byte
    for text in outputs:
        assert PASSWORD not in text and NEW_PASSWORD not in text
    masked = mask.mask_changeset(cluster).by_id()[SECRET]
    assert [(d.before, d.after) for d in masked.diffs] == [(mask.MASK, mask.MASK_CHANGED)]


def test_a_runtime_not_declaring_it_gets_its_objects_compared_and_shown_as_they_are() -> None:
    plain = previewed(PLAIN)
    assert plain.api_objects == frozenset()
    steps = plain.by_id()
    _, _, live = world(PLAIN)
    cm = steps[CM]
    assert cm.action is Action.UPDATE  # the server's fields count
    assert cm.from_ is not None and cm.from_.attributes == live[CM]
    assert {"status", "metadata.uid", "metadata.resourceVersion"} <= {d.dotted for d in cm.diffs}
    # Lists are ordered: the containers are compared by position, not by name.
    assert "spec.template.spec.containers[0].name" in {d.dotted for d in steps[DEPLOY].diffs}
    for text in shown(plain):
        assert PASSWORD in text and NEW_PASSWORD in text  # not a Secret to this runtime
    # The workspace's secret values are masked whatever the runtime declares.
    for text in shown(plain, secrets=[NEW_PASSWORD]):
        assert NEW_PASSWORD not in text


def test_masking_not_told_the_api_objects_masks_anything_shaped_like_a_secret() -> None:
    spec, prior, _ = world(PLAIN)
    untold = changeset_from(spec, State(), {}, {})
    assert untold.api_objects is None
    for text in shown(untold):
        assert NEW_PASSWORD not in text

    cluster_secret = Resource("v1:Secret:shop:other", CLUSTER, secret(PASSWORD))
    plain_secret = prior.by_id()[SECRET]
    now = datetime(2026, 1, 2, tzinfo=UTC)
    release = Release("shop", "dev", 1, "dev", Spec((cluster_secret, plain_secret)),
                      State.of([cluster_secret, plain_secret]), Phase.SUCCEEDED, now, now)

    def data(stored: Release) -> dict[tuple[str, str], object]:
        return {**{("spec", r.type): r.attributes["data"]["password"] for r in stored.spec.resources},
                **{("state", r.type): r.attributes["data"]["password"] for r in stored.state.resources}}

    told = {(part, CLUSTER): mask.MASK for part in ("spec", "state")} | {(part, PLAIN): PASSWORD for part in ("spec", "state")}
    untold_release = {(part, rtype): mask.MASK for part in ("spec", "state") for rtype in (CLUSTER, PLAIN)}
    assert data(mask.mask_release(release, api_objects={CLUSTER})) == told
    assert data(mask.mask_release(release)) == untold_release

    # The writer's cache masks again when it is told something else.
    cache, lits = mask.MaskCache(), mask.Literals.of(["unrelated-secret"])
    assert data(cache.release(release, lits, lits, frozenset(), frozenset({CLUSTER}))) == told
    assert data(cache.release(release, lits, lits, frozenset(), None)) == untold_release


# --- property: declaring api-objects is exactly the Kubernetes treatment ---------------------------

NAMES = st.sampled_from(["app", "side", "init", "proxy"])
SCALARS = st.one_of(st.integers(0, 9), st.sampled_from(["a", "b", "c:1", "c:2"]))


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Deployment", "Secret", "ConfigMap"]))
    obj: dict[str, Any] = {"apiVersion": "v1" if kind != "Deployment" else "apps/v1", "kind": kind,
                           "metadata": {"name": "x", "labels": draw(st.dictionaries(NAMES, SCALARS, max_size=2))}}
    if kind == "Deployment":
        names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
        obj["spec"] = {"containers": [{"name": n, "image": draw(SCALARS), "args": draw(st.lists(SCALARS, max_size=2))}
                                      for n in names]}
    else:
        obj["data"] = draw(st.dictionaries(NAMES, st.sampled_from([PASSWORD, NEW_PASSWORD, "x"]), max_size=3))
    return obj


@st.composite
def live_of(draw: st.DrawFn, obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` as a server may return it: some of its fields filled in, keyed lists reordered."""
    out = copy.deepcopy(obj)
    out["metadata"].update(draw(st.dictionaries(st.sampled_from(sorted(SERVER)), st.just("s"), max_size=3)))
    if draw(st.booleans()):
        out["status"] = {"phase": draw(SCALARS)}
    if "spec" in out:
        out["spec"]["containers"] = draw(st.permutations(out["spec"]["containers"]))
    return out


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]], dict[int, dict[str, Any]]]:
    planned = draw(st.lists(objects(), min_size=1, max_size=4))
    live = {i: draw(live_of(o if draw(st.booleans()) else draw(objects()))) for i, o in enumerate(planned)
            if draw(st.booleans())}
    dry = {i: draw(live_of(o)) for i, o in enumerate(planned) if i in live}
    return planned, live, dry


def _changeset(rtype: str, world: Any, api_objects: frozenset[str] | None) -> ChangeSet:
    planned, live, dry = world
    spec = Spec(tuple(Resource(f"r{i}", rtype, o) for i, o in enumerate(planned)))
    return changeset_from(spec, State(), {f"r{i}": o for i, o in live.items()},
                          {f"r{i}": o for i, o in dry.items()}, api_objects=api_objects)


def _seen(cs: ChangeSet) -> list[tuple[object, ...]]:
    return [(s.id, s.action, s.diffs, s.from_ and s.from_.attributes, s.to and s.to.attributes) for s in cs.steps]


@settings(max_examples=80, deadline=None)
@given(worlds())
def test_declaring_api_objects_is_the_kubernetes_treatment_and_not_declaring_is_none(world: Any) -> None:
    kubernetes = _changeset(KUBERNETES, world, None)
    cluster = _changeset(CLUSTER, world, frozenset({CLUSTER}))
    plain = _changeset(PLAIN, world, frozenset())
    assert _seen(cluster) == _seen(kubernetes)
    assert _seen(mask.mask_changeset(cluster)) == _seen(mask.mask_changeset(kubernetes))
    assert as_kubernetes(shown(cluster), CLUSTER) == shown(kubernetes)
    _, live, dry = world
    steps = plain.by_id()
    for i in live:  # compared and shown exactly as the runtime returned them
        step = steps[f"r{i}"]
        assert step.from_ is not None and step.to is not None
        assert (step.from_.attributes, step.to.attributes) == (live[i], dry[i])
        assert (step.action is Action.UNCHANGED) == (live[i] == dry[i])
