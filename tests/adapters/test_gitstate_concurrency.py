"""Several processes on one state branch: no lost or duplicated revision, locks exclude, and a
writer killed with SIGKILL in the middle of an apply loses nothing it recorded."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.adapters.gitstate import git_backend
from bot.core.lock import LockHeld, StaleLock
from bot.core.release import Phase, Release, ReleaseInProgress, ReleaseMeta
from bot.core.spec import State

ROOT = Path(__file__).resolve().parents[2]
BRANCH = "shipmate-state"

PRELUDE = """
import json, os, random, sys, time
from datetime import UTC, datetime
from bot.adapters.gitstate import open_backend
from bot.core.lock import LockHeld
from bot.core.release import Phase, Release
from bot.core.spec import Resource, State

def wait_for(go):
    while not os.path.exists(go):
        time.sleep(0.005)

def res(name):
    return Resource(f"v1:ConfigMap:shop:{name}", "Kubernetes", {"kind": "ConfigMap", "n": name})

def now():
    return datetime.now(UTC)
"""

RECORDER = PRELUDE + """
target, data_dir, name, count, go = sys.argv[1:6]
backend = open_backend(target, data_dir=data_dir)
wait_for(go)
for i in range(int(count)):
    backend.create(Release.start("shop", "prod", "web", latest=None, now=now(), actor=name,
                                 commit=str(i), phase=Phase.SUCCEEDED))
print(json.dumps({"attempts": backend.store.attempts, "conflicts": backend.store.conflicts}))
"""

LOCKED_APPLIER = PRELUDE + """
target, data_dir, name, cycles, go = sys.argv[1:6]
backend = open_backend(target, data_dir=data_dir)
wait_for(go)
for i in range(int(cycles)):
    while True:
        try:
            lock = backend.acquire_lock("shop", "prod", name, 30, run_id=str(i))
            break
        except LockHeld:
            time.sleep(random.uniform(0.002, 0.02))
    latest = backend.latest("shop", "prod")
    release = Release.start("shop", "prod", "web", latest=latest, now=now(), actor=name,
                            phase=Phase.PREVIEWING)
    release = backend.create(release, lock)
    release = backend.update(release.with_phase(Phase.APPLYING, now()), lock)
    state = State.of([*release.state.resources, res(f"{name}-{i}")])
    release = backend.update(release.with_state(state, now()), lock)
    backend.finish(release.succeeded(now()), lock)
"""

DOOMED_APPLIER = PRELUDE + """
target, data_dir, lease = sys.argv[1:4]
backend = open_backend(target, data_dir=data_dir)
lock = backend.acquire_lock("shop", "prod", "runner-doomed", float(lease), run_id=str(os.getpid()))
release = Release.start("shop", "prod", "web", latest=backend.latest("shop", "prod"), now=now(),
                        actor="doomed", phase=Phase.PREVIEWING)
release = backend.create(release, lock)
release = backend.update(release.with_phase(Phase.APPLYING, now()), lock)
print("applying", release.revision, flush=True)
i = 0
while True:
    i += 1
    release = backend.update(release.with_state(State.of([*release.state.resources, res(f"r{i:04d}")]),
                                                now()), lock)
    print("flushed", i, flush=True)
"""


def bare(tmp_path: Path) -> Path:
    path = tmp_path / "config.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(path)], check=True)
    return path


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def wait_until_gone(group: int) -> None:
    """Wait for every process of the killed writer's session (its git children) to end."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    raise AssertionError("the killed writer's git processes did not finish")


def finish_all(procs: list[subprocess.Popen[str]]) -> list[str]:
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out)
    return outs


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout


def test_four_processes_record_200_releases_without_gaps_duplicates_or_losses(tmp_path: Path):
    repo = bare(tmp_path)
    go = tmp_path / "go"
    targets = [f"git:{repo}", f"git:{repo}", f"git:file://{repo}", f"git:file://{repo}"]
    procs = [spawn(RECORDER, target, str(tmp_path / "cache"), f"w{n}", "50", str(go))
             for n, target in enumerate(targets)]
    time.sleep(0.5)  # let every writer import and open the backend, then start them together
    go.touch()
    stats = [json.loads(out) for out in finish_all(procs)]

    with git_backend(str(repo)) as backend:
        index = backend.index("shop", "prod")
        releases = backend.list("shop", "prod")
    assert index == ReleaseMeta(200, index.release_meta_datas)
    assert [m.revision for m in index.release_meta_datas] == list(range(1, 201))
    assert [r.revision for r in releases] == list(range(1, 201))
    recorded = sorted((r.actor, int(r.commit)) for r in releases)
    assert recorded == sorted((f"w{n}", i) for n in range(4) for i in range(50))
    # Each writer's releases are in its own order: revision order never contradicts it.
    for n in range(4):
        mine = [int(r.commit) for r in releases if r.actor == f"w{n}"]
        assert mine == sorted(mine)
    assert int(git(repo, "rev-list", "--count", BRANCH)) == 200  # one commit per release
    assert sum(s["conflicts"] for s in stats) > 0  # writers really raced and retried
    assert git(repo, "fsck", "--strict", "--no-dangling") == ""


