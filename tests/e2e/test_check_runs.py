"""Check runs with an Apply button, end to end: the bot acts as a GitHub App on the simulated
GitHub, every preview leaves one check run per stack with the stack's preview and an Apply
button, and a click is the clicker's `/apply -p <project> -s <stack>`: refused without the
approval `shipmate.yaml` requires, applied (the check run going in_progress → completed, the
Release naming the clicker) once approved. Token installations keep commit statuses alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.gitstate import git_backend
from bot.cli.sandbox import APP_BOT, REPO_NAME, REPO_OWNER, Sandbox
from tests.e2e.world import bodies, open_pr, replace, statuses

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("checks"), app=True) as sandbox:
        yield sandbox


def runs(box: Sandbox, sha: str) -> dict[str, dict[str, Any]]:
    """The latest check run per name on `sha`, with the buttons it carries."""
    found = {}
    for run in box.github.check_runs(REPO_OWNER, REPO_NAME, sha):
        record = box.github.state.check_runs[str(run["id"])]
        found[run["name"]] = {**run, "actions": record.get("actions", [])}
    return found


def test_a_click_on_apply_is_a_slash_apply_by_the_clicker(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {"shop/dev/main.yaml": replace("image: nginx:1.25", "image: nginx:1.27")},
                 title="nginx 1.27 in dev")
    box.settle()
    head = box.repo("alice").get_pull(pr.number).head.sha
    [preview] = bodies(box, pr.number, by=APP_BOT)
    assert "Shipmate preview" in preview

    run = runs(box, head)["shipmate/shop/dev"]
    assert (run["status"], run["conclusion"], run["external_id"]) == ("completed", "neutral", "shop/dev")
    assert run["output"]["title"] == "7 to create, 0 to update, 0 to delete, 0 unchanged"
    assert "`apps/v1:Deployment:shop:shop-dev-web`" in run["output"]["summary"]
    assert run["actions"] == [{"label": "Apply", "description": "Apply shop/dev as previewed", "identifier": "apply"}]
    assert "shipmate/preview" in statuses(box, head)  # the commit status stays beside the check runs

    # Bob may write, but the repository asks for an approval first: the click is refused.
    box.github.request_action(REPO_OWNER, REPO_NAME, run["id"], "apply", "bob")
    box.settle()
    [refused] = bodies(box, pr.number, by=APP_BOT)[1:]
    assert "/apply -p shop -s dev (the Apply button)" in refused and "approv" in refused
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "before") as backend:
        assert backend.latest("shop", "dev") is None

    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE")
    box.github.request_action(REPO_OWNER, REPO_NAME, run["id"], "apply", "bob")
    box.settle()
    result = bodies(box, pr.number, by=APP_BOT)[-1]
    assert "## Shipmate apply" in result and "@bob asked to apply" in result and "✅ 1 succeeded" in result
    applied = runs(box, head)["shipmate/shop/dev"]
    assert applied["id"] != run["id"] and applied["status"] == "completed" and applied["conclusion"] == "success"
    assert applied["output"]["title"] == "Apply succeeded" and "@bob asked to apply" in applied["output"]["summary"]
    told = [box.github.delivery(d["id"])["payload"] for d in box.github.deliveries("check_run")]
    history = [(p["action"], p["check_run"]["status"]) for p in told if p["check_run"]["id"] == applied["id"]]
    assert history == [("created", "in_progress"), ("completed", "completed")]  # updated, not replaced
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "after") as backend:
        latest = backend.latest("shop", "dev")
        assert latest is not None and latest.phase.value == "succeeded"
        assert (latest.actor, latest.pull_request, latest.trigger.value) == ("bob", pr.number, "comment")
    box.repo("bob").get_pull(pr.number).edit(state="closed")  # its locks go
    box.settle()

