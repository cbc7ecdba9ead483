"""Release model: Kusion's fields, YAML round-trip, phase rules, the revision index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import ConfigError, StateConflict
from bot.core.release import (
    TRANSITIONS,
    Phase,
    Release,
    ReleaseInProgress,
    ReleaseMeta,
    Trigger,
    append_index,
    check_can_start,
    peek_latest_revision,
)
from bot.core.spec import Resource, Spec, State

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
NS = Resource("v1:Namespace:shop", "Kubernetes",
              {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
DEPLOY = Resource("apps/v1:Deployment:shop:web", "Kubernetes",
                  {"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": "web", "namespace": "shop"}, "spec": {"replicas": 2}},
                  depends_on=("v1:Namespace:shop",), extensions={"kusion.io/is-workload": True})


def first(**kw: object) -> Release:
    return Release.start("shop", "prod", "prod", latest=None, now=T0, **kw)  # type: ignore[arg-type]


def test_start_carries_the_latest_state_and_numbers_the_next_revision():
    done = first(actor="alice").with_phase(Phase.PREVIEWING, T0).with_spec(Spec((NS,)), T0)
    done = done.with_phase(Phase.APPLYING, T0).with_state(State((NS,)), T0).succeeded(T0)
    nxt = Release.start("shop", "prod", "prod", latest=done, now=T0 + timedelta(hours=1),
                        trigger=Trigger.PUSH, actor="bob", commit="c" * 40, pull_request=7)
    assert (nxt.revision, nxt.phase, nxt.state, nxt.spec) == (2, Phase.GENERATING, State((NS,)), Spec())
    assert (nxt.trigger, nxt.actor, nxt.pull_request) == (Trigger.PUSH, "bob", 7)
    assert nxt.create_time == nxt.modified_time == T0 + timedelta(hours=1)


def test_times_are_stored_in_utc_to_the_second():
    moment = datetime(2024, 5, 1, 14, 0, 0, 987654, tzinfo=UTC).astimezone()
    release = Release.start("shop", "prod", "prod", latest=None, now=moment)
    assert release.create_time == datetime(2024, 5, 1, 14, 0, 0, tzinfo=UTC)
    assert "createTime: '2024-05-01T14:00:00Z'" in release.to_yaml()


def test_yaml_uses_kusion_field_names_sorted_and_round_trips():
    release = first(actor="alice", pull_request=12, commit="abc").with_phase(Phase.PREVIEWING, T0)
    release = release.with_spec(Spec((NS, DEPLOY), context={"KUBECONFIG_PATH": "/k"}), T0)
    release = release.with_phase(Phase.APPLYING, T0).with_state(State((NS,)), T0)
    release = release.failed(T0 + timedelta(seconds=5), "apps/v1:Deployment:shop:web: timed out")
    text = release.to_yaml()
    keys = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith(" ")]
    assert keys == sorted(keys)
    assert set(keys) == {"actor", "commit", "createTime", "error", "modifiedTime", "phase", "project",
                         "pullRequest", "revision", "spec", "stack", "state", "trigger", "workspace"}
    assert "dependsOn:" in text and "secretStore: null" in text
    assert Release.from_yaml(text) == release
    assert Release.from_yaml(text).to_yaml() == text


def test_a_release_written_by_kusion_reads():
    text = """\
project: quickstart
workspace: default
revision: 3
stack: default
spec:
    resources:
        - id: v1:Namespace:quickstart
          type: Kubernetes
          attributes: {apiVersion: v1, kind: Namespace, metadata: {name: quickstart}}
          extensions: {GVK: "/v1, Kind=Namespace"}
state:
    resources: []
