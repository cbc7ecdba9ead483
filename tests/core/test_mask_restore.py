"""Reading masks back: secrets a stored release still knows, masked leaves filled from live
objects, and the operations an apply runs for a change set (bot.core.mask, bot.core.plan)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import mask, plan
from bot.core.errors import PlanError
from bot.core.preview import Action, changeset_from
from bot.core.release import Phase, Release
from bot.core.spec import TERRAFORM, Resource, Spec, State

WHEN = datetime(2026, 1, 1, tzinfo=UTC)

leaves = st.one_of(st.text(max_size=5), st.integers(), st.booleans(), st.none())
values = st.recursive(
    leaves,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)),
    max_leaves=12,
)


def _masked(value: Any) -> Any:
    """`value` with every string leaf masked."""
    if isinstance(value, str):
        return mask.MASK
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _release(spec: Spec, state: State) -> Release:
    return Release("p", "w", 1, "s", spec, state, Phase.SUCCEEDED, WHEN, WHEN)


@given(values.filter(lambda v: not mask.holds_mask(v)))
def test_filling_a_value_without_masks_leaves_it_as_it_is(value: Any) -> None:
    assert mask.fill_masks(value, None) == value


@given(values)
def test_masked_leaves_are_filled_from_the_live_object_at_the_same_path(value: Any) -> None:
    masked = _masked(value)
    assert mask.fill_masks(masked, value) == value
    assert not mask.holds_mask(mask.fill_masks(masked, value))


def test_a_mask_the_live_object_lacks_names_its_path() -> None:
    with pytest.raises(KeyError, match=r"data\.b"):
        mask.fill_masks({"data": {"a": mask.MASK, "b": mask.MASK}}, {"data": {"a": "x"}})


def test_a_release_recovers_the_secrets_its_recorded_state_holds_in_clear() -> None:
    spec = Spec((Resource("t:a", TERRAFORM, {"password": mask.MASK, "name": "n", "list": [mask.MASK_CHANGED]}),))
    state = State.of([Resource("t:a", TERRAFORM, {"password": "hunter2", "name": "n", "list": [42]})])
    release = _release(spec, state)
    assert mask.recovered_secrets(release, frozenset({TERRAFORM})) == {"hunter2", "42"}
    assert mask.recovered_secrets(release, frozenset()) == frozenset()


def test_operations_take_the_planned_resource_and_the_recorded_one_for_deletes() -> None:
    kept, new, gone = (Resource(f"t:{n}", TERRAFORM, {"n": n}) for n in ("kept", "new", "gone"))
    spec, prior = Spec((kept, new)), State.of([kept, gone])
    changeset = changeset_from(spec, prior, {"t:kept": {"n": "kept"}, "t:gone": {"n": "gone"}}, {"t:kept": {"n": "kept"}})
    ops = {op.id: (op.action, op.resource) for op in plan.operations_of(changeset, spec, prior)}
    assert ops == {"t:kept": (Action.UNCHANGED, kept), "t:new": (Action.CREATE, new), "t:gone": (Action.DELETE, gone)}
    with pytest.raises(PlanError, match="t:gone"):
        plan.operations_of(changeset, spec, State.of([kept]))
