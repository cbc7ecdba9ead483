"""Every stack of the example repository (fixtures/configs/acme) previews and applies from the
command line: real Terraform with the offline null provider, the Kubernetes simulator, the
on-prem test hosts (fixtures/sshd: real sshd, the workspace's inventory pointed at them), and
releases on the state branch of a real git repository.

`data/prod` adopts `null_resource.legacy-marker` through the workspace's `importedResources`;
the null provider cannot import that type, so the resource is created instead of failing
the preview and the apply, and is left alone (recorded, unchanged) by the next ones.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from bot.adapters.gitstate import git_backend
from bot.cli import main
from fixtures.kube_sim import KubeSim
from fixtures.sshd import client_key, test_hosts
from fixtures.sshd.inventory import inventory_hosts, point_workspace

ACME = Path(__file__).resolve().parents[2] / "fixtures" / "configs" / "acme"
STACKS = sorted(p.parent.relative_to(ACME).as_posix() for p in ACME.glob("*/*/stack.yaml"))
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    if not os.environ.get("SHIPMATE_TERRAFORM_BIN"):
        pytest.fail("SHIPMATE_TERRAFORM_BIN is not set: run the suite with ./scripts/test")
    root = tmp_path_factory.mktemp("acme")
    repo = root / "repo"
    shutil.copytree(ACME, repo)
    workspaces = sorted((repo / "workspaces").glob("*.yaml"))
    names = tuple(sorted({name for w in workspaces for name in inventory_hosts(w.read_text())}))
    key = client_key(root / "key")
    with KubeSim.start(ready_delay=0.05) as sim, test_hosts(root / "hosts", names, key) as started:
        hosts = {h.name: h for h in started}
        for workspace in workspaces:
            workspace.write_text(point_workspace(workspace.read_text(), hosts, key))
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "acme"]):
            subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                           env={**os.environ, **GIT_ENV})
        yield repo, sim.write_kubeconfig(root / "kubeconfig"), root / "cache"


def test_the_example_has_the_stacks_this_test_expects() -> None:
    assert STACKS == ["data/dev", "data/prod", "edge/dev", "shop/dev", "shop/prod"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_acme_stack_previews_and_applies(acme, stack: str, monkeypatch, capsys) -> None:
    repo, kubeconfig, cache = acme
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("SHIPMATE_CACHE_DIR", str(cache))
    monkeypatch.chdir(repo / stack)
    project, workspace = stack.split("/")

    assert main(["preview", "-o", "json"]) == 0
    steps = json.loads(capsys.readouterr().out)["changeSteps"]
    assert steps and {s["action"] for s in steps.values()} <= {"Create", "UnChanged"}

    assert main(["apply", "--yes"]) == 0
    capsys.readouterr()
    with git_backend(str(repo), "shipmate-state") as backend:
        release = backend.latest(project, workspace)
    assert release is not None and release.phase == "succeeded"
    assert {r.id for r in release.state.resources} == set(steps)

    # Applied: the next preview finds nothing to do, and the next apply succeeds again.
    assert main(["preview", "-o", "json"]) == 0
    again = json.loads(capsys.readouterr().out)["changeSteps"]
    assert {s["action"] for s in again.values()} == {"UnChanged"}
    assert main(["apply", "--yes"]) == 0
    with git_backend(str(repo), "shipmate-state") as backend:
        assert backend.latest(project, workspace).phase == "succeeded"