phase: succeeded
createTime: 2024-03-01T10:00:00+08:00
modifiedTime: 2024-03-01T10:00:05+08:00
"""
    release = Release.from_yaml(text, "releases/quickstart/default/3.yaml")
    assert (release.revision, release.phase, release.trigger) == (3, Phase.SUCCEEDED, Trigger.CLI)
    assert release.create_time == datetime(2024, 3, 1, 2, 0, 0, tzinfo=UTC)
    assert release.spec.resources[0].extensions == {"GVK": "/v1, Kind=Namespace"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("project: [unclosed\n", r"3\.yaml:2:1: not valid YAML"),
        ("- a list\n", r"3\.yaml: expected a release mapping, got list"),
        ("project: shop\nworkspace: prod\nrevision: 3\nstack: prod\nphase: runing\n"
         "createTime: '2024-01-01T00:00:00Z'\nmodifiedTime: '2024-01-01T00:00:00Z'\n",
         r"3\.yaml:5:1: phase: unknown phase 'runing' \(expected one of generating, previewing"),
        ("project: shop\nworkspace: prod\nrevision: three\nstack: prod\n",
         r"3\.yaml:3:1: revision: expected a whole number >= 1, got 'three'"),
        ("project: shop\nworkspace: prod\nrevision: 3\nstack: prod\nphase: failed\n"
         "createTime: yesterday\n", r"createTime: expected an RFC 3339 time, got 'yesterday'"),
        ("project: ../etc\nworkspace: prod\n", r"project: '../etc' is not a valid name"),
        ("project: shop\nworkspace: prod\nrevision: 3\nstack: prod\nphase: failed\n"
         "createTime: '2024-01-01T00:00:00Z'\nmodifiedTime: '2024-01-01T00:00:00Z'\n"
         "state: {resources: [{type: Kubernetes}]}\n", r"state: a resource lacks the field 'id'"),
    ],
)
def test_bad_release_yaml_names_file_line_and_field(text: str, expected: str):
    with pytest.raises(ConfigError, match=expected):
        Release.from_yaml(text, "shipmate-state:releases/shop/prod/3.yaml")


def test_phase_rules():
    assert TRANSITIONS[Phase.GENERATING] == {Phase.PREVIEWING, Phase.FAILED}
    release = first()
    with pytest.raises(StateConflict, match="cannot go from generating to applying"):
        release.with_phase(Phase.APPLYING, T0)
    previewing = release.with_phase(Phase.PREVIEWING, T0)
    for phase in (Phase.APPLYING, Phase.DESTROYING, Phase.SUCCEEDED, Phase.FAILED):
        assert previewing.with_phase(phase, T0).phase == phase
    applying = previewing.with_phase(Phase.APPLYING, T0)
    assert applying.with_phase(Phase.APPLYING, T0).phase == Phase.APPLYING  # a flush
    with pytest.raises(StateConflict, match="cannot go from applying to destroying"):
        applying.with_phase(Phase.DESTROYING, T0)
    done = applying.succeeded(T0)
    for change in (lambda r: r.failed(T0, "x"), lambda r: r.with_state(State(), T0),
                   lambda r: r.with_spec(Spec(), T0), lambda r: r.unlocked(T0)):
        with pytest.raises(StateConflict, match="already succeeded; finished releases never change"):
            change(done)


def test_nothing_starts_while_the_latest_release_runs_until_it_is_unlocked():
    running = first(actor="alice").with_phase(Phase.PREVIEWING, T0).with_phase(Phase.APPLYING, T0)
    running = running.with_state(State((NS,)), T0)
    with pytest.raises(ReleaseInProgress) as caught:
        Release.start("shop", "prod", "prod", latest=running, now=T0)
    message = str(caught.value)
    assert "release shop/prod r1 (stack prod) is still applying" in message
    assert "by alice" in message
    assert "shipmate release unlock --project shop --workspace prod" in message
    assert caught.value.release is running
    unlocked = running.unlocked(T0 + timedelta(minutes=1), by="bob")
    assert (unlocked.phase, unlocked.error) == (Phase.FAILED, "unlocked by bob while applying")
    assert unlocked.state == running.state
    check_can_start(unlocked)
    assert Release.start("shop", "prod", "prod", latest=unlocked, now=T0).state == State((NS,))


def test_rollback_reapplies_an_old_spec_on_top_of_the_latest_state():
    old = first().with_phase(Phase.PREVIEWING, T0).with_spec(Spec((NS,)), T0).succeeded(T0)
    latest = Release.start("shop", "prod", "prod", latest=old, now=T0).with_phase(Phase.PREVIEWING, T0)
    latest = latest.with_spec(Spec((NS, DEPLOY)), T0).with_phase(Phase.APPLYING, T0)
    latest = latest.with_state(State((NS, DEPLOY)), T0).succeeded(T0).with_revision(2)
    back = Release.rollback(old, latest=latest, now=T0, actor="carol")
    assert (back.revision, back.phase, back.trigger) == (3, Phase.PREVIEWING, Trigger.ROLLBACK)
    assert back.spec == old.spec and back.state == latest.state
    with pytest.raises(StateConflict, match="no Spec to roll back to"):
        Release.rollback(first().failed(T0, "boom"), latest=latest, now=T0)


# --- the index -------------------------------------------------------------------------------


def test_index_round_trip_and_kusion_format():
    meta = ReleaseMeta().append(1, "dev").append(2, "prod")
    assert meta.to_yaml() == (
        "latestRevision: 2\nreleaseMetaDatas:\n- revision: 1\n  stack: dev\n- revision: 2\n  stack: prod\n"
    )
    kusion = "latestRevision: 2\nreleaseMetaDatas:\n    - revision: 1\n      stack: dev\n" \
             "    - revision: 2\n      stack: prod\n"
    assert ReleaseMeta.from_yaml(kusion) == meta
    assert peek_latest_revision(kusion) == 2
    assert append_index(kusion, 3, "dev") == meta.append(3, "dev").to_yaml()
    with pytest.raises(StateConflict, match="revision 5 does not follow the latest revision 2"):
        append_index(meta.to_yaml(), 5, "dev")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("latestRevision: 3\nreleaseMetaDatas:\n- revision: 1\n  stack: a\n",
         r"\.metadata\.yml:1:1: latestRevision: is 3 but the last listed revision is 1"),
        ("latestRevision: 2\nreleaseMetaDatas:\n- revision: 1\n  stack: a\n- revision: 1\n  stack: a\n"
         "- revision: 2\n  stack: a\n",
         r"\.metadata\.yml:5:3: releaseMetaDatas\[1\]\.revision: expected a revision above 1, got 1"),
        ("latestRevision: x\n", r"latestRevision: expected a whole number >= 0, got 'x'"),
        ("latestRevision: 1\nreleaseMetaDatas: [{revision: 1}]\n", r"\.metadata\.yml:2:20: releaseMetaDatas\[0\]\.stack"),
    ],
)
def test_bad_index_is_reported(text: str, expected: str):
    with pytest.raises(ConfigError, match=expected):
        append_index(text, 9, "a", "releases/a/b/.metadata.yml")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,12}\Z"), max_size=25))
def test_fast_index_append_equals_the_full_rewrite(stacks: list[str]):
    text: str | None = None
    meta = ReleaseMeta()
    for revision, stack in enumerate(stacks, start=1):
        text = append_index(text, revision, stack)
        meta = meta.append(revision, stack)
        assert text == meta.to_yaml()
        assert peek_latest_revision(text) == revision
        assert ReleaseMeta.from_yaml(text) == meta


names = st.from_regex(r"\A[a-z][a-z0-9-]{0,8}\Z")
attrs = st.dictionaries(st.sampled_from(["a", "b", "on", "null", "1", "x y"]),
                        st.one_of(st.integers(), st.text(max_size=8), st.booleans(), st.none()),
                        max_size=4)


@settings(max_examples=60, deadline=None)
@given(names, names, st.integers(1, 10_000), st.sampled_from(list(Phase)), st.sampled_from(list(Trigger)),
       st.lists(st.tuples(names, attrs), max_size=4, unique_by=lambda t: t[0]),
       st.one_of(st.none(), st.integers(1, 99_999)), st.text(max_size=20))
def test_any_release_round_trips(project, stack, revision, phase, trigger, resources, pull, actor):
    spec = Spec(tuple(Resource(f"v1:ConfigMap:ns:{n}", "Kubernetes", a) for n, a in resources))
    release = Release(project, "ws", revision, stack, spec, State(spec.resources[:1]), phase,
                      T0, T0 + timedelta(seconds=revision), trigger, actor, "sha", pull,
                      "boom" if phase == Phase.FAILED else None)
    assert Release.from_yaml(release.to_yaml()) == release
