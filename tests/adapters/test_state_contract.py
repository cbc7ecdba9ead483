"""The StateBackend contract, run against every backend: the Git state branch (by path and by
URL), a directory, and memory. They share the core's rules (`bot.core.statebackend`), so each
test here must pass on each; the last ones check that memory holds byte for byte the files
the state branch holds after the same writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.adapters.gitstate import StoreBackend, git_backend, local_backend
from bot.adapters.memory import memory_backend
from bot.core.errors import ConfigError, StateConflict
from bot.core.lock import LockHeld, StaleLock
from bot.core.release import Phase, Release, ReleaseInProgress, ReleaseMeta, Trigger
from bot.core.spec import Spec, State
from tests.adapters.test_gitstate import T0, FakeClock, bare, git, res, start


@pytest.fixture(params=["path", "url", "local", "memory"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def open_kind(kind: str, tmp_path: Path, clock: FakeClock) -> StoreBackend:
    if kind == "local":
        return local_backend(tmp_path / "state", clock=clock)
    if kind == "memory":
        return memory_backend(clock)
    repo = bare(tmp_path)
    target = str(repo) if kind == "path" else f"file://{repo}"
    return git_backend(target, data_dir=tmp_path / "cache", clock=clock)


@pytest.fixture
def backend(kind: str, tmp_path: Path, clock: FakeClock) -> Iterator[StoreBackend]:
    made = open_kind(kind, tmp_path, clock)
    yield made
    made.close()


def test_an_apply_lifecycle_under_a_lock(backend: StoreBackend, clock: FakeClock):
    assert backend.latest("shop", "prod") is None
    lock = backend.acquire_lock("shop", "prod", "pr-12", 600, pull_request=12, run_id="r1")
    release = backend.create(start(backend, trigger=Trigger.COMMENT, actor="alice", pull_request=12), lock)
    assert release.revision == 1
    release = backend.update(release.with_phase(Phase.PREVIEWING, T0).with_spec(
        Spec((res(1), res(2))), T0), lock)
    release = backend.update(release.with_phase(Phase.APPLYING, T0), lock)
    for i in (1, 2):
        release = backend.update(release.with_state(State.of([*release.state.resources, res(i)]), T0), lock)
        assert backend.latest("shop", "prod") == release  # flushed after every operation
    done = backend.finish(release.succeeded(T0), lock)
    assert backend.latest("shop", "prod") == done
    assert backend.list_locks() == ()
    assert backend.release_lock(lock) is False  # already freed by finish

    second = backend.create(start(backend))
    assert (second.revision, second.state) == (2, done.state)
    assert [r.revision for r in backend.list("shop", "prod")] == [1, 2]
    assert backend.get("shop", "prod", 1) == done
    assert backend.get("shop", "prod", 3) is None
    assert backend.index("shop", "prod") == ReleaseMeta().append(1, "prod").append(2, "prod")
    snap = backend.store.snapshot()
    assert (snap.list_dir("releases"), snap.list_dir("releases/shop")) == (("shop",), ("prod",))
    assert snap.list_dir("releases/shop/prod") == (".metadata.yml", "1.yaml", "2.yaml")


def test_the_latest_of_many_stacks_reads_one_snapshot(backend: StoreBackend):
    lock = backend.acquire_lock("shop", "prod", "pr-12", 600)
    done = backend.finish(backend.create(start(backend, phase=Phase.PREVIEWING), lock).succeeded(T0), lock)
    keys = [("shop", "prod"), ("shop", "dev"), ("data", "prod")]
    assert backend.latest_many(keys) == {("shop", "prod"): done, ("shop", "dev"): None, ("data", "prod"): None}
    assert backend.latest_many(keys) == {key: backend.latest(*key) for key in keys}
    with pytest.raises(ConfigError, match="not a valid"):
        backend.latest_many([("shop", "../x")])


def test_a_new_release_waits_for_the_running_one(backend: StoreBackend):
    running = backend.create(start(backend, phase=Phase.PREVIEWING))
    backend.update(running.with_phase(Phase.APPLYING, T0))
    with pytest.raises(ReleaseInProgress, match=r"r1 \(stack prod\) is still applying"):
        backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0))
    assert backend.index("shop", "prod").latest_revision == 1


def test_terminal_releases_never_change_and_updates_must_match(backend: StoreBackend):
    done = backend.create(start(backend, phase=Phase.SUCCEEDED))
    with pytest.raises(StateConflict, match="already succeeded"):
        backend.update(done)
    with pytest.raises(StateConflict, match="there is no release shop/prod r7"):
        backend.update(start(backend).with_revision(7))
    running = backend.create(start(backend))
    imposter = Release.start("shop", "prod", "other", latest=None, now=T0 + timedelta(days=1))
    with pytest.raises(StateConflict, match="is a different release"):
        backend.update(imposter.with_revision(running.revision))
    with pytest.raises(StateConflict, match="finish needs a succeeded or failed release"):
        backend.finish(running, None)


def test_locks_conflict_expire_and_fence_stale_holders(backend: StoreBackend, clock: FakeClock):
    first = backend.acquire_lock("shop", "prod", "runner-1", 30, run_id="42")
    with pytest.raises(LockHeld, match=r"shop/prod is locked by runner-1 \(run 42\) until "
                       r"2024-05-01T12:00:30Z \(token 1\)"):
        backend.acquire_lock("shop", "prod", "runner-2", 30)
    release = backend.create(start(backend, phase=Phase.PREVIEWING), first)
    with pytest.raises(LockHeld):
        backend.update(release.with_phase(Phase.APPLYING, T0))  # no lock while one is held
    clock.advance(31)
    second = backend.acquire_lock("shop", "prod", "runner-2", 30)
    assert second.token == 2
    before = backend.get("shop", "prod", 1)
    with pytest.raises(StaleLock, match="token 1 .* now held by runner-2"):
        backend.update(release.with_phase(Phase.APPLYING, T0), first)
    with pytest.raises(StaleLock):
        backend.renew_lock(first, 30)
    assert backend.get("shop", "prod", 1) == before
    renewed = backend.renew_lock(second, 300)
    assert renewed.expire_time == clock.now() + timedelta(seconds=300)
    assert backend.list_locks() == (renewed,)
    assert backend.release_lock(second) is True
    assert backend.list_locks() == ()
    assert backend.acquire_lock("shop", "prod", "runner-3", 30).token == 3


def test_force_unlock_fails_the_interrupted_release_keeps_its_state_and_frees_the_lock(
    backend: StoreBackend,
):
    lock = backend.acquire_lock("shop", "prod", "pr-3", 600, pull_request=3)
    running = backend.create(start(backend, phase=Phase.PREVIEWING), lock)
    running = backend.update(running.with_phase(Phase.APPLYING, T0), lock)
    running = backend.update(running.with_state(State.of([res(1)]), T0), lock)
    done = backend.force_unlock("shop", "prod", actor="ops")
    assert done.lock == lock
    assert done.release is not None and done.release.phase == Phase.FAILED
    assert done.release.error == "unlocked by ops while applying"
    assert backend.latest("shop", "prod") == done.release
    assert backend.list_locks() == ()
    nxt = backend.create(start(backend))
    assert nxt.revision == 2 and nxt.state == State.of([res(1)])
    with pytest.raises(StaleLock):
        backend.update(running, lock)
    backend.update(nxt.failed(T0, "generation failed"))
    assert backend.force_unlock("shop", "prod").release is None  # nothing left to do


def test_pull_request_locks_and_expired_locks_are_swept(backend: StoreBackend, clock: FakeClock):
    a = backend.acquire_lock("shop", "prod", "pr-5", 60, pull_request=5)
    b = backend.acquire_lock("shop", "dev", "pr-5", 600, pull_request=5)
    c = backend.acquire_lock("blog", "prod", "pr-6", 60, pull_request=6)
    assert backend.list_locks() == (c, b, a)
    assert backend.release_pull_request_locks(5) == (b, a)
    assert backend.list_locks() == (c,)
    clock.advance(61)
    assert backend.sweep_expired_locks() == (c,)
    assert backend.sweep_expired_locks() == ()
    snap = backend.store.snapshot()  # the lock records stay, freed, so tokens keep growing
    assert (snap.list_dir("locks/blog"), snap.list_dir("locks/shop")) == (("prod.yaml",), ("dev.yaml", "prod.yaml"))


def test_drift_reports(backend: StoreBackend):
    assert backend.store.snapshot().read("drift/shop/prod.yaml") is None
    backend.write_drift("shop", "prod", {"checked": "2024-05-01T12:00:00Z", "drifted": ["v1:ConfigMap:shop:c1"]})
    assert backend.store.snapshot().read("drift/shop/prod.yaml") == (
        b"checked: '2024-05-01T12:00:00Z'\ndrifted:\n- v1:ConfigMap:shop:c1\n"
    )


def test_bad_names_never_become_paths(backend: StoreBackend):
    with pytest.raises(ConfigError, match=r"project: '\.\./x' is not a valid project name"):
        backend.latest("../x", "prod")
    with pytest.raises(ConfigError, match="workspace"):
        backend.acquire_lock("shop", "a/b", "me", 5)


def story(backend: StoreBackend, clock: FakeClock) -> None:
    """Every kind of write: releases through their phases, locks taken, renewed, fenced,
    swept and forced, drift."""
    lock = backend.acquire_lock("shop", "prod", "pr-12", 600, pull_request=12, run_id="r1")
    release = backend.create(start(backend, trigger=Trigger.COMMENT, actor="alice", pull_request=12), lock)
    release = backend.update(release.with_phase(Phase.PREVIEWING, T0).with_spec(Spec((res(1), res(2))), T0), lock)
    release = backend.update(release.with_phase(Phase.APPLYING, T0), lock)
    release = backend.update(release.with_state(State.of([res(1)]), T0), lock)
    backend.finish(release.succeeded(T0), lock)
    other = backend.acquire_lock("shop", "dev", "runner", 30)
    backend.renew_lock(other, 60)
    clock.advance(61)
    backend.sweep_expired_locks()
    held = backend.acquire_lock("shop", "prod", "pr-13", 600, pull_request=13)
    backend.create(start(backend, phase=Phase.PREVIEWING), held)
    backend.force_unlock("shop", "prod", actor="ops")
    backend.write_drift("shop", "prod", {"checked": "2024-05-01T12:00:00Z", "drifted": [res(1).id]})


def files(backend: StoreBackend, top: str = "") -> dict[str, bytes]:
    snap = backend.store.snapshot()
    out: dict[str, bytes] = {}
    for name in snap.list_dir(top) if top else ("releases", "locks", "drift"):
        path = f"{top}/{name}" if top else name
        data = snap.read(path)
        if data is not None:
            out[path] = data
        else:
            out.update(files(backend, path))
    return out


def test_memory_holds_the_files_the_state_branch_holds(tmp_path: Path) -> None:
    git_clock, memory_clock = FakeClock(), FakeClock()
    with git_backend(str(bare(tmp_path)), clock=git_clock) as on_git:
        story(on_git, git_clock)
        branch = files(on_git)
    on_memory = memory_backend(memory_clock)
    story(on_memory, memory_clock)
    assert files(on_memory) == branch
    assert len(branch) == 6  # two releases and their index, two lock records, one drift record


def test_memory_keeps_one_commit_per_write_with_the_branchs_messages(tmp_path: Path) -> None:
    git_clock, memory_clock = FakeClock(), FakeClock()
    repo = bare(tmp_path)
    with git_backend(str(repo), clock=git_clock) as on_git:
        story(on_git, git_clock)
    messages = git(repo, "log", "--format=%B%x00", "shipmate-state").split("\x00")
    on_git_messages = [m.strip() for m in reversed(messages) if m.strip()]
    on_memory = memory_backend(memory_clock)
    story(on_memory, memory_clock)
    assert [c.message for c in on_memory.store.commits] == on_git_messages  # type: ignore[attr-defined]


def test_memory_reads_a_consistent_snapshot_while_writes_go_on() -> None:
    clock = FakeClock()
    backend = memory_backend(clock)
    backend.create(start(backend, phase=Phase.SUCCEEDED))
    before = backend.store.snapshot()
    backend.create(start(backend, phase=Phase.SUCCEEDED))
    assert before.list_dir("releases/shop/prod") == (".metadata.yml", "1.yaml")
    assert backend.store.snapshot().list_dir("releases/shop/prod") == (".metadata.yml", "1.yaml", "2.yaml")
    assert before.label("releases/shop/prod/1.yaml") == "shipmate-state:releases/shop/prod/1.yaml"


def test_the_lock_queue_is_first_in_first_out_beside_the_lock(backend: StoreBackend, clock: FakeClock) -> None:
    from datetime import timedelta

    from bot.core.lockqueue import Waiting

    def waiting(number: int, hours: float = 24) -> Waiting:
        return Waiting(number, f"user{number}", 4000 + number, clock.now(), clock.now() + timedelta(hours=hours))

    held = backend.acquire_lock("shop", "dev", "pr:acme/config#1", 3600, pull_request=1)
    assert backend.join_queue("shop", "dev", waiting(2)) == 1
    assert backend.join_queue("shop", "dev", waiting(3, hours=1)) == 2
    assert backend.join_queue("shop", "dev", waiting(4)) == 3
    assert backend.join_queue("shop", "dev", waiting(2)) == 1  # asking again keeps the place
    assert backend.next_in_queue("shop", "dev") is None  # the lock is still held
    assert backend.leave_queues(4) == ("shop/dev",) and backend.leave_queues(4) == ()
    assert backend.release_lock(held)
    first = backend.next_in_queue("shop", "dev")
    assert first is not None and (first.pull_request, first.actor, first.comment_id) == (2, "user2", 4002)
    clock.advance(2 * 3600)  # #3's entry expired meanwhile
    assert backend.next_in_queue("shop", "dev") is None
    assert backend.queue("shop", "dev").waiting == ()
