"""State backends on real git repositories and directories: the branch itself, bad input, git's
own failures. The rules every backend shares are in test_state_contract.py."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.gitstate import StoreBackend, git_backend, local_backend, open_backend
from bot.core.errors import ConfigError, StateConflict, TransientError
from bot.core.lock import LockHeld
from bot.core.release import Phase, Release, Trigger
from bot.core.spec import Resource, State

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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def start(backend: StoreBackend, **kw: object) -> Release:
    latest = backend.latest("shop", "prod")
    return Release.start("shop", "prod", "prod", latest=latest, now=T0, **kw)  # type: ignore[arg-type]


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
                               r"README.md, releases/, locks/, drift/, previews/, queues/\)"):
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


def test_a_large_release_file_is_written_compressed(tmp_path: Path, clock: FakeClock) -> None:
    # A release of a large stack is hundreds of KB of YAML; its loose object is a fraction of
    # that on disk (a big tree of hashes is what is left uncompressed), and git reads it back.
    repo = bare(tmp_path)
    state = State.of(res(i) for i in range(2_000))
    with git_backend(str(repo), clock=clock) as backend:
        written = backend.create(start(backend, phase=Phase.PREVIEWING).with_state(state, T0))
        assert backend.latest("shop", "prod") == written
    blob = git(repo, "rev-parse", f"{BRANCH}:releases/shop/prod/1.yaml").strip()
    size = int(git(repo, "cat-file", "-s", blob))
    on_disk = (repo / "objects" / blob[:2] / blob[2:]).stat().st_size
    assert size > 200_000 and on_disk < size / 5
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_a_lost_compare_and_swap_round_is_counted(tmp_path: Path) -> None:
    from bot.adapters.gitstate.gitstore import GitStore
    from bot.core.statelayout import Write
    from bot.metrics import ShipmateMetrics

    metrics = ShipmateMetrics()
    repo = bare(tmp_path)
    ours, theirs = GitStore(str(repo), metrics=metrics), GitStore(str(repo))
    theirs.transact(lambda snap: Write({"README.md": b"theirs\n"}, "theirs", None))
    rounds: list[bytes | None] = []

    def write(snap: object) -> Write[None]:
        rounds.append(snap.read("README.md"))  # type: ignore[attr-defined]
        if len(rounds) == 1:  # someone else moves the branch between our read and our write
            theirs.transact(lambda _: Write({"README.md": b"again\n"}, "again", None))
        return Write({"README.md": b"ours\n"}, "ours", None)

    ours.transact(write)
    assert rounds == [b"theirs\n", b"again\n"]  # the second round decided on the newer tip
    assert ours.conflicts == 1 and metrics.state_conflicts.value() == 1
    assert ours.snapshot().read("README.md") == b"ours\n"
