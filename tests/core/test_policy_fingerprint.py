"""The fingerprint an approval is pinned to: stable under key order, changed by any input."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bot.core import fingerprint
from bot.core.preview.model import Action, ChangeSet, ChangeStep, DiffKind, FieldDiff
from bot.core.spec import Resource, Spec

HEAD = "a" * 40

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)), max_leaves=12)
attributes = st.dictionaries(st.text(min_size=1, max_size=6), values, min_size=1, max_size=5)


def shuffled(value: Any, rng: random.Random) -> Any:
    """`value` with every mapping's keys inserted in another order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def preview(attrs: dict[str, Any], live: dict[str, Any] | None, commit: str = HEAD) -> fingerprint.Fingerprint:
    planned = Resource("v1:ConfigMap:shop:cfg", "Kubernetes", attrs)
    spec = Spec((planned,), None, {"cluster": "dev"})
    if live is None:
        step = ChangeStep(planned.id, Action.CREATE, None, planned)
    else:
        diffs = tuple(FieldDiff(("data", k), DiffKind.CHANGED, live.get(k), v)
                      for k, v in sorted(attrs.items()) if live.get(k) != v)
        step = ChangeStep(planned.id, Action.UPDATE if diffs else Action.UNCHANGED,
                          Resource(planned.id, planned.type, live), planned, diffs)
    return fingerprint.of(commit, spec, ChangeSet((step,), "shop", "dev", "dev"))


@given(attributes, attributes, st.randoms(use_true_random=False))
def test_stable_under_key_order(attrs, live, rng):
    first = preview(attrs, live)
    again = preview(shuffled(attrs, rng), shuffled(live, rng))
    assert again == first and again.value == first.value
    assert fingerprint.canonical(shuffled(attrs, rng)) == fingerprint.canonical(attrs)


@given(attributes, attributes, st.text(min_size=1, max_size=6), values)
def test_a_live_edit_changes_the_live_part(attrs, live, key, value):
    edited = {**live, key: value}
    if edited == live:
        return
    before, after = preview(attrs, live), preview(attrs, edited)
    assert before.value != after.value
    assert "live" in before.changed(after)
    assert "commit" not in before.changed(after) and "spec" not in before.changed(after)


@given(attributes, attributes, st.text(min_size=1, max_size=6), values)
def test_a_spec_edit_changes_the_spec_part(attrs, live, key, value):
    edited = {**attrs, key: value}
    if edited == attrs:
        return
    before, after = preview(attrs, live), preview(edited, live)
    assert before.value != after.value and "spec" in before.changed(after)


@given(attributes, st.one_of(st.none(), attributes))
def test_another_commit_changes_only_the_commit(attrs, live):
    before, after = preview(attrs, live), preview(attrs, live, commit="b" * 40)
    assert before.changed(after) == ("commit",)
    assert before.value != after.value


def test_created_and_existing_objects_differ_live():
    attrs = {"x": "1"}
    created, existing = preview(attrs, None), preview(attrs, dict(attrs))
    assert created.changed(existing) == ("changes", "live")


def test_round_trip_through_a_record():
    got = preview({"x": "1"}, {"x": "2"})
    assert fingerprint.Fingerprint.from_dict(got.to_dict()) == got
    assert got.to_dict()["value"] == got.value
    assert got.value.startswith("sha256:") and len(got.value) == len("sha256:") + 64
    assert fingerprint.Fingerprint.from_dict({"value": got.value}) is None


REF = "$kusion_stack.network/dev.v1:ConfigMap:network:settings.data.revision"


def read_output(value: str, *, whole: bool) -> fingerprint.Fingerprint:
    """A preview of a ConfigMap whose data.network reads another stack's output, resolved to
    `value`; `whole`: the diff is the whole new data mapping (a new field), else the field."""
    written = Resource("v1:ConfigMap:shop:cfg", "Kubernetes", {"data": {"network": REF, "a": "1"}})
    planned = Resource(written.id, "Kubernetes", {"data": {"network": value, "a": "1"}})
    live = Resource(written.id, "Kubernetes", {"data": {"a": "1"}} if whole else {"data": {"network": "0", "a": "1"}})
    diff = (FieldDiff(("data",), DiffKind.CHANGED, {"a": "1"}, {"network": value, "a": "1"}) if whole
            else FieldDiff(("data", "network"), DiffKind.CHANGED, "0", value))
    step = ChangeStep(written.id, Action.UPDATE, live, planned, (diff,))
    refs = {written.id: {("data", "network"): REF}}
    return fingerprint.of(HEAD, Spec((written,)), ChangeSet((step,), "shop", "dev", "dev"), refs)


@given(st.text(max_size=10), st.text(max_size=10), st.booleans())
def test_an_output_is_pinned_as_written_whatever_it_resolves_to(first: str, second: str, whole: bool) -> None:
    # The preview saw "(known after apply)", the apply the value the dependency recorded.
    assert read_output(first, whole=whole) == read_output(second, whole=whole)
