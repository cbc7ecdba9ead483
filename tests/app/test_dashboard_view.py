"""The state backends' `StateView`, which the dashboard reads through: one snapshot named by
its version, and a version per stack that moves only when that stack's files do, on a real
git state branch (object ids), in memory and in a directory (no versions to name)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.adapters.gitstate import git_backend, local_backend
from bot.adapters.memory import memory_backend
from bot.core.release import Phase, Release, ReleaseMeta, append_index, peek_revisions
from bot.core.statebackend import StoreBackend
from tests.conftest import ManualClock


def record(backend: StoreBackend, clock: ManualClock, project: str, workspace: str) -> Release:
    latest = backend.latest(project, workspace)
    made = backend.create(Release.start(project, workspace, workspace, latest=latest, now=clock.now(), actor="alice",
                                            phase=Phase.PREVIEWING))
    return backend.finish(made.succeeded(clock.now()), None)


def test_a_stack_version_moves_only_with_its_own_files_on_git(tmp_path: Path) -> None:
    repo = tmp_path / "config.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(repo)], check=True)
    clock = ManualClock()
    with git_backend(str(repo), clock=clock) as backend:
        assert backend.view().version == "" and backend.view().stacks() == ()
        for project, workspace in (("shop", "dev"), ("shop", "prod"), ("web", "dev")):
            record(backend, clock, project, workspace)
        view = backend.view()
        tip = subprocess.run(["git", "-C", str(repo), "rev-parse", "shipmate-state"], check=True,
                             capture_output=True, text=True).stdout.strip()
        assert view.version == tip
        assert view.stacks() == (("shop", "dev"), ("shop", "prod"), ("web", "dev"))
        before = view.stack_versions()
        assert before is not None and sorted(before) == list(view.stacks())

        lock = backend.acquire_lock("shop", "prod", "pr:acme/config#3", 600, pull_request=3)
        backend.write_drift("web", "dev", {"checkTime": "2024-05-01T12:00:00Z", "drifted": False})
        record(backend, clock, "shop", "dev")
        moved = backend.view()
        after = moved.stack_versions()
        assert after is not None and moved.version != view.version
        assert all(after[pair] != before[pair] for pair in before)

        record(backend, clock, "web", "dev")
        last = backend.view().stack_versions()
        assert last is not None
        assert [pair for pair in after if last[pair] != after[pair]] == [("web", "dev")]
        assert backend.view().lock("shop", "prod") == lock and backend.view().locks() == (lock,)
        assert backend.view().drift("web", "dev") == {"checkTime": "2024-05-01T12:00:00Z", "drifted": False}
        assert view.revisions("shop", "dev") == (1,)  # an old view keeps what it showed
        assert backend.view().revisions("shop", "dev") == (1, 2)


def test_memory_and_directory_views() -> None:
    clock = ManualClock()
    backend = memory_backend(clock)
    first = backend.view()
    record(backend, clock, "shop", "dev")
    view = backend.view()
    assert view.version != first.version and view.stacks() == (("shop", "dev"),)
    assert view.stack_versions() == {("shop", "dev"): view.version}
    release = view.release("shop", "dev", 1)
    assert release is not None and release.actor == "alice"
    assert view.release("shop", "dev", 2) is None and view.drift("shop", "dev") is None


def test_a_directory_names_no_versions(tmp_path: Path) -> None:
    clock = ManualClock()
    backend = local_backend(tmp_path / "state", clock=clock)
    record(backend, clock, "shop", "dev")
    view = backend.view()
    assert view.version is None and view.stack_versions() is None
    assert view.stacks() == (("shop", "dev"),) and view.lock("shop", "dev") is None


@settings(deadline=None)  # a loaded machine must not fail a test of results
@given(st.lists(st.sampled_from(["web", "api", "db-1"]), max_size=40), st.booleans())
def test_peek_revisions_agrees_with_the_full_parse(stacks: list[str], gaps: bool) -> None:
    """Canonical text (what the backend writes) and any other valid index (gaps, Kusion's
    own formatting) give the revisions the parsed index lists."""
    text: str | None = None
    for n, stack in enumerate(stacks, start=1):
        text = append_index(text, n, stack)
    meta = ReleaseMeta.from_yaml(text) if text else ReleaseMeta()
    if gaps and meta.release_meta_datas:
        kept = tuple(m for m in meta.release_meta_datas if m.revision % 3)
        meta = ReleaseMeta(kept[-1].revision if kept else 0, kept)
        text = meta.to_yaml()
    assert peek_revisions(text) == tuple(m.revision for m in meta.release_meta_datas)
