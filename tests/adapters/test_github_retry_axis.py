"""The GitHub adapter and the git caches put their failures on the retry axis: GitHub 5xx,
429, secondary rate limits, transport errors and failed fetches are `TransientError`s (with
GitHub's `Retry-After`), other refusals stay permanent `RuntimeFailed`. Faults come from the
GitHub simulator's fault injection."""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest

from bot.adapters.github.checkout import GitCheckouts
from bot.adapters.github.host import Credentials, GitHubHost
from bot.adapters.gitstate import git_backend
from bot.core.errors import RuntimeFailed, TransientError, retry_kind
from tests.adapters.test_github_host import world  # noqa: F401 - the fixture

REPO = "acme/infra"


def test_5xx_429_and_rate_limits_are_temporary(world) -> None:  # noqa: F811
    sim, host, number, head, _ = world
    sim.inject_fault(r"/pulls/\d+/files$", 502)
    with pytest.raises(TransientError, match="HTTP 502") as bad_gateway:
        host.changed_files(REPO, number)
    assert bad_gateway.value.retry_after is None and retry_kind(bad_gateway.value) == "temporary"
    sim.inject_fault(r"/pulls/\d+$", 429, retry_after=30)
    with pytest.raises(TransientError, match="HTTP 429") as limited:
        host.pull_request(REPO, number)
    assert limited.value.retry_after == 30
    sim.inject_fault(r"/issues/\d+/comments$", 403, method="POST", rate_limit=True)
    with pytest.raises(TransientError, match="secondary rate limit"):
        host.create_comment(REPO, number, "hello")
    sim.inject_fault(r"/collaborators/reader/permission$", 403, retry_after=5)
    with pytest.raises(TransientError) as permission:  # not "none": a rate limit says nothing about it
        host.permission(REPO, "reader")
    assert permission.value.retry_after == 5
    sim.inject_fault(r"/statuses/", 503, times=2)
    for _ in range(2):
        with pytest.raises(TransientError, match="HTTP 503"):
            host.set_status(REPO, head, "shipmate/preview", "pending", "previewing")
    host.set_status(REPO, head, "shipmate/preview", "success", "done")  # the fault is used up
    assert [h["status"] for h in sim.fault_hits()] == [502, 429, 403, 403, 503, 503]
    # permanent refusals stay permanent
    with pytest.raises(RuntimeFailed) as missing:
        host.pull_request(REPO, 999)
    assert not isinstance(missing.value, TransientError) and retry_kind(missing.value) == "permanent"
    assert host.permission(REPO, "nobody") == "none"


def test_a_host_that_cannot_be_reached_is_temporary() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    host = GitHubHost(Credentials(api_url=f"http://127.0.0.1:{port}/api/v3", token="t"), throttle=False)
    with pytest.raises(TransientError, match="ConnectionError"):
        host.pull_request(REPO, 1)


def test_the_admin_endpoint_arms_and_lists_faults(world) -> None:  # noqa: F811
    sim, host, number, _, _ = world

    def call(method: str, body: dict[str, object] | None = None) -> tuple[int, object]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{sim.url}/_sim/faults", data=data, method=method)
        try:
            with urllib.request.urlopen(request) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert call("POST", {"path": "/pulls", "status": 200})[0] == 422
    assert call("POST", {"path": "(", "status": 500})[0] == 422
    status, fault = call("POST", {"path": r"/pulls/\d+$", "status": 500, "times": 1})
    assert status == 201 and fault == {"path": r"/pulls/\d+$", "status": 500, "times": 1, "method": "*",
                                       "retry_after": None, "message": "", "rate_limit": False}
    assert call("GET")[1] == {"faults": [fault], "hits": []}
    with pytest.raises(TransientError, match="HTTP 500"):
        host.pull_request(REPO, number)
    assert call("DELETE")[0] == 204 and call("GET")[1] == {"faults": [], "hits": []}


def test_failed_fetches_are_temporary(world, tmp_path: Path) -> None:  # noqa: F811
    sim, host, number, head, _ = world
    checkouts = GitCheckouts(tmp_path / "cache", host.clone_url)
    sim.inject_fault(r"^/acme/infra\.git/", 502, times=10)
    with pytest.raises(TransientError, match="git fetch failed"):
        checkouts.checkout(REPO, head)
    sim.faults.clear()
    assert (Path(checkouts.checkout(REPO, head)) / "shop" / "dev" / "main.yaml").read_text() == "a: 2\n"
    sim.inject_fault(r"^/acme/infra\.git/", 503, times=10)
    backend = git_backend(sim.git_url("acme", "infra", "bot-token", "bot"), "shipmate-state", data_dir=tmp_path / "s")
    with pytest.raises(TransientError, match="cannot fetch"):
        backend.list_locks()


def test_the_throttled_client_hands_long_waits_to_the_queue(world) -> None:  # noqa: F811
    """In production (throttled) PyGithub retries a little itself; a server that stays down
    or asks for a long wait ends as a TransientError for the queue to schedule, instead of a
    worker thread sleeping through ten retries or a minute's secondary rate-limit wait."""
    import time

    sim, _, number, _, _ = world
    host = GitHubHost(Credentials(api_url=sim.api_url, token="bot-token"), throttle=True)
    sim.inject_fault(r"/pulls/\d+$", 502, times=10)
    started = time.monotonic()
    with pytest.raises(TransientError):
        host.pull_request(REPO, number)
    assert len(sim.fault_hits()) == 3  # the first try and two quick retries
    sim.faults.clear()
    sim.inject_fault(r"/pulls/\d+$", 403, times=10, rate_limit=True, retry_after=600)
    with pytest.raises(TransientError) as limited:
        host.pull_request(REPO, number)
    assert limited.value.retry_after == 600.0  # for the queue to wait, at once
    assert len(sim.fault_hits()) == 1
    assert time.monotonic() - started < 30
