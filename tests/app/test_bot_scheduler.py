"""The scheduler's jobs: polling into the queue, drift checks, lock sweeps, cron schedules.

Jobs are run one round at a time (`Scheduler.run_*`) against the sandbox's GitHub and
Kubernetes simulators; the queue is the real SQLite one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace as evolve
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kubernetes import client, config

from bot.adapters.clock import SystemClock
from bot.adapters.gitstate import git_backend
from bot.adapters.localfs.datafiles import JsonRepositoryBook
from bot.adapters.queue.sqlite import SqliteQueue
from bot.app.drift import check_drift
from bot.app.locks import sweep_locks
from bot.app.polling import poll_repository
from bot.app.workers import WorkerPool
from bot.cli.sandbox import REPO, Sandbox, git
from bot.core.events import PullRequestEvent, PushEvent
from bot.core.yamlio import load_data
from bot.scheduler import Scheduler
from tests.conftest import ManualClock
from tests.e2e.world import bodies, comment, open_pr, push_branch, replace, statuses

pytestmark = pytest.mark.e2e

PROD = "shop/prod/main.yaml"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with Sandbox.start(tmp_path_factory.mktemp("jobs"), serve=False) as sandbox:
        yield sandbox


def backend(box: Sandbox, tmp: Path):  # type: ignore[no-untyped-def]
    return git_backend(box.state_url(), "shipmate-state", data_dir=tmp)


def test_polling_turns_changes_into_typed_events(box: Sandbox) -> None:
    host = box.services.access(REPO).host
    pr = open_pr(box, "bob", {"docs/poll.md": "poll\n"}, title="Polled")
    box.skip()  # as if the repository had no webhook
    first = poll_repository(host, REPO, {}, NOW)
    events = [d.parsed for d in first.deliveries]  # typed events, no JSON round trip
    assert [(type(e).__name__, getattr(e, "action", None)) for e in events] == [("PullRequestEvent", "opened")]
    opened = events[0]
    assert isinstance(opened, PullRequestEvent)
    assert (opened.number, opened.head_sha, opened.author, opened.is_fork) == (pr.number, pr.head.sha, "bob", False)
    assert poll_repository(host, REPO, first.seen, NOW).deliveries == ()

    work = box.clone("alice", box.root / "clones" / "alice-poll")
    (work / "docs").mkdir(exist_ok=True)
    (work / "docs/direct.md").write_text("direct\n")
    git("add", "-A", cwd=work)
    git("commit", "-qm", "Direct push", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    box.skip()
    second = poll_repository(host, REPO, first.seen, NOW)
    events = [d.parsed for d in second.deliveries]
    push, closed = events
    assert isinstance(push, PushEvent) and push.to_default_branch
    assert (push.before, push.after) == (first.seen["branch:main"], git("rev-parse", "HEAD", cwd=work))
    assert isinstance(closed, PullRequestEvent) and (closed.action, closed.number, closed.merged) == ("closed", pr.number, False)
    # The same change polled again has the same delivery IDs: the queue drops it.
    assert [d.id for d in poll_repository(host, REPO, first.seen, NOW).deliveries] == [d.id for d in second.deliveries]
    assert poll_repository(host, REPO, second.seen, NOW).deliveries == ()
    # Routed like a webhook: the closed event frees nothing and says nothing (no locks held).
    for delivery in second.deliveries[1:]:
        box.bot.handler(delivery)
    assert bodies(box, pr.number) == []


def test_the_poll_job_queues_once_and_remembers(box: Sandbox, tmp_path: Path) -> None:
    queue = SqliteQueue.in_data_dir(tmp_path)
    book = JsonRepositoryBook(tmp_path)
    jobs = Scheduler(box.services, queue, tmp_path, book, poll_repositories=[REPO])
    try:
        pr = open_pr(box, "bob", {"docs/queue.md": "q\n"}, title="Queued")
        box.skip()
        assert jobs.run_poll() == 1
        assert jobs.run_poll() == 0
        seen = json.loads((tmp_path / "poll-state.json").read_text())[REPO]
        assert seen[f"pr:{pr.number}"] == pr.head.sha
        job = queue.claim("w1", 30)
        assert job is not None and job.delivery.parsed.number == pr.number  # type: ignore[union-attr]
        box.repo("bob").get_pull(pr.number).edit(state="closed")
        box.skip()
    finally:
        queue.close()


def test_drift_is_recorded_and_reported(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {PROD: replace("LOG_LEVEL: info", "LOG_LEVEL: notice")}, title="Prod logs")
    box.dispatch()
    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE")
    merged = box.repo("alice").get_pull(pr.number).merge()
    box.dispatch()  # the merge is applied
    assert "✅ 1 succeeded" in bodies(box, pr.number)[-1]
    clean = check_drift(box.services, REPO)
    assert (clean.commit, clean.checked, clean.drifted) == (merged.sha, ("shop/prod",), ())
    assert statuses(box, merged.sha)["shipmate/drift"] == ("success", "no drift in 1 stack")

    api = config.new_client_from_config(str(box.kubeconfig))
    try:
        client.AppsV1Api(api).patch_namespaced_deployment(
            "shop-prod-web", "shop-prod", {"spec": {"replicas": 7}})
    finally:
        api.close()
    drifted = check_drift(box.services, REPO)
    assert drifted.drifted == ("shop/prod",)
    assert statuses(box, merged.sha)["shipmate/drift"] == ("failure", "drift in 1 of 1 stacks: shop/prod")
    with backend(box, tmp_path / "s") as state:
        text = state.store.snapshot().read("drift/shop/prod.yaml")
    assert text is not None
    report = load_data("drift/shop/prod.yaml", text.decode())
    assert report["drifted"] is True and report["commit"] == merged.sha
    assert {"id": "apps/v1:Deployment:shop-prod:shop-prod-web", "action": "Update"} in report["changes"]


def test_the_drift_job_runs_when_the_schedule_comes_due(box: Sandbox, tmp_path: Path) -> None:
    queue = SqliteQueue.in_data_dir(tmp_path)
    book = JsonRepositoryBook(tmp_path)
    book.remember(REPO, None)
    jobs = Scheduler(box.services, queue, tmp_path, book)
    try:
        assert jobs.run_drift() == []  # first sight: remembered, next fire time counts from now
        state_file = tmp_path / "drift-state.json"
        assert REPO in json.loads(state_file.read_text())
        state_file.write_text(json.dumps({REPO: "2026-01-01T00:00:00Z"}))
        assert jobs.run_drift() == [REPO]  # acme's "0 6 * * *" came due since then
        assert jobs.run_drift() == []
    finally:
        queue.close()


def test_scheduled_jobs_are_queued_once_across_replicas_and_run_by_the_workers(box: Sandbox, tmp_path: Path) -> None:
    # Two replicas share one queue; each remembers on its own disk. Their jobs only enqueue:
    # the sweep and the drift check run on a worker, through the router, like any delivery.
    queue = SqliteQueue.in_data_dir(tmp_path / "shared")
    clock = ManualClock(NOW.isoformat())
    replicas = []
    for name in ("a", "b"):
        book = JsonRepositoryBook(tmp_path / name)
        book.remember(REPO, None)
        (tmp_path / name / "drift-state.json").write_text(json.dumps({REPO: "2026-01-01T00:00:00Z"}))
        replicas.append(Scheduler(box.services, queue, tmp_path / name, book, clock=clock))
    host = box.services.access(REPO).host
    head = host.branch_head(REPO, "main")
    host.set_status(REPO, head, "shipmate/drift", "pending", "not checked yet")
    try:
        assert replicas[0].run_drift() == [REPO]
        assert replicas[1].run_drift() == []  # the same fire time (06:00 today): the queue keeps one
        assert replicas[0].run_lock_sweep() == 1
        assert replicas[1].run_lock_sweep() == 0  # the same five-minute slot
        queued = queue.jobs(["pending"])
        assert [(r.event, r.key) for r in queued] == [("check_drift", REPO.lower()), ("sweep_locks", REPO.lower())]
        assert queued[0].delivery_id == f"drift:{REPO}:2026-03-02T06:00:00Z"
        assert statuses(box, head)["shipmate/drift"] == ("pending", "not checked yet")  # nothing ran yet
        pool = WorkerPool(queue, box.bot.handler, clock=SystemClock())
        while (job := queue.claim("w1", 60)) is not None:
            pool.run(job)
        assert (queue.stats().done, queue.stats().dead, queue.stats().failed) == (2, 0, 0)
        assert statuses(box, head)["shipmate/drift"][0] in ("success", "failure")  # the worker checked drift
    finally:
        queue.close()


def test_drift_and_lock_sweeps_read_the_policy_branch(box: Sandbox, tmp_path: Path) -> None:
    # With SHIPMATE_POLICY_BRANCH, the scheduled jobs trust that branch's shipmate.yaml, as the
    # handlers do: the default branch's schedule and state branch are not consulted.
    no_schedule = push_branch(box, "alice", {"shipmate.yaml": replace('drift:\n  schedule: "0 6 * * *"\n', "")},
                              message="Policy without a drift schedule")
    invalid = push_branch(box, "alice", {"shipmate.yaml": "backend: [\n"}, message="A broken policy")
    services = evolve(box.services, policy_branch=no_schedule)
    queue = SqliteQueue.in_data_dir(tmp_path)
    book = JsonRepositoryBook(tmp_path)
    book.remember(REPO, None)
    jobs = Scheduler(services, queue, tmp_path, book)
    try:
        (tmp_path / "drift-state.json").write_text(json.dumps({REPO: "2026-01-01T00:00:00Z"}))
        assert jobs.run_drift() == []  # the default branch's "0 6 * * *" is not the policy's
    finally:
        queue.close()
    broken = evolve(box.services, policy_branch=invalid)
    assert check_drift(broken, REPO).failed == ("shipmate.yaml",)
    assert sweep_locks(broken, REPO).expired == ()  # an unreadable policy: the defaults free locks


def test_locks_of_closed_pull_requests_and_expired_leases_are_swept(box: Sandbox, tmp_path: Path) -> None:
    pr = open_pr(box, "bob", {PROD: replace("LOG_LEVEL: notice", "LOG_LEVEL: error")}, title="Quieter prod")
    box.dispatch()
    box.repo("alice").get_pull(pr.number).create_review(event="APPROVE")
    asked = comment(box, "alice", pr.number, "/apply")
    box.dispatch()
    assert "✅ 1 succeeded" in bodies(box, pr.number, after=asked.id)[0]
    box.repo("bob").get_pull(pr.number).edit(state="closed")
    assert box.skip() >= 1  # the close event is lost
    with backend(box, tmp_path / "a") as state:
        assert [lock.pull_request for lock in state.list_locks()] == [pr.number]
        short = state.acquire_lock("data", "dev", "push:acme/config@0123456789ab", 0.001)
    first = sweep_locks(box.services, REPO, grace=timedelta(hours=1))
    assert [lock.key for lock in first.expired] == [short.key]
    assert first.closed == ()  # the closed pull request's lock is still in its grace period
    swept = sweep_locks(box.services, REPO, grace=timedelta(0))
    assert swept.expired == () and [lock.key for lock in swept.closed] == ["shop/prod"]
    assert bodies(box, pr.number)[-1].endswith(
        f"The pull request is closed; released:\n\n- `shop/prod` (held by `pr:{REPO}#{pr.number}`)\n")
    with backend(box, tmp_path / "b") as state:
        assert state.list_locks() == ()


def test_serve_runs_the_scheduler_unless_disabled(tmp_path: Path) -> None:
    from bot.cli.serve import build_server
    from bot.settings import Settings

    settings = Settings.from_env({"SHIPMATE_WEBHOOK_SECRET": "s", "GITHUB_TOKEN": "t",
                                  "GITHUB_API_URL": "http://127.0.0.1:9/api/v3", "SHIPMATE_LISTEN": "127.0.0.1:0",
                                  "SHIPMATE_DATA_DIR": str(tmp_path), "SHIPMATE_POLL_REPOSITORIES": REPO,
                                  "SHIPMATE_POLL_SECONDS": "3600"})
    for enabled in (True, False):
        server = build_server(settings, {}, scheduler=enabled)
        try:
            assert (server.scheduler is not None) is enabled
            if server.scheduler is not None:
                server.scheduler.start()
                assert server.scheduler.job_ids() == ["drift", "locks", "poll"]
                server.scheduler.shutdown()
        finally:
            server.http.server_close()
            server.queue.close()
    no_github = build_server(Settings.from_env({"SHIPMATE_WEBHOOK_SECRET": "s", "SHIPMATE_LISTEN": "127.0.0.1:0",
                                                "SHIPMATE_DATA_DIR": str(tmp_path / "plain")}), {})
    try:
        assert no_github.scheduler is None
    finally:
        no_github.http.server_close()
        no_github.queue.close()


def test_the_scheduler_settings() -> None:
    from bot.core.errors import ConfigError
    from bot.settings import Settings

    s = Settings.from_env({"SHIPMATE_POLL_REPOSITORIES": "acme/config, acme/other", "SHIPMATE_POLL_SECONDS": "30",
                           "SHIPMATE_GITHUB_THROTTLE": "off"})
    assert (s.poll.repositories, s.poll.seconds, s.github.throttle) == (("acme/config", "acme/other"), 30.0, False)
    assert Settings.from_env({}).github.throttle is True
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"SHIPMATE_POLL_REPOSITORIES": "acme/*", "SHIPMATE_POLL_SECONDS": "0",
                           "SHIPMATE_GITHUB_THROTTLE": "maybe"})
    assert str(caught.value).split("\n") == [
        "environment: SHIPMATE_POLL_REPOSITORIES: expected owner/name (no globs), got acme/*",
        "environment: SHIPMATE_POLL_SECONDS: must be between 1 and 86400 seconds, got 0",
        "environment: SHIPMATE_GITHUB_THROTTLE: must be true or false, got 'maybe'",
    ]
