"""The state backend is a boundary too: whatever a caller hands it, no secret its masker knows
reaches a release file, a commit message or a drift report on the state branch (real git,
read back with `git log` and `git grep`)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bot.adapters.gitstate import git_backend
from bot.core.mask import MASK, Masker
from bot.core.release import Phase, Release, Trigger
from bot.core.spec import KUBERNETES, TERRAFORM, Resource, Spec, State
from tests.runtimes import RECORDED_STATE

TOKEN = "ghs_backendtoken0123456789"  # Shipmate's own
STACK_SECRET = "stack-secret-9q8w7e"
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def git(bare: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(bare), *args], check=True, capture_output=True, text=True).stdout


def test_nothing_the_masker_knows_reaches_the_state_branch(tmp_path: Path) -> None:
    bare = tmp_path / "config.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    masker = Masker(own=[TOKEN], secrets=[STACK_SECRET], lossless=RECORDED_STATE)
    tf = Resource("hashicorp:null:null_resource:n", TERRAFORM, {"triggers": {"env": f"GITHUB_TOKEN={TOKEN}", "s": STACK_SECRET}})
    cm = Resource("v1:ConfigMap:shop:c", KUBERNETES, {"kind": "ConfigMap", "data": {"k": STACK_SECRET}})
    with git_backend(str(bare), data_dir=tmp_path / "data", masker=masker) as backend:
        lock = backend.acquire_lock("shop", "dev", "cli:me@host", 600)
        release = Release.start("shop", "dev", "web", latest=None, now=T0, trigger=Trigger.CLI, actor=f"me {TOKEN}",
                                spec=Spec((tf, cm), None, {"API": STACK_SECRET}), phase=Phase.PREVIEWING)
        release = backend.create(release, lock)
        release = backend.update(release.with_phase(Phase.APPLYING, T0).with_state(State((tf, cm)), T0), lock)
        backend.write_drift("shop", "dev", {"error": f"plan failed for {STACK_SECRET}"})
        backend.force_unlock("shop", "dev", actor=f"admin {TOKEN}")
        stored = backend.latest("shop", "dev")
    assert stored is not None and stored.phase is Phase.FAILED
    messages = git(bare, "log", "--format=%B", "shipmate-state")
    assert "marked failed" in messages and MASK in messages
    everything = git(bare, "log", "-p", "shipmate-state")
    assert TOKEN not in everything and TOKEN not in messages
    # The stack's secret stays only in the lossless Terraform state entry.
    [entry] = [r for r in stored.state.resources if r.type == TERRAFORM]
    assert entry.attributes["triggers"] == {"env": MASK, "s": STACK_SECRET}
    assert all(STACK_SECRET not in repr(r) for r in stored.spec.resources)
    assert stored.spec.context == {"API": MASK} and stored.actor == f"me {MASK}"
    assert STACK_SECRET not in git(bare, "show", "shipmate-state:drift/shop/dev.yaml")
