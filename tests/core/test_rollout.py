"""Rollout waves: `rollout` in shipmate.yaml, stacks cut into batches that keep every
dependsOn, and the comment that shows where a rollout is."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import rollout
from bot.core.config.settings import RolloutSettings, parse_settings
from bot.core.errors import ConfigError
from bot.core.render.rollout import progress
from bot.core.stackgraph import StackGraph
from tests.golden import assert_golden


def test_rollout_settings_and_their_errors() -> None:
    assert parse_settings("shipmate.yaml", "apply: both\n").rollout == RolloutSettings()
    text = "rollout:\n  batchSize: 2\n  pause: 2m\n  stopOnFailure: false\n"
    assert parse_settings("shipmate.yaml", text).rollout == RolloutSettings(2, 120, False)
    assert parse_settings("shipmate.yaml", "rollout: {batchSize: 3, pause: '45'}\n").rollout.pause_seconds == 45
    with pytest.raises(ConfigError) as info:
        parse_settings("shipmate.yaml", "rollout:\n  batchSize: 0\n  pause: 11m\n  wait: yes\n")
    text = str(info.value)
    assert "shipmate.yaml:2:14: rollout.batchSize: expected an integer from 1 to 100, got 0" in text
    assert "shipmate.yaml:3:10: rollout.pause: expected a duration such as 30s or 2m, at most 10m, got '11m'" in text
    assert "rollout.wait" in text


@given(st.lists(st.integers(), max_size=30), st.integers(min_value=1, max_value=8))
def test_batches_hold_every_stack_once_in_order_and_within_the_size(order: list[int], size: int) -> None:
    cut = rollout.batches(order, size)
    assert [x for batch in cut for x in batch] == order
    assert all(1 <= len(batch) <= size for batch in cut)
    assert all(len(batch) == size for batch in cut[:-1])


@st.composite
def dags(draw: st.DrawFn) -> dict[str, tuple[str, ...]]:
    n = draw(st.integers(min_value=1, max_value=12))
    names = [f"p/s{i:02d}" for i in range(n)]
    return {name: tuple(draw(st.lists(st.sampled_from(names[:i]), unique=True, max_size=3)) if i else ())
            for i, name in enumerate(names)}


@given(dags(), st.integers(min_value=1, max_value=5))
def test_batches_of_the_dependency_order_keep_every_dependency(deps: dict[str, tuple[str, ...]], size: int) -> None:
    graph = StackGraph(deps, {name: name for name in deps})
    cut = rollout.batches(graph.order(deps), size)
    batch_of = {name: i for i, batch in enumerate(cut) for name in batch}
    for name, needs in deps.items():
        assert all(batch_of[dep] <= batch_of[name] for dep in needs)


def test_what_the_rollout_comment_shows() -> None:
    plan = rollout.Rollout.start([["shop/dev", "data/dev"], ["edge/dev", "web/dev"], ["api/dev"]], 30)
    steps = [plan.with_state(0, rollout.APPLYING)]
    steps.append(steps[-1].with_state(0, rollout.APPLIED).with_state(1, rollout.APPLYING))
    steps.append(steps[-1].with_state(1, rollout.FAILED).stopped_after(1))
    text = "\n----\n".join(progress(step, lead="@alice asked to apply commit `0123456`") for step in steps)
    assert_golden(Path(__file__).parent / "golden" / "rollout" / "progress.md", text)
