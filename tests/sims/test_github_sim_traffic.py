"""The GitHub simulator's traffic: latency per request, calls counted by route, and GitHub's
secondary rate limit on content creation (403 with Retry-After beyond the budget)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

from fixtures.github_sim import GitHubSim, SimUser
from fixtures.github_sim.traffic import Traffic, route, total

TOKEN = "t0k-alice"


def call(sim: GitHubSim, method: str, path: str, body: object = None) -> tuple[int, dict[str, str], object]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{sim.api_url}{path}", data=data, method=method,
                                     headers={"Authorization": f"token {TOKEN}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def test_routes_name_numbers_and_shas_generically() -> None:
    assert route("POST", "/api/v3/repos/o/r/issues/12/comments") == "POST /repos/o/r/issues/{n}/comments"
    assert route("POST", "/api/v3/repos/o/r/statuses/" + "a" * 40) == "POST /repos/o/r/statuses/{sha}"
    assert total({"GET /x": 2, "POST /y": 1, "git": 5, "refused POST /y": 3}) == 3
    assert total({"GET /x": 2, "POST /y": 1, "git": 5}, writes_only=True) == 1


def test_calls_are_counted_and_content_beyond_the_budget_is_refused(tmp_path: Path) -> None:
    with GitHubSim.start(tmp_path, users=[SimUser("alice", TOKEN, "admin")], content_per_minute=3) as sim:
        sim.create_repo("alice", "config", auto_init=True)
        sim.traffic.reset()
        for n in range(3):
            status, _, _ = call(sim, "POST", "/repos/alice/config/issues", {"title": f"issue {n}"})
            assert status == 201
        status, headers, body = call(sim, "POST", "/repos/alice/config/issues", {"title": "one too many"})
        assert status == 403
        assert "secondary rate limit" in body["message"]  # type: ignore[index]
        assert 1 <= int(headers["Retry-After"]) <= 60
        assert call(sim, "GET", "/repos/alice/config")[0] == 200  # reading is not content creation
        assert sim.traffic.counts() == {
            "GET /repos/alice/config": 1,
            "POST /repos/alice/config/issues": 3,
            "refused POST /repos/alice/config/issues": 1,
        }
        assert sim.traffic.refused == 1
        # The control API shows and resets the same.
        with urllib.request.urlopen(f"{sim.url}/_sim/traffic", timeout=10) as response:
            assert json.loads(response.read())["refused"] == 1


def test_the_budget_window_slides() -> None:
    now = [1000.0]
    traffic = Traffic(per_minute=2, per_hour=3, clock=lambda: now[0])
    assert traffic.admit("POST", "/api/v3/x") is None
    now[0] += 30
    assert traffic.admit("POST", "/api/v3/x") is None
    assert traffic.admit("POST", "/api/v3/x") == 30
    now[0] += 31  # the first left the minute
    assert traffic.admit("POST", "/api/v3/x") is None
    now[0] += 120  # the minute is free, the hour holds three
    assert traffic.admit("POST", "/api/v3/x") == 3600 - 181
    assert traffic.admit("GET", "/api/v3/x") is None  # reads are never refused


def test_latency_delays_every_request_and_overlaps_across_connections(tmp_path: Path) -> None:
    with GitHubSim.start(tmp_path, users=[SimUser("alice", TOKEN, "admin")], latency_ms=200) as sim:
        started = time.monotonic()
        assert call(sim, "GET", "/user")[0] == 200
        assert time.monotonic() - started >= 0.2
        from concurrent.futures import ThreadPoolExecutor

        started = time.monotonic()
        with ThreadPoolExecutor(4) as pool:
            assert [r[0] for r in pool.map(lambda _: call(sim, "GET", "/user"), range(4))] == [200] * 4
        assert time.monotonic() - started < 0.7  # four at once, not one after another


def test_each_user_has_a_budget_of_its_own() -> None:
    traffic = Traffic(per_minute=1, clock=lambda: 1000.0)
    assert traffic.admit("POST", "/api/v3/x", "alice") is None
    assert traffic.admit("POST", "/api/v3/x", "bob") is None
    assert traffic.admit("POST", "/api/v3/x", "alice") == 60
    assert traffic.writes_within(60) == 2 and traffic.writes_within(60, "bob") == 1