def test_locked_applies_from_three_processes_never_overlap(tmp_path: Path):
    repo = bare(tmp_path)
    go = tmp_path / "go"
    targets = [f"git:{repo}", f"git:{repo}", f"git:file://{repo}"]
    procs = [spawn(LOCKED_APPLIER, target, str(tmp_path / "cache"), f"p{n}", "4", str(go))
             for n, target in enumerate(targets)]
    time.sleep(0.5)
    go.touch()
    finish_all(procs)
    with git_backend(str(repo)) as backend:
        releases = backend.list("shop", "prod")
        assert backend.list_locks() == ()
    assert [r.revision for r in releases] == list(range(1, 13))
    assert {r.phase for r in releases} == {Phase.SUCCEEDED}
    # Each apply started from the state the previous one finished with: nothing was lost.
    for before, after in zip(releases, releases[1:], strict=False):
        assert set(before.state.by_id()) < set(after.state.by_id())
        assert len(after.state.resources) == after.revision
    assert len(releases[-1].state.resources) == 12


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


@pytest.mark.parametrize("mode", ["path", "url"])
def test_sigkill_mid_apply_loses_no_recorded_state_and_the_lock_frees(tmp_path: Path, mode: str):
    repo = bare(tmp_path)
    target = f"git:{repo}" if mode == "path" else f"git:file://{repo}"
    lease = 60.0  # long enough to be live when checked; expiry is shown with the clock
    proc = spawn(DOOMED_APPLIER, target, str(tmp_path / "cache"), str(lease))
    assert proc.stdout is not None
    reported = 0
    for line in proc.stdout:
        if line.startswith("flushed"):
            reported = int(line.split()[1])
            if reported >= 8:
                break
    time.sleep(random.uniform(0, 0.02))  # land anywhere inside the next flush
    os.kill(proc.pid, signal.SIGKILL)  # the writer only: a git child in flight may finish
    rest, _ = proc.communicate(timeout=30)
    wait_until_gone(proc.pid)
    for line in rest.splitlines():
        if line.startswith("flushed"):
            reported = int(line.split()[1])
    assert proc.returncode == -signal.SIGKILL
    killed_at = datetime.now(UTC)

    clock = Clock(killed_at)
    with git_backend(str(repo), clock=clock) as backend:
        interrupted = backend.latest("shop", "prod")
        assert interrupted is not None and interrupted.phase == Phase.APPLYING
        ids = [r.id for r in interrupted.state.resources]
        # Every flush that returned is there, in order; at most the one in flight beyond it.
        assert ids[:reported] == [f"v1:ConfigMap:shop:r{i:04d}" for i in range(1, reported + 1)]
        assert len(ids) in (reported, reported + 1)

        # While the lease runs, the lock is the dead writer's.
        with pytest.raises(LockHeld, match=r"locked by runner-doomed \(run \d+\)"):
            backend.acquire_lock("shop", "prod", "runner-2", 60)
        # After it expires anyone may take it; the dead writer's token is fenced out.
        clock.moment = killed_at + timedelta(seconds=lease + 1)
        lock = backend.acquire_lock("shop", "prod", "runner-2", 60)
        assert lock.token == 2
        dead_writer = replace(lock, token=1, owner="runner-doomed")
        with pytest.raises(StaleLock, match="token 1 .* now held by runner-2"):
            backend.update(interrupted.with_state(State(), clock.now()), dead_writer)
        # ...but the interrupted release still blocks a new apply until it is unlocked.
        with pytest.raises(ReleaseInProgress, match=r"r1 \(stack web\) is still applying.*"
                           r"shipmate release unlock --project shop --workspace prod"):
            backend.create(Release.start("shop", "prod", "web", latest=None, now=clock.now()), lock)

        done = backend.force_unlock("shop", "prod", actor="ops")
        assert done.release is not None and done.release.phase == Phase.FAILED
        assert done.release.state == interrupted.state  # unlock keeps every recorded resource
        assert backend.list_locks() == ()

        lock = backend.acquire_lock("shop", "prod", "runner-2", 60)
        latest = backend.latest("shop", "prod")
        nxt = backend.create(Release.start("shop", "prod", "web", latest=latest, now=clock.now()), lock)
        assert nxt.revision == 2 and nxt.state == interrupted.state  # the next apply starts there
        nxt = backend.update(nxt.with_phase(Phase.PREVIEWING, clock.now()), lock)
        backend.finish(nxt.succeeded(clock.now()), lock)
        final = backend.latest("shop", "prod")
        assert final is not None and final.phase == Phase.SUCCEEDED and final.state == interrupted.state
    assert git(repo, "fsck", "--no-dangling") == ""



def test_threads_reading_views_beside_a_writer_never_take_each_others_objects(tmp_path: Path):
    """One backend, as the server shares it among its workers: lazy `view()` reads (outside the
    backend's lock) beside transactions. GitPython's one `cat-file --batch` pipe per repository
    must not hand one thread's object to another (a mixed-up read returns the wrong file, or
    waits for ever)."""
    import threading

    repo = bare(tmp_path)
    errors: list[BaseException] = []
    with git_backend(f"file://{repo}", data_dir=tmp_path / "cache") as backend:
        for stack in ("web", "api", "db"):
            backend.write_drift("shop", stack, {"stack": stack, "drifted": False})
        stop = threading.Event()

        def read() -> None:
            try:
                while not stop.is_set():
                    view = backend.view()
                    for stack in ("web", "api", "db"):
                        record = view.drift("shop", stack)
                        assert record is not None and record["stack"] == stack, record
            except BaseException as exc:  # noqa: BLE001 - reported by the test thread
                errors.append(exc)

        readers = [threading.Thread(target=read, daemon=True) for _ in range(6)]
        for t in readers:
            t.start()
        for i in range(40):
            backend.write_drift("shop", "web", {"stack": "web", "drifted": bool(i % 2), "round": i})
        stop.set()
        for t in readers:
            t.join(timeout=30)
        assert not any(t.is_alive() for t in readers), "a reader waits for ever on the cat-file pipe"
    assert errors == []
