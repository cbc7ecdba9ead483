"""Drift handed back, end to end: a hand edit of a simulated Kubernetes object is found by the
drift check, which opens one issue for the stack showing the difference; a later check updates
that issue rather than opening another; once live is back in line the issue is closed. Through
the simulated GitHub and Kubernetes with the bot built as `shipmate serve` builds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from bot.adapters.gitstate import git_backend
from bot.app.drift import check_drift
from bot.cli.sandbox import REPO, REPO_NAME, REPO_OWNER, Sandbox
from tests.e2e.world import NO_APPROVALS, comment, open_pr, replace

pytestmark = pytest.mark.e2e

SETTINGS = NO_APPROVALS


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("drift"), files={"shipmate.yaml": SETTINGS}) as sandbox:
        yield sandbox


def greeting(box: Sandbox, value: str | None = None) -> str:
    api = config.new_client_from_config(str(box.kubeconfig))
    try:
        core = client.CoreV1Api(api)
        if value is not None:
            core.patch_namespaced_config_map("web.settings", "shop", {"data": {"greeting": value}},
                                             field_manager="kubectl-edit")  # as `kubectl edit` says
        return str(core.read_namespaced_config_map("web.settings", "shop").data["greeting"])
    finally:
        api.close()


def drift_issues(box: Sandbox) -> list[dict[str, Any]]:
    issues = box.repo("alice").get_issues(state="all")
    return [i.raw_data for i in issues if i.pull_request is None and i.title.startswith("Drift in ")]


def test_drift_opens_one_issue_updates_it_and_closes_it(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {"shop/dev/main.yaml": replace("LOG_LEVEL: debug", "LOG_LEVEL: warn")},
                 title="Quieter logs in dev")
    box.settle()
    comment(box, "bob", pr.number, "/apply")
    box.settle()
    box.repo("alice").get_pull(pr.number).merge(merge_method="merge")
    box.settle()
    assert check_drift(box.services, REPO).drifted == ()
    assert drift_issues(box) == []

    live = greeting(box)
    greeting(box, "edited by hand")
    assert check_drift(box.services, REPO).drifted == ("shop/dev",)
    [issue] = drift_issues(box)
    assert issue["title"] == "Drift in shop/dev (dev)" and issue["state"] == "open"
    assert "`v1:ConfigMap:shop:web.settings` | ✏️ Update" in issue["body"]
    assert "- edited by hand\n+ hello from dev" in issue["body"] and "comment `/apply` here" in issue["body"]
    assert "- `v1:ConfigMap:shop:web.settings` `data.greeting`: `kubectl-edit` (Update, " in issue["body"]
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "state") as backend:
        record = backend.view().drift("shop", "dev")
        assert record is not None and record["issue"] == issue["number"] and record["drifted"] is True

    greeting(box, "edited again")
    assert check_drift(box.services, REPO).drifted == ("shop/dev",)
    [again] = drift_issues(box)  # the same issue, updated
    assert again["number"] == issue["number"] and "- edited again\n+ hello from dev" in again["body"]

    # bob comments /apply on the issue: live is put back as the config says, and the issue closes.
    asked = comment(box, "bob", issue["number"], "/apply")
    box.settle()
    assert greeting(box) == live
    [closed] = drift_issues(box)
    assert closed["number"] == issue["number"] and closed["state"] == "closed"
    [result] = [c["body"] for c in box.github.comments(REPO_OWNER, REPO_NAME, issue["number"]) if c["id"] > asked.id]
    assert "@bob asked to apply commit" in result and "✅ 1 succeeded" in result
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "applied") as backend:
        latest = backend.latest("shop", "dev")
        assert latest is not None and latest.actor == "bob" and latest.phase.value == "succeeded"
    assert check_drift(box.services, REPO).drifted == ()

    # Drift again: a new issue; eve may only read, so her /apply is refused; fixed by hand, the
    # next check closes the issue.
    greeting(box, "edited once more")
    assert check_drift(box.services, REPO).drifted == ("shop/dev",)
    second = [i for i in drift_issues(box) if i["state"] == "open"]
    assert len(second) == 1 and second[0]["number"] != issue["number"]
    number = second[0]["number"]
    asked = comment(box, "eve", number, "/apply")
    box.settle()
    [refused] = [c["body"] for c in box.github.comments(REPO_OWNER, REPO_NAME, number) if c["id"] > asked.id]
    assert "@eve has read permission on this repository; /apply needs write" in refused
    greeting(box, live)
    assert check_drift(box.services, REPO).drifted == ()
    said = [c["body"] for c in box.github.comments(REPO_OWNER, REPO_NAME, number)]
    assert said[-1].endswith("found `shop/dev` back in line with its config: closing.")
    assert [i["state"] for i in drift_issues(box)] == ["closed", "closed"]


def test_an_issue_closed_by_hand_is_recorded_and_that_drift_not_raised_again(box: Sandbox, tmp_path: Path) -> None:
    live = greeting(box)
    greeting(box, "kept on purpose")
    assert check_drift(box.services, REPO).drifted == ("shop/dev",)
    [issue] = [i for i in drift_issues(box) if i["state"] == "open"]
    box.repo("alice").get_issue(issue["number"]).edit(state="closed")  # neither way out
    box.settle()
    with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "dismissed") as backend:
        record = backend.view().drift("shop", "dev")
        assert record is not None and record["dismissed"]["issue"] == issue["number"]
        assert record["dismissed"]["by"] == "alice"
    before = len(drift_issues(box))
    assert check_drift(box.services, REPO).drifted == ("shop/dev",)
    assert len(drift_issues(box)) == before  # the same drift: no new issue
    greeting(box, "changed again")
    assert check_drift(box.services, REPO).drifted == ("shop/dev",)
    [fresh] = [i for i in drift_issues(box) if i["state"] == "open"]
    assert fresh["number"] != issue["number"]
    greeting(box, live)
    assert check_drift(box.services, REPO).drifted == ()


def test_drift_issues_off_opens_no_issue_and_the_check_still_records(box: Sandbox, tmp_path: Path) -> None:
    def settings(text: str, title: str) -> None:
        pr = open_pr(box, "alice", {"shipmate.yaml": text}, title=title)
        box.settle()
        box.repo("alice").get_pull(pr.number).merge(merge_method="merge")
        box.settle()

    settings(SETTINGS + "drift: {issues: false}\n", "No drift issues")
    live = greeting(box)
    opened = [i["number"] for i in drift_issues(box) if i["state"] == "open"]
    greeting(box, "edited with issues off")
    try:
        assert check_drift(box.services, REPO).drifted == ("shop/dev",)
        assert [i["number"] for i in drift_issues(box) if i["state"] == "open"] == opened
        with git_backend(box.state_url(), "shipmate-state", data_dir=tmp_path / "off") as backend:
            record = backend.view().drift("shop", "dev")
            assert record is not None and record["drifted"] is True
    finally:
        greeting(box, live)
        settings(SETTINGS, "Drift issues again")
    assert check_drift(box.services, REPO).drifted == ()
