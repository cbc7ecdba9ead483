"""The scheduler's events on the memory tier: drift checks and lock sweeps, delivered as the
workers deliver them (`CheckDrift`, `SweepLocks`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.core.errors import RuntimeFailed
from bot.core.ports import PullRequestInfo
from bot.core.release import Phase
from tests.app.handlers.bench import DRIFT, REPO, Bench, app, object_id

CHANGE = {"shop/dev/main.yaml": app(notes={"text": "changed"})}
BRANCH = "shipmate/drift/shop/dev"


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


def test_the_drift_pull_request_is_kept_written_again_and_left_closed(tmp_path: Path, installed: None) -> None:
    bench = Bench(tmp_path, "drift-pull", settings="apply: on-comment\n")  # merges apply nothing here
    pr = bench.open(CHANGE)
    bench.say("bob", pr, "/apply")
    bench.merge(pr)
    bench.world.objects[object_id("notes")] = {"text": "edited by hand"}
    assert bench.check_drift() is None

    def drift_pulls(state: str = "open") -> list[PullRequestInfo]:
        record = yaml.safe_load(bench.state_file("drift/shop/dev.yaml") or b"")
        found = [bench.host.pull_request(REPO, record["pullRequest"]["number"])]
        return [p for p in found if p.head_ref == BRANCH and p.state == state]

    [pull] = drift_pulls()
    head = bench.host.branch_head(REPO, BRANCH)
    assert "text: edited by hand" in bench.files(head)["shop/dev/main.yaml"]
    [issue] = [n for (r, n), i in bench.host.issues.items() if i["title"].startswith("Drift in ")]
    assert f"- or merge #{pull.number}, which writes the live value of 1 field into the config." in \
        bench.host.issues[(REPO, issue)]["body"]

    assert bench.check_drift() is None  # the same drift: the same pull request, its branch as it was
    assert [p.number for p in drift_pulls()] == [pull.number] and bench.host.branch_head(REPO, BRANCH) == head

    # The default branch changes the file the pull request writes: written again on the new head.
    bench.push({"shop/dev/main.yaml": "# notes live in memory\n" + bench.files()["shop/dev/main.yaml"]})
    assert bench.check_drift() is None
    assert [p.number for p in drift_pulls()] == [pull.number]
    written = bench.files(bench.host.branch_head(REPO, BRANCH))["shop/dev/main.yaml"]
    assert written.startswith("# notes live in memory\n") and "text: edited by hand" in written

    # Closed by someone without merging: not opened again for the same drift.
    bench.host.close(REPO, pull.number)
    assert bench.check_drift() is None
    assert drift_pulls() == [] and [p.number for p in drift_pulls("closed")] == [pull.number]
    assert bench.host.branch_head(REPO, BRANCH)  # a pull request someone closed keeps its branch

    # Back in line: the issue is closed.
    bench.world.objects[object_id("notes")] = {"text": "changed"}
    assert bench.check_drift() is None
    assert bench.host.issues[(REPO, issue)]["state"] == "closed"
    assert bench.host.comments(REPO, issue)[-1].body.endswith("found `shop/dev` back in line with its config: closing.")

    # Another drift: a new pull request; back in line, Shipmate closes it and deletes its branch.
    bench.world.objects[object_id("notes")] = {"text": "edited again"}
    assert bench.check_drift() is None
    [again] = drift_pulls()
    assert again.number != pull.number
    bench.world.objects[object_id("notes")] = {"text": "changed"}
    assert bench.check_drift() is None
    assert bench.host.pull_request(REPO, again.number).state == "closed"
    with pytest.raises(RuntimeFailed):
        bench.host.branch_head(REPO, BRANCH)
