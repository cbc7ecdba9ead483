"""Manifests a workspace's `k8s_manifest` config names outside the stack directory (Kusion's
catalog lets `paths` be given only there) are read into the stack's files, so the stack
generates the same Spec wherever they live in the repository."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.adapters.localfs import LocalConfigReader
from bot.app.configrepo import generate_from
from tests.conftest import ROOT

KUSION = ROOT / "fixtures" / "configs" / "kusion"


def test_workspace_manifest_paths_outside_the_stack_directory(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(KUSION, repo)
    before = generate_from(LocalConfigReader(repo), "catalog/dev")
    (repo / "shared").mkdir()
    shutil.move(repo / "catalog" / "dev" / "manifests", repo / "shared" / "manifests")
    workspace = repo / "workspaces" / "catalog.yaml"
    text = workspace.read_text()
    assert "paths: [manifests]" in text
    workspace.write_text(text.replace("paths: [manifests]", "paths: [/shared/manifests]"))
    after = generate_from(LocalConfigReader(repo), "catalog/dev")
    assert [r.id for r in after.resources] == [r.id for r in before.resources]
    assert after.resources == before.resources
