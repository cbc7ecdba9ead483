"""Teams in the GitHub simulator: GET /orgs/{org}/teams/{slug}/members lists a team's members
to the org's people (a writer on one of its repositories, a member of one of its teams) and
answers 404 to others and for a team that does not exist, as GitHub does."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.github_sim import GitHubSim
from fixtures.github_sim.model import SimError

USERS = ["acme-bot:tok-bot:write", "dana:tok-dana:read", "eve:tok-eve:read"]


@pytest.fixture
def sim(tmp_path: Path) -> Iterator[GitHubSim]:
    with GitHubSim.start(tmp_path / "sim", users=USERS) as gh:
        gh.create_repo("acme", "config", auto_init=True)
        gh.set_team("acme", "shop-team", ["dana"])
        yield gh


def members(sim: GitHubSim, token: str, team: str) -> tuple[int, list[str]]:
    request = urllib.request.Request(f"{sim.api_url}/orgs/acme/teams/{team}/members?per_page=100",
                                     headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, [u["login"] for u in json.loads(response.read())]
    except urllib.error.HTTPError as exc:
        return exc.code, []


def test_the_orgs_people_read_a_teams_members(sim: GitHubSim) -> None:
    assert members(sim, "tok-bot", "shop-team") == (200, ["dana"])  # a writer on acme/config
    assert members(sim, "tok-dana", "shop-team") == (200, ["dana"])  # a member
    assert members(sim, "tok-eve", "shop-team") == (404, [])  # neither
    assert members(sim, "tok-bot", "no-such-team") == (404, [])
    with pytest.raises(SimError):
        sim.set_team("acme", "ghosts", ["nobody"])
