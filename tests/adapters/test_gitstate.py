"""State backends on real git repositories and directories: releases, locks, bad input."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.gitstate import StoreBackend, git_backend, local_backend, open_backend
from bot.core.errors import ConfigError, StateConflict, TransientError
from bot.core.lock import LockHeld, StaleLock
from bot.core.release import Phase, Release, ReleaseInProgress, ReleaseMeta, Trigger
from bot.core.spec import Resource, Spec, State

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
BRANCH = "shipmate-state"


class FakeClock:
    def __init__(self) -> None:
        self.moment = T0

    def now(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def bare(tmp_path: Path, name: str = "config.git") -> Path:
    path = tmp_path / name
    subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True)
    return path


def res(i: int) -> Resource:
    return Resource(f"v1:ConfigMap:shop:c{i}", "Kubernetes",
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"c{i}"},
                     "data": {"n": str(i)}})


@pytest.fixture(params=["path", "url", "local"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend(kind: str, tmp_path: Path, clock: FakeClock) -> Iterator[StoreBackend]:
    if kind == "local":
        made = local_backend(tmp_path / "state", clock=clock)
    else:
        repo = bare(tmp_path)
        target = str(repo) if kind == "path" else f"file://{repo}"
        made = git_backend(target, data_dir=tmp_path / "cache", clock=clock)
    yield made
    made.close()


def start(backend: StoreBackend, **kw: object) -> Release:
    latest = backend.latest("shop", "prod")
    return Release.start("shop", "prod", "prod", latest=latest, now=T0, **kw)  # type: ignore[arg-type]


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


# --- the git branch itself ------------------------------------------------------------------


def test_the_branch_is_kusion_layout_one_commit_per_write(tmp_path: Path, clock: FakeClock):
    repo = bare(tmp_path)
    with git_backend(str(repo), clock=clock) as backend:
        lock = backend.acquire_lock("shop", "prod", "pr-12", 600, pull_request=12)
        release = backend.create(start(backend, actor="alice", pull_request=12,
                                       trigger=Trigger.COMMENT, phase=Phase.PREVIEWING), lock)
        release = backend.update(release.with_phase(Phase.APPLYING, T0), lock)
        release = backend.update(release.with_state(State.of([res(1)]), T0), lock)
        backend.finish(release.succeeded(T0), lock)
    assert git(repo, "ls-tree", "-r", "--name-only", BRANCH).split() == [
        "README.md", "locks/shop/prod.yaml", "releases/shop/prod/.metadata.yml",
        "releases/shop/prod/1.yaml",
    ]
    assert git(repo, "log", "--format=%s", BRANCH).splitlines() == [
        "release shop/prod r1: succeeded (stack prod, 1 resources in state); lock released by pr-12",
        "release shop/prod r1: applying (stack prod, 1 resources in state)",
        "release shop/prod r1: applying (stack prod, 0 resources in state)",
        "release shop/prod r1: previewing (stack prod, 0 resources in state, trigger comment, "
        "by alice, PR #12)",
        "lock shop/prod: acquired by pr-12 (pull request #12) (token 1, until 2024-05-01T12:10:00Z)",
    ]
    assert git(repo, "rev-list", "--max-parents=0", BRANCH).count("\n") == 1  # orphan, one root
    assert git(repo, "show", f"{BRANCH}:releases/shop/prod/.metadata.yml") == (
        "latestRevision: 1\nreleaseMetaDatas:\n- revision: 1\n  stack: prod\n"
    )
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def corrupt(repo: Path, path: str, content: str, tmp_path: Path) -> str:
    """Commit `content` at `path` on the state branch the way a careless person would."""
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "--quiet", "--branch", BRANCH, str(repo), str(work)], check=True)
    (work / path).write_text(content)
    git(work, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-am", "hand edit")
    git(work, "push", "--quiet", "origin", BRANCH)
    return git(repo, "rev-parse", BRANCH).strip()


def test_corrupt_release_yaml_on_the_branch_is_reported_and_nothing_changes(tmp_path: Path):
    repo = bare(tmp_path)
    with git_backend(str(repo)) as backend:
        backend.create(start(backend, phase=Phase.SUCCEEDED))
        backend.create(start(backend, phase=Phase.SUCCEEDED))
    tip = corrupt(repo, "releases/shop/prod/2.yaml", "project: shop\nphase: [oops\n", tmp_path)
    for target in (str(repo), f"file://{repo}"):
        with git_backend(target, data_dir=tmp_path / "cache") as backend:
            with pytest.raises(ConfigError, match=r"shipmate-state:releases/shop/prod/2\.yaml:3:1: "
                               r"not valid YAML"):
                backend.latest("shop", "prod")
            with pytest.raises(ConfigError, match=r"releases/shop/prod/2\.yaml"):
                backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0))
            assert backend.get("shop", "prod", 1) is not None  # other revisions still read
    assert git(repo, "rev-parse", BRANCH).strip() == tip


def test_a_release_file_that_holds_another_revision_is_reported(tmp_path: Path):
    repo = bare(tmp_path)
    with git_backend(str(repo)) as backend:
        backend.create(start(backend, phase=Phase.SUCCEEDED))
        backend.create(start(backend, phase=Phase.SUCCEEDED))
    text = git(repo, "show", f"{BRANCH}:releases/shop/prod/1.yaml")
    corrupt(repo, "releases/shop/prod/2.yaml", text, tmp_path)
    with git_backend(str(repo)) as backend:
        with pytest.raises(ConfigError, match=r"2\.yaml: revision: holds shop/prod r1, expected shop/prod r2"):
            backend.latest("shop", "prod")


def test_a_branch_with_unrelated_history_is_refused_and_left_alone(tmp_path: Path):
    repo = bare(tmp_path)
    work = tmp_path / "app"
    subprocess.run(["git", "init", "--quiet", "-b", BRANCH, str(work)], check=True)
    (work / "project.yaml").write_text("name: shop\n")
    (work / "releases").write_text("not a directory\n")
    git(work, "add", ".")
    git(work, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-m", "app")
    git(work, "push", "--quiet", str(repo), BRANCH)
    tip = git(repo, "rev-parse", BRANCH)
    for target in (str(repo), f"file://{repo}"):
        with git_backend(target, data_dir=tmp_path / "cache") as backend:
            with pytest.raises(ConfigError, match=r"branch shipmate-state of .* is not a Shipmate "
                               r"state branch: its root holds project.yaml, releases \(expected only "
                               r"README.md, releases/, locks/, drift/\)"):
                backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0))
            with pytest.raises(ConfigError, match="not a Shipmate state branch"):
                backend.latest("shop", "prod")
            with pytest.raises(ConfigError, match="not a Shipmate state branch"):
                backend.acquire_lock("shop", "prod", "me", 60)
    assert git(repo, "rev-parse", BRANCH) == tip
    # Another branch of the same repository works.
    with open_backend(f"git:{repo}#state") as backend:
        assert backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0)).revision == 1
    assert git(repo, "rev-parse", BRANCH) == tip


def test_a_lock_held_by_someone_else_changes_nothing(tmp_path: Path):
    repo = bare(tmp_path)
    with git_backend(str(repo)) as backend:
        backend.acquire_lock("shop", "prod", "pr-1", 600, pull_request=1)
        tip = git(repo, "rev-parse", BRANCH)
        with pytest.raises(LockHeld, match=r"locked by pr-1 \(pull request #1\) until .*Z \(token 1\)"):
            backend.acquire_lock("shop", "prod", "pr-2", 600, pull_request=2)
        with pytest.raises(LockHeld):
            backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0))
        assert git(repo, "rev-parse", BRANCH) == tip


def test_not_a_repository_and_bad_backend_specs(tmp_path: Path):
    with pytest.raises(ConfigError, match="is not a git repository"):
        git_backend(str(tmp_path))
    with pytest.raises(ConfigError, match="--backend: 's3:bucket' is not a backend"):
        open_backend("s3:bucket")
    with pytest.raises(ConfigError, match="is not a branch name"):
        git_backend(str(bare(tmp_path)), "bad..name")


def test_credentials_never_show_in_errors(tmp_path: Path):
    backend = git_backend("http://user:s3cr3t-token@127.0.0.1:9/config.git", data_dir=tmp_path)
    with pytest.raises(TransientError) as caught:  # unreachable: the job is tried again later
        backend.latest("shop", "prod")
    assert "cannot fetch branch shipmate-state of http://127.0.0.1:9/config.git" in str(caught.value)
    assert "s3cr3t" not in str(caught.value) and "s3cr3t" not in backend.description
    backend.close()


def test_the_state_branch_of_a_work_tree_repository(tmp_path: Path):
    work = tmp_path / "config"
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(work)], check=True)
    (work / "README.md").write_text("config\n")
    git(work, "add", ".")
    git(work, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-m", "init")
    with git_backend(str(work)) as backend:
        backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0, phase=Phase.SUCCEEDED))
    assert git(work, "status", "--porcelain") == ""  # the work tree and index are untouched
    assert git(work, "ls-tree", "--name-only", BRANCH).split() == ["README.md", "releases"]
    with pytest.raises(ConfigError, match="main is checked out here"):
        git_backend(str(work), "main")


def test_a_kusion_local_backend_directory_reads(tmp_path: Path):
    home = tmp_path / "kusion"
    (home / "releases" / "quickstart" / "default").mkdir(parents=True)
    (home / "workspaces").mkdir()
    (home / "workspaces" / ".metadata.yml").write_text("current: default\n")
    (home / "releases" / "quickstart" / "default" / ".metadata.yml").write_text(
        "latestRevision: 1\nreleaseMetaDatas:\n    - revision: 1\n      stack: default\n")
    (home / "releases" / "quickstart" / "default" / "1.yaml").write_text(
        "project: quickstart\nworkspace: default\nrevision: 1\nstack: default\n"
        "spec:\n    resources: []\nstate:\n    resources: []\nphase: succeeded\n"
        "createTime: 2024-03-01T10:00:00+08:00\nmodifiedTime: 2024-03-01T10:00:05+08:00\n")
    with local_backend(home) as backend:
        latest = backend.latest("quickstart", "default")
        assert latest is not None and latest.phase == Phase.SUCCEEDED
        nxt = backend.create(Release.start("quickstart", "default", "default", latest=latest, now=T0))
        assert nxt.revision == 2
    assert (home / "releases/quickstart/default/.metadata.yml").read_text() == (
        "latestRevision: 2\nreleaseMetaDatas:\n- revision: 1\n  stack: default\n"
        "- revision: 2\n  stack: default\n"
    )
    assert sorted(p.name for p in (home / "releases/quickstart/default").iterdir()) == [
        ".metadata.yml", "1.yaml", "2.yaml"]


def test_a_ref_lock_left_by_a_killed_git_is_broken_once_stale(tmp_path: Path):
    repo = bare(tmp_path)
    with git_backend(str(repo), timeout_seconds=0.5) as backend:
        backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0, phase=Phase.SUCCEEDED))
        ref_lock = repo / "refs" / "heads" / f"{BRANCH}.lock"
        ref_lock.write_text("")
        with pytest.raises(StateConflict, match=r"after \d+ attempts .* left refs/heads/shipmate-state"
                           r"\.lock behind"):
            backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0))
        assert backend.index("shop", "prod").latest_revision == 1
        old = time.time() - 120
        os.utime(ref_lock, (old, old))
        assert backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0)).revision == 2
    assert not ref_lock.exists()


def test_loose_objects_are_packed_by_git_gc_auto_every_so_many_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from bot.adapters.gitstate import gitstore

    repo = bare(tmp_path)
    git(repo, "config", "gc.auto", "1")  # pack as soon as anything is loose
    git(repo, "config", "gc.autoDetach", "false")  # in the foreground, to look at the result
    monkeypatch.setattr(gitstore, "GC_EVERY", 5)
    # `gc --auto` estimates the loose objects from the objects/17 directory alone: put a few
    # there so the estimate is over the threshold whenever it is asked.
    made = 0
    for n in range(100_000):
        body = f"filler {n}\n".encode()
        if hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest().startswith("17"):
            subprocess.run(["git", "-C", str(repo), "hash-object", "-w", "--stdin"], input=body,
                           check=True, capture_output=True)
            made += 1
            if made == 3:
                break
    with git_backend(str(repo)) as backend:
        for _ in range(4):
            backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0, phase=Phase.SUCCEEDED))
        loose = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
        assert int(loose["count"]) > made
        backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0, phase=Phase.SUCCEEDED))
        packed = dict(line.split(": ") for line in git(repo, "count-objects", "-v").splitlines())
        assert int(packed["count"]) == made and int(packed["in-pack"]) > 0  # the fillers are unreachable
        assert backend.create(Release.start("shop", "prod", "prod", latest=None, now=T0)).revision == 6
        assert [r.revision for r in backend.list("shop", "prod")] == [1, 2, 3, 4, 5, 6]
