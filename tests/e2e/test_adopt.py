"""Adoption: objects that already exist live and equal the Spec (made by another tool, or by
an apply whose state was lost) are recorded in the Release state on the first apply, so a
destroy removes them. Real parts: the `shipmate` command, the Kubernetes simulator over HTTP
(`kubectl apply --server-side` makes the objects first, under another field manager) and the
state branch of a real git repository."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.gitstate import git_backend
from bot.cli import main
from bot.cli.stackcmd import load, open_context
from fixtures.kube_sim import KubeSim

ACME = Path(__file__).resolve().parents[2] / "fixtures" / "configs" / "acme"
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The acme repository in a fresh git repo and a Kubernetes simulator; in shop/prod."""
    repo = tmp_path / "repo"
    shutil.copytree(ACME, repo)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "acme"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env={**os.environ, **GIT_ENV})
    with KubeSim.start(ready_delay=0.05) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("SHIPMATE_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("SHIPMATE_SECRET_SALT", "adopt-salt")
        monkeypatch.chdir(repo / "shop" / "prod")
        yield repo, kubeconfig


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], input=stdin,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def live_names(kubeconfig: Path) -> set[str]:
    out = kubectl(kubeconfig, "get", "deployments,services,secrets,cronjobs,ingresses", "-n", "shop-prod",
                  "-o", "json")
    return {f"{i['kind']}/{i['metadata']['name']}" for i in json.loads(out)["items"]}


def test_objects_already_live_and_equal_are_recorded_and_destroyed(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    repo, kubeconfig = world
    # Another tool made every object of the stack exactly as the Spec says.
    spec = load(open_context(argparse.Namespace(workdir=".", backend=None))).spec
    manifests = {"apiVersion": "v1", "kind": "List", "items": [dict(r.attributes) for r in spec.resources]}
    kubectl(kubeconfig, "apply", "--server-side", "--validate=false", "--field-manager", "legacy-tool", "-f", "-",
            stdin=json.dumps(manifests))
    made = live_names(kubeconfig)
    assert {"Deployment/shop-prod-web", "Secret/db", "CronJob/shop-prod-report"} <= made

    assert main(["preview", "-o", "json"]) == 0
    steps = json.loads(capsys.readouterr().out)["changeSteps"]
    assert {s["action"] for s in steps.values()} == {"UnChanged"}

    assert main(["apply", "--yes"]) == 0
    with git_backend(str(repo), "shipmate-state") as backend:
        release = backend.latest("shop", "prod")
    assert release is not None and release.phase == "succeeded"
    assert {r.id for r in release.state.resources} == {r.id for r in spec.resources}
    # Shipmate now manages them: its field manager owns what it declares.
    deployment = json.loads(kubectl(kubeconfig, "get", "deployment", "shop-prod-web", "-n", "shop-prod",
                                    "--show-managed-fields", "-o", "json"))
    assert "shipmate" in {m["manager"] for m in deployment["metadata"]["managedFields"]}

    assert main(["destroy", "--yes"]) == 0
    assert live_names(kubeconfig) & made == set()
    namespaces = json.loads(kubectl(kubeconfig, "get", "namespaces", "-o", "json"))["items"]
    assert "shop-prod" not in {n["metadata"]["name"] for n in namespaces}
