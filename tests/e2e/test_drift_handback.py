"""Drift handed back, end to end: a hand edit of a simulated Kubernetes object is found by the
drift check, which opens one issue for the stack showing the difference; a later check updates
that issue rather than opening another; once live is back in line the issue is closed. Through
the simulated GitHub and Kubernetes with the bot built as `shipmate serve` builds it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from bot.adapters.gitstate import git_backend
from bot.adapters.localfs.datafiles import JsonRepositoryBook
from bot.app.drift import check_drift
from bot.cli.sandbox import REPO, REPO_NAME, REPO_OWNER, Sandbox
from bot.scheduler import Scheduler
from tests.e2e.world import NO_APPROVALS, comment, open_pr, replace

pytestmark = pytest.mark.e2e

SCHEDULE = 'drift: {schedule: "0 6 * * *"}'
SETTINGS = NO_APPROVALS + SCHEDULE + "\n"


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

    settings(SETTINGS.replace(SCHEDULE, 'drift: {schedule: "0 6 * * *", issues: false}'), "No drift issues")
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


def log_level(box: Sandbox, value: str | None = None) -> str:
    """The web Deployment's LOG_LEVEL; with `value`, set as `kubectl edit` would."""
    api = config.new_client_from_config(str(box.kubeconfig))
    try:
        apps = client.AppsV1Api(api)
        deployment = apps.read_namespaced_deployment("shop-dev-web", "shop")
        [web] = [c for c in deployment.spec.template.spec.containers if c.name == "web"]
        [env] = [e for e in web.env if e.name == "LOG_LEVEL"]
        if value is not None:
            env.value = value
            apps.replace_namespaced_deployment("shop-dev-web", "shop", deployment, field_manager="kubectl-edit")
        return str(env.value)
    finally:
        api.close()


def drift_pulls(box: Sandbox) -> list[dict[str, Any]]:
    pulls = box.repo("alice").get_pulls(state="all")
    return [p.raw_data for p in pulls if p.head.ref.startswith("shipmate/drift/")]


def scheduled_check(box: Sandbox, memory: Path) -> None:
    """The drift job of the scheduler, its schedule come due: the check is queued and run by
    the server's workers."""
    assert box.server is not None
    book = JsonRepositoryBook(memory)
    book.remember(REPO, None)
    (memory / "drift-state.json").write_text(json.dumps({REPO: "2026-01-01T00:00:00Z"}))
    assert Scheduler(box.services, box.server.queue, memory, book).run_drift() == [REPO]
    box.settle()


def test_drift_is_adopted_through_the_generated_pull_request(box: Sandbox, tmp_path: Path) -> None:
    main_before = box.repo("alice").get_contents("shop/dev/main.yaml", ref="main").decoded_content.decode()
    live_level = log_level(box)
    greeting(box, "adopted: by hand")
    log_level(box, "info")
    assert live_level != "info"
    scheduled_check(box, tmp_path)  # found by the schedule
    [issue] = [i for i in drift_issues(box) if i["state"] == "open"]
    [pull] = [p for p in drift_pulls(box) if p["state"] == "open"]
    assert pull["title"] == "Adopt what is live in shop/dev (dev)" and pull["head"]["ref"] == "shipmate/drift/shop/dev"
    assert f"(#{issue['number']})" in pull["body"]
    assert "| `v1:ConfigMap:shop:web.settings` | `data.greeting` | `\"adopted: by hand\"` | " \
           "`shop/dev/manifests/settings.yaml:8` |" in pull["body"]
    assert "`spec.template.spec.containers[name=web].env[0].value` | `\"info\"` | `shop/dev/main.yaml:" in pull["body"]
    assert f"- or merge #{pull['number']}, which writes the live values of 2 fields into the config." in \
        box.repo("alice").get_issue(issue["number"]).body
    files = {f.filename: f.patch for f in box.repo("alice").get_pull(pull["number"]).get_files()}
    assert sorted(files) == ["shop/dev/main.yaml", "shop/dev/manifests/settings.yaml"]
    head = box.repo("alice").get_branch("shipmate/drift/shop/dev").commit.sha
    branch_main = box.repo("alice").get_contents("shop/dev/main.yaml", ref=head).decoded_content.decode()
    assert branch_main == main_before.replace(f"LOG_LEVEL: {live_level}", "LOG_LEVEL: info")  # that line only

    # The bot previews its own pull request like any other: the adopted fields show no change.
    box.settle()
    preview = "\n".join(b for b in (c["body"] for c in box.github.comments(REPO_OWNER, REPO_NAME, pull["number"]))
                        if "shipmate:preview" in b)
    assert "`shop` / `dev`" in preview and "No changes" in preview, preview

    # A later check with the same drift keeps the one pull request as it is.
    assert check_drift(box.services, REPO).drifted == ("shop/dev",)
    assert [p["number"] for p in drift_pulls(box) if p["state"] == "open"] == [pull["number"]]

    # Merged: the config says what is live; the next check closes the issue.
    box.repo("alice").get_pull(pull["number"]).merge(merge_method="merge")
    box.settle()
    assert check_drift(box.services, REPO).drifted == ()
    assert box.repo("alice").get_issue(issue["number"]).state == "closed"
    assert "shipmate/drift/shop/dev" not in [b.name for b in box.repo("alice").get_branches()]  # merged: deleted
    main_after = box.repo("alice").get_contents("shop/dev/main.yaml", ref="main").decoded_content.decode()
    assert "LOG_LEVEL: info" in main_after and main_after.startswith(main_before.splitlines()[0])
    settings_after = box.repo("alice").get_contents("shop/dev/manifests/settings.yaml", ref="main")
    assert 'greeting: "adopted: by hand"' in settings_after.decoded_content.decode()
    assert greeting(box) == "adopted: by hand" and log_level(box) == "info"
