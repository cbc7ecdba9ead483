"""Check runs with buttons in the GitHub simulator: an App's check run carries requested
actions within GitHub's limits, and a click sends the App a `check_run` webhook with action
`requested_action`, the button's identifier and the clicking user as sender."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import github
import pytest

from fixtures.github_sim import GitHubSim, SimHook
from fixtures.github_sim.model import SimError
from fixtures.github_sim.testing import HookRecorder

SECRET = "hook-secret"
USERS = ["alice:tok-alice:admin", "bob:tok-bob:read", "carol:tok-carol:write", "ci[bot]:tok-ci:write"]
APPLY = {"label": "Apply", "description": "Apply shop/dev as previewed", "identifier": "apply:shop/dev"}


@pytest.fixture
def gh(tmp_path: Path) -> Iterator[tuple[GitHubSim, HookRecorder]]:
    with HookRecorder() as hooks, GitHubSim.start(tmp_path / "sim", users=USERS, hooks=[SimHook(hooks.url, SECRET)],
                                                  installation_id=7) as sim:
        sim.create_repo("alice", "config", auto_init=True)
        yield sim, hooks


def head(sim: GitHubSim) -> str:
    out = subprocess.run(["git", "--git-dir", str(sim.bare_path("alice", "config")), "rev-parse", "main"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_a_click_on_a_check_runs_button_reaches_the_app(gh: tuple[GitHubSim, HookRecorder]) -> None:
    sim, hooks = gh
    repo = sim.client("tok-ci").get_repo("alice/config")
    run = repo.create_check_run(name="shipmate/shop/dev", head_sha=head(sim), status="completed",
                                conclusion="neutral", output={"title": "1 to create", "summary": "preview"},
                                actions=[APPLY])
    sim.request_action("alice", "config", run.id, "apply:shop/dev", "carol")
    sim.wait_idle()
    [click] = [r for r in hooks.received if r.event == "check_run" and r.action == "requested_action"]
    assert click.payload["requested_action"] == {"identifier": "apply:shop/dev"}
    assert click.payload["sender"]["login"] == "carol"
    assert click.payload["check_run"]["id"] == run.id and click.payload["check_run"]["name"] == "shipmate/shop/dev"
    assert click.payload["installation"]["id"] == 7

    # Over HTTP, as a test driving another process would.
    request = urllib.request.Request(f"{sim.url}/_sim/check-runs/alice/config/{run.id}/requested-action",
                                     data=json.dumps({"identifier": "apply:shop/dev", "login": "alice"}).encode(),
                                     method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204
    sim.wait_idle()
    assert [r.payload["sender"]["login"] for r in hooks.received if r.action == "requested_action"] == ["carol", "alice"]


def test_buttons_keep_githubs_limits_and_only_writers_click(gh: tuple[GitHubSim, HookRecorder]) -> None:
    sim, _ = gh
    repo = sim.client("tok-ci").get_repo("alice/config")
    sha = head(sim)
    for bad in ([APPLY] * 4, [{**APPLY, "label": "x" * 21}], [{**APPLY, "identifier": ""}]):
        with pytest.raises(github.GithubException) as refused:
            repo.create_check_run(name="shipmate", head_sha=sha, actions=bad)
        assert refused.value.status == 422
    run = repo.create_check_run(name="shipmate", head_sha=sha, actions=[APPLY])
    with pytest.raises(SimError) as unknown:
        sim.request_action("alice", "config", run.id, "destroy", "carol")
    assert unknown.value.status == 422
    with pytest.raises(SimError) as reader:
        sim.request_action("alice", "config", run.id, "apply:shop/dev", "bob")
    assert reader.value.status in (403, 404)
