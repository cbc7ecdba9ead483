"""Rollout waves, end to end: with `rollout: {batchSize: 1, pause: 1s}` a workspace change
applies its stacks one batch after another, the pull request's rollout comment showing each
batch; a failed batch stops the rollout and the later stacks are not started (no release).
Through the simulated GitHub and Kubernetes with the bot built as `shipmate serve` builds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.gitstate import git_backend
from bot.cli.sandbox import EXAMPLE, Sandbox
from tests.e2e.world import approve_and_apply, bodies, open_pr, replace

pytestmark = pytest.mark.e2e

SETTINGS = (EXAMPLE / "shipmate.yaml").read_text() + "rollout:\n  batchSize: 1\n  pause: 1s\n"


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("rollout"), files={"shipmate.yaml": SETTINGS}) as sandbox:
        yield sandbox


def rollout_comment(box: Sandbox, number: int) -> str:
    [text] = [b for b in bodies(box, number) if "## Shipmate rollout" in b]
    return text


def test_a_workspace_change_rolls_out_batch_by_batch(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {"workspaces/prod.yaml": replace("replicas: 2", "replicas: 3")},
                 title="Three replicas in prod")
    box.settle()
    asked = approve_and_apply(box, pr.number)
    progress = rollout_comment(box, pr.number)
    assert f"@bob asked to apply commit `{pr.head.sha[:7]}` in 2 batches of at most 1 stack, 1s apart:" in progress
    assert "| 1/2 | `data/prod` | ✅ applied |" in progress
    assert "| 2/2 | `shop/prod` | ✅ applied |" in progress
    [result] = [b for b in bodies(box, pr.number, after=asked.id) if "## Shipmate apply" in b]
    assert "✅ 2 succeeded" in result
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state") as backend:
        first, second = backend.latest("data", "prod"), backend.latest("shop", "prod")
        assert first is not None and second is not None
        assert first.phase.value == second.phase.value == "succeeded"
        assert first.modified_time <= second.create_time  # the second batch began after the first ended
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.settle()


def test_a_failed_batch_stops_the_rollout(box: Sandbox, tmp_path: Path) -> None:
    # dev's stacks: data/dev, then edge/dev (its on-prem machines are not reachable from here,
    # so it fails), then shop/dev, which must not start.
    pr = open_pr(box, "bob", {"workspaces/dev.yaml": replace("env: dev", "env: development")},
                 title="Rename the dev label")
    box.settle()
    asked = approve_and_apply(box, pr.number)
    progress = rollout_comment(box, pr.number)
    assert "| 1/3 | `data/dev` | ✅ applied |" in progress
    assert "| 2/3 | `edge/dev` | ❌ failed |" in progress
    assert "| 3/3 | `shop/dev` | ⛔ not started |" in progress
    assert "Batch 2 failed, so the rollout stopped" in progress
    [result] = [b for b in bodies(box, pr.number, after=asked.id) if "## Shipmate apply" in b]
    assert "not started: batch 2 of the rollout failed" in result
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state") as backend:
        assert backend.latest("shop", "dev") is None  # never started, nothing recorded
        data = backend.latest("data", "dev")
        assert data is not None and data.phase.value == "succeeded"
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.settle()
