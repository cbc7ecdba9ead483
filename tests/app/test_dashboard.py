"""The dashboard's read model on the memory tier: the bot handles real events (a pull
request, `/apply`, a merge, a drift check) on the in-memory code host and state branch, and
`Dashboard` reads what they left there."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.adapters.localfs.datafiles import JsonRepositoryBook
from bot.adapters.queue.sqlite import SqliteQueue
from bot.app.dashboard import Dashboard, Invalid, NotFound
from bot.app.dashboard_values import to_json
from bot.app.services import Access
from bot.core.events import SweepLocks, delivery_of
from bot.core.release import Phase, Release
from bot.settings import Settings
from bot.wiring import Adapters, build_services
from tests.app.handlers.bench import REPO, Bench, app, object_id
from tests.app.handlers.conftest import installed  # noqa: F401  (the Memory runtime's entry point)
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "dashboard"
TIME = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"')
CHANGE = {"shop/dev/main.yaml": app(notes={"text": "changed"})}


@pytest.fixture
def bench(installed: None, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Bench]:  # noqa: F811
    from bot.adapters.memory.runtime import worlds

    made = Bench(tmp_path, request.node.nodeid)
    yield made
    worlds.forget(made.world_name)


def dashboard(bench: Bench, tmp_path: Path, queue: SqliteQueue | None = None) -> Dashboard:
    access = Access(bench.host, bench.memory.checkouts, bench.memory.backend)
    services = build_services(
        Settings.from_env({"SHIPMATE_DATA_DIR": str(tmp_path / "dash")}), {},
        adapters=Adapters(access_for=lambda repo, installation: access, reader=bench.memory.reader),
    )
    book = JsonRepositoryBook(tmp_path / "dash")
    book.remember(REPO, None)
    return Dashboard(replace(services, clock=bench.clock), book, queue)


def dump(value: object) -> str:
    """The value's JSON, with the times the bot's own clock wrote (the releases') shown as `<time>`."""
    return TIME.sub('"<time>"', json.dumps(to_json(value), indent=2, sort_keys=True) + "\n")


def test_overview_and_history_after_an_apply_and_a_merge(bench: Bench, tmp_path: Path) -> None:
    bench.push({"shop/prod/main.yaml": app(site={"text": "prod"})})
    pr = bench.open(CHANGE)
    bench.say("bob", pr, "/apply")
    board = dashboard(bench, tmp_path)

    held = board.overview([REPO])
    dev = held.repositories[0].projects[0].stacks[0]
    assert (dev.project, dev.workspace, dev.releases, dev.drift) == ("shop", "dev", 1, "unchecked")
    assert dev.latest is not None and dev.latest.phase == "succeeded" and dev.latest.pull_request == pr.number
    assert dev.lock is not None and dev.lock.pull_request == pr.number and not dev.lock.expired
    assert held.counts.locked == 1

    bench.merge(pr)
    assert bench.check_drift() is None
    seen = board.overview([REPO])
    assert_golden(GOLDEN / "overview.json", dump(seen))
    assert seen.counts.stacks == 2 and seen.counts.locked == 0
    assert seen.counts.releases == sum(len(bench.releases(s)) for s in ("dev", "prod"))

    history = board.history(REPO, "shop", "dev")
    assert_golden(GOLDEN / "history.json", dump(history))
    assert [r.revision for r in history.releases] == [r.revision for r in reversed(bench.releases("dev"))]


def test_filters_search_and_pages(bench: Bench, tmp_path: Path) -> None:
    bench.push({"shop/prod/main.yaml": app(site={"text": "prod"})})
    bench.merge(bench.open(CHANGE))
    bench.merge(bench.open({"shop/dev/main.yaml": app(notes={"text": "again"})}))
    board = dashboard(bench, tmp_path)

    def names(query: str = "", phase: str | None = None) -> list[str]:
        found = board.overview([REPO], query, phase)
        return [f"{s.project}/{s.workspace}" for r in found.repositories for p in r.projects for s in p.stacks]

    assert names() == ["shop/dev", "shop/prod"]
    assert names("PROD") == ["shop/prod"]
    assert names("acme/") == ["shop/dev", "shop/prod"]
    assert names("nothing") == []
    assert names(phase="succeeded") == ["shop/dev", "shop/prod"]
    assert names(phase="failed") == []
    with pytest.raises(Invalid):
        board.overview([REPO], phase="done")

    total = len(bench.releases("dev"))
    first = board.history(REPO, "shop", "dev", limit=1)
    assert first.total == total and [r.revision for r in first.releases] == [total]
    assert first.next_before == total
    rest = board.history(REPO, "shop", "dev", before=first.next_before, limit=50)
    assert [r.revision for r in rest.releases] == list(range(total - 1, 0, -1)) and rest.next_before is None
    with pytest.raises(NotFound):
        board.history(REPO, "shop", "staging")
    with pytest.raises(NotFound):
        board.history("acme/other", "shop", "dev")
    with pytest.raises(Invalid):
        board.history(REPO, "../etc", "dev")


def test_compare_two_revisions(bench: Bench, tmp_path: Path) -> None:
    bench.merge(bench.open(CHANGE))
    bench.merge(bench.open({"shop/dev/main.yaml": app(notes={"text": "again"})}))
    board = dashboard(bench, tmp_path)
    revisions = [r.revision for r in bench.releases("dev")]
    compared = board.compare(REPO, "shop", "dev", revisions[0], revisions[-1])
    assert_golden(GOLDEN / "compare.txt", compared.text)
    changed = [c["id"] for c in compared.diff["spec"]]
    assert changed == [object_id("notes")]
    with pytest.raises(NotFound):
        board.compare(REPO, "shop", "dev", 1, 99)


def test_unlock_is_recorded_like_release_unlock(bench: Bench, tmp_path: Path) -> None:
    pr = bench.open(CHANGE)
    bench.say("bob", pr, "/apply")
    board = dashboard(bench, tmp_path)
    assert [lock.pull_request for lock in board.locks([REPO])] == [pr.number]

    done = board.unlock(REPO, "shop", "dev", "carol")
    assert done.freed is not None and done.freed.pull_request == pr.number and done.failed_revision is None
    assert board.locks([REPO]) == ()
    assert bench.locks() == ()
    state = bench.memory.backend(REPO)
    assert state.store.commits[-1].message.startswith("unlock shop/dev by carol: lock of")  # type: ignore[attr-defined]
    again = board.unlock(REPO, "shop", "dev", "carol")
    assert again.freed is None and again.failed_revision is None


def test_an_interrupted_release_is_marked_failed_by_unlock(bench: Bench, tmp_path: Path) -> None:
    bench.merge(bench.open(CHANGE))
    state = bench.memory.backend(REPO)
    latest = state.latest("shop", "dev")
    assert latest is not None
    lock = state.acquire_lock("shop", "dev", "cli:alice@laptop", 600)
    state.create(Release.start("shop", "dev", "dev", latest=latest, now=bench.clock.now(), actor="alice",
                               phase=Phase.PREVIEWING), lock)  # the apply of a process that died
    board = dashboard(bench, tmp_path)
    assert board.overview([REPO]).counts.phases == {"previewing": 1}

    done = board.unlock(REPO, "shop", "dev", "carol")
    assert done.failed_revision == latest.revision + 1
    after = board.history(REPO, "shop", "dev", limit=1).releases[0]
    assert (after.phase, after.error) == ("failed", "unlocked by carol while previewing")


def test_drift_shows_the_drifted_resources(bench: Bench, tmp_path: Path) -> None:
    bench.push({"shop/prod/main.yaml": app(site={"text": "prod"})})
    sha = bench.merge(bench.open(CHANGE))
    board = dashboard(bench, tmp_path)
    assert board.drift([REPO]) == ()
    bench.world.objects[object_id("notes")] = {"text": "edited by hand"}
    assert bench.check_drift() is None
    found = {f"{d.project}/{d.workspace}": d for d in board.drift([REPO])}
    assert (found["shop/dev"].status, found["shop/prod"].status) == ("drifted", "in-sync")
    assert found["shop/dev"].commit == sha
    assert [(c.id, c.action) for c in found["shop/dev"].changes] == [(object_id("notes"), "Update")]
    fields = [(f.path, f.kind, f.before, f.after) for f in found["shop/dev"].changes[0].fields]
    assert ("text", "changed", '"edited by hand"', '"changed"') in fields, fields
    assert board.overview([REPO]).counts.drifted == 1


def test_open_pull_requests_and_their_locks(bench: Bench, tmp_path: Path) -> None:
    first = bench.open(CHANGE)
    second = bench.open({"shop/prod/main.yaml": app(site={"text": "other"})}, author="carol", branch="other")
    bench.say("bob", first, "/apply")
    board = dashboard(bench, tmp_path)
    pulls = {p.number: p for p in board.pulls([REPO])}
    assert sorted(pulls) == [first.number, second.number]
    assert [f"{lock.project}/{lock.workspace}" for lock in pulls[first.number].locks] == ["shop/dev"]
    assert pulls[second.number].locks == () and pulls[second.number].author == "carol"
    assert [(s.project, s.workspace, s.status, s.counts["create"]) for s in pulls[first.number].previews] == [
        ("shop", "dev", "changes", 1)]
    assert pulls[first.number].preview_commit == first.head_sha and pulls[first.number].preview_current
    assert [(s.workspace, s.status) for s in pulls[second.number].previews] == [("prod", "changes")]

    moved = bench.update(second, {"shop/prod/main.yaml": app(site={"text": "prod"})})
    stale = {p.number: p for p in board.pulls([REPO])}[second.number]  # the code host is asked again after 15 s
    assert stale.head_sha == second.head_sha and not stale.preview_current
    bench.clock.advance(15)
    again = {p.number: p for p in board.pulls([REPO])}[second.number]
    assert again.preview_commit == moved.head_sha and again.preview_current
    state = bench.memory.backend(REPO)
    assert [c.message for c in state.store.commits].count(  # type: ignore[attr-defined]
        f"preview of pull request #{second.number}: recorded") == 2  # one write per preview run


def test_a_preview_that_fails_is_recorded_masked(bench: Bench, tmp_path: Path) -> None:
    pr = bench.open({"shop/dev/main.yaml": "web: [not, an, app\n"})
    board = dashboard(bench, tmp_path)
    (found,) = board.pulls([REPO])
    assert [(s.workspace, s.status) for s in found.previews] == [("dev", "failed")]
    assert found.previews[0].error and found.number == pr.number


def test_queue_and_retry_of_a_dead_letter(bench: Bench, tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queue.sqlite", clock=bench.clock)
    board = dashboard(bench, tmp_path, queue)
    queue.put(delivery_of(SweepLocks(delivery_id="d-1", repo=REPO, installation_id=None), bench.clock.now()))
    queue.put(delivery_of(SweepLocks(delivery_id="d-2", repo="acme/other", installation_id=None), bench.clock.now()))
    job = queue.claim("worker-1", 60)
    assert job is not None
    queue.bury(job, "boom")
    jobs = board.queue(repos=[REPO])
    assert [(j.delivery_id, j.state, j.last_error, j.repo) for j in jobs] == [("d-1", "dead", "boom", REPO)]
    assert [j.delivery_id for j in board.queue(["pending"])] == ["d-2"]

    retried = board.retry(job.id, "carol")
    assert retried.new_id != job.id and board.job(retried.new_id).state == "pending"
    with pytest.raises(Invalid):
        board.retry(retried.new_id, "carol")
    with pytest.raises(NotFound):
        board.retry(999, "carol")
    with pytest.raises(Invalid):
        board.queue(["sleeping"])


def test_reads_are_cached_until_the_branch_moves(bench: Bench, tmp_path: Path) -> None:
    bench.merge(bench.open(CHANGE))
    board = dashboard(bench, tmp_path)
    first = board.overview([REPO])
    assert board.overview([REPO]) == first
    store = bench.memory.backend(REPO).store
    writes = len(store.commits)  # type: ignore[attr-defined]
    bench.merge(bench.open({"shop/dev/main.yaml": app(notes={"text": "again"})}))
    assert len(store.commits) > writes  # type: ignore[attr-defined]
    moved = board.overview([REPO])
    assert moved.counts.releases == first.counts.releases + 1


def test_to_json_is_plain_and_deterministic(bench: Bench, tmp_path: Path) -> None:
    bench.merge(bench.open(CHANGE))
    board = dashboard(bench, tmp_path)
    data = to_json(board.overview([REPO]))
    assert json.loads(json.dumps(data)) == data
    stack = data["repositories"][0]["projects"][0]["stacks"][0]
    assert set(stack["latest"]) >= {"revision", "phase", "trigger", "actor", "createTime", "commit", "pullRequestUrl"}
    assert dump(board.overview([REPO])) == dump(board.overview([REPO]))
