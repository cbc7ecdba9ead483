"""Secret masking: Kubernetes Secrets, runtime-reported sensitive paths, workspace secrets."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import mask, render
from bot.core.outcome import StackOutcome
from bot.core.ports import SENSITIVE_KEY
from bot.core.preview import Action, changeset_from
from bot.core.spec import KUBERNETES, TERRAFORM, Resource, Spec, State


def secret(data: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "n"},
        "data": data,
        **extra,
    }


SID = "v1:Secret:n:s"


def test_secret_values_are_masked_and_changes_stay_visible() -> None:
    prior = State.of([Resource(SID, KUBERNETES, secret({"a": "QUFB", "b": "QkJC"}))])
    spec = Spec((Resource(SID, KUBERNETES, secret({"a": "QUFB", "b": "Q0ND", "c": "RERE"})),))
    live = {SID: secret({"a": "QUFB", "b": "QkJC"})}
    cs = changeset_from(spec, prior, live, {SID: dict(spec.resources[0].attributes)})
    step = mask.mask_step(cs.steps[0])
    assert step.action is Action.UPDATE
    assert step.from_ is not None and step.to is not None
    assert step.from_.attributes["data"] == {"a": mask.MASK, "b": mask.MASK}
    assert step.to.attributes["data"] == {"a": mask.MASK, "b": mask.MASK_CHANGED, "c": mask.MASK}
    assert [(d.dotted, d.kind.value, d.before, d.after) for d in step.diffs] == [
        ("data.b", "changed", mask.MASK, mask.MASK_CHANGED),
        ("data.c", "added", None, mask.MASK),
    ]
    assert cs.steps[0].to.attributes["data"]["b"] == "Q0ND"  # type: ignore[union-attr]  # the engine's own step is untouched


def test_last_applied_annotation_and_string_data_are_masked() -> None:
    obj = secret({}, stringData={"token": "plain-token"})
    obj["metadata"]["annotations"] = {
        mask.LAST_APPLIED: '{"stringData":{"token":"plain-token"}}',
        "team": "a",
    }
    masked = mask.mask_attributes(obj, KUBERNETES)
    assert "plain-token" not in repr(masked)
    assert masked["metadata"]["annotations"]["team"] == "a"
    # Only core v1 Secrets: a ConfigMap's data is shown.
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"k": "v"}}
    assert mask.mask_attributes(cm, KUBERNETES) is cm


def test_literal_secrets_mask_whole_values_and_short_ones_only_exactly() -> None:
    attrs = {
        "url": "postgres://u:hunter22@db",
        "n": 12345678,
        "flag": "on",
        "other": "fine",
        "list": ["on", "x"],
    }
    masked = mask.mask_attributes(attrs, TERRAFORM, ["hunter22", "12345678", "on"])
    assert masked == {
        "url": mask.MASK,
        "n": mask.MASK,
        "flag": mask.MASK,
        "other": "fine",
        "list": [mask.MASK, "x"],
    }
    assert (
        mask.mask_text("failed: password hunter22 rejected", ["hunter22"])
        == "failed: password (sensitive value) rejected"
    )


def test_state_resources_are_masked_with_their_recorded_sensitive_tree() -> None:
    res = Resource(
        "hashicorp:random:random_password:p",
        TERRAFORM,
        {"length": 16, "result": "Zx9!Zx9!Zx9!", "keepers": {"k": "v"}},
        (),
        {SENSITIVE_KEY: {"result": True}, "providerMeta": {"token": "tok-123456"}},
    )
    out = mask.mask_state(State((res,)), ["tok-123456"]).resources[0]
    assert out.attributes == {"length": 16, "result": mask.MASK, "keepers": {"k": "v"}}
    assert out.extensions["providerMeta"] == {"token": mask.MASK}
    assert mask.mask_resource(Resource("x", TERRAFORM, {"a": 1})) == Resource(
        "x", TERRAFORM, {"a": 1}
    )


def test_renderers_mask_even_when_the_caller_did_not() -> None:
    spec = Spec((Resource(SID, KUBERNETES, secret({"pw": "c2VjcmV0LXZhbHVl"})),))
    cs = changeset_from(spec, State(), {}, {})
    assert not cs.masked
    for text in (render.text(cs), render.json(cs), *render.markdown([StackOutcome.previewed(cs)])):
        assert "c2VjcmV0LXZhbHVl" not in text


# --- property: no seeded secret reaches any rendering -------------------------------------------

HIDDEN = st.text(alphabet="QWXZJK0123456789", min_size=10, max_size=14)
PLAIN = st.text(alphabet="abcdefgh -", max_size=8)


@st.composite
def worlds(
    draw: st.DrawFn,
) -> tuple[Spec, State, dict[str, Any], dict[str, Any], list[str], set[str]]:
    literals = draw(st.lists(HIDDEN, min_size=1, max_size=3, unique=True))
    hidden: set[str] = set(literals)

    def leaf() -> Any:
        kind = draw(st.sampled_from(["plain", "literal", "embedded", "number"]))
        if kind == "plain":
            return draw(PLAIN)
        if kind == "number":
            return draw(st.integers(0, 999))
        value = draw(st.sampled_from(literals))
        return value if kind == "literal" else f"https://user:{value}@host/{draw(PLAIN)}"

    def data() -> dict[str, Any]:
        keys = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=4, unique=True))
        return {k: leaf() for k in keys}

    spec_res: list[Resource] = []
    prior_res: list[Resource] = []
    live: dict[str, Any] = {}
    dry: dict[str, Any] = {}
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["configmap", "secret", "terraform"]))
        fate = draw(st.sampled_from(["create", "same", "update", "delete", "gone"]))
        rid = f"r{i}"
        if kind == "terraform":
            before = {"name": leaf(), "result": draw(HIDDEN), "nested": [{"token": draw(HIDDEN)}]}
            hidden.update([before["result"], before["nested"][0]["token"]])
            tree = {"result": True, "nested": [{"token": True}]}
            after = {**before, "name": leaf()} if fate == "update" else dict(before)
            plan = {"name": after["name"]}
            rtype, exts = TERRAFORM, {SENSITIVE_KEY: tree}
            live_obj = {**before, SENSITIVE_KEY: tree}
            dry_obj = {**after, SENSITIVE_KEY: tree}
        else:
            if kind == "secret":
                values = {
                    k: draw(HIDDEN)
                    for k in draw(st.lists(st.sampled_from("xyz"), min_size=1, unique=True))
                }
                hidden.update(values.values())
                before = secret(values)
                new_values = {k: draw(HIDDEN) for k in values} if fate == "update" else values
                hidden.update(new_values.values())
                after = secret(new_values)
            else:
                before = {"apiVersion": "v1", "kind": "ConfigMap", "data": data()}
                after = (
                    {"apiVersion": "v1", "kind": "ConfigMap", "data": data()}
                    if fate == "update"
                    else before
                )
            plan = after
            rtype, exts = KUBERNETES, {}
            live_obj, dry_obj = before, after
        res = Resource(rid, rtype, plan, (), {})
        if fate in ("delete", "gone"):
            prior_res.append(Resource(rid, rtype, before, (), exts))
            live[rid] = live_obj if fate == "delete" else None
            continue
        spec_res.append(res)
        if fate != "create":
            prior_res.append(Resource(rid, rtype, before, (), exts))
            live[rid] = live_obj
            dry[rid] = dry_obj
    return Spec(tuple(spec_res)), State.of(prior_res), live, dry, literals, hidden


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds())
def test_masking_never_leaks_a_seeded_secret(world: Any) -> None:
    spec, prior, live, dry, literals, hidden = world
    cs = changeset_from(spec, prior, live, dry, project="p", stack="s", workspace="w")
    outputs = [
        render.text(cs, secrets=literals),
        render.text(cs, secrets=literals, color=True),
        render.json(cs, secrets=literals),
        *render.markdown([StackOutcome.previewed(cs)], secrets=literals, limit=2048),
        repr(mask.mask_changeset(cs, literals)),
        repr(mask.mask_state(prior, literals)),
    ]
    for text in outputs:
        for value in hidden:
            assert value not in text
