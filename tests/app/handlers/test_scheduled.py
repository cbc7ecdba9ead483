"""The scheduler's events on the memory tier: drift checks and lock sweeps, delivered as the
workers deliver them (`CheckDrift`, `SweepLocks`)."""

from __future__ import annotations

import yaml

from bot.core.release import Phase
from tests.app.handlers.bench import DRIFT, REPO, Bench, app, object_id

CHANGE = {"shop/dev/main.yaml": app(notes={"text": "changed"})}


def test_drift_is_recorded_and_reported(bench: Bench) -> None:
    bench.push({"shop/prod/main.yaml": app(site={"text": "prod"})})
    sha = bench.merge(bench.open(CHANGE))
    assert bench.world.objects == {object_id("notes"): {"text": "changed"}, object_id("site"): {"text": "prod"}}
    assert bench.check_drift() is None
    clean = bench.status(sha, DRIFT)
    report = yaml.safe_load(bench.state_file("drift/shop/dev.yaml") or b"")
    assert clean == ("success", "no drift in 2 stacks"), clean
    assert report["drifted"] is False and report["commit"] == sha

    bench.world.objects[object_id("notes")] = {"text": "edited by hand"}
    assert bench.check_drift() is None
    assert bench.status(sha, DRIFT) == ("failure", "drift in 1 of 2 stacks: shop/dev")
    report = yaml.safe_load(bench.state_file("drift/shop/dev.yaml") or b"")
    assert report["drifted"] is True and report["commit"] == sha
    assert {"id": object_id("notes"), "action": "Update"} in report["changes"]


def test_locks_of_closed_pull_requests_and_expired_leases_are_swept(bench: Bench) -> None:
    pr = bench.open(CHANGE)
    bench.say("bob", pr, "/apply")
    bench.host.close(REPO, pr.number)  # the closed event is lost
    state = bench.memory.backend(REPO)
    short = state.acquire_lock("shop", "prod", "push:acme/config@0123456789ab", 30)
    assert [lock.key for lock in bench.locks()] == ["shop/dev", "shop/prod"]
    bench.clock.advance(31)
    assert bench.sweep() is None
    assert bench.locks() == ()
    assert bench.bodies(pr)[-1].endswith(
        f"The pull request is closed; released:\n\n- `shop/dev` (held by `pr:{REPO}#{pr.number}`)\n")
    log = [c.message for c in state.store.commits]  # type: ignore[attr-defined]
    assert f"locks freed, lease expired: {short.key} ({short.describe()})" in log
    assert [r.phase for r in bench.releases()] == [Phase.SUCCEEDED]


def test_a_sweep_leaves_the_locks_of_open_pull_requests_and_live_leases(bench: Bench) -> None:
    pr = bench.open(CHANGE)
    bench.say("bob", pr, "/apply")
    assert bench.sweep() is None
    assert [lock.pull_request for lock in bench.locks()] == [pr.number]
