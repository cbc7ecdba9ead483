"""A Kusion user's stack moved over as docs/migrating-from-kusion.md says, end to end: Kusion
applied it (objects created with field manager `kusion`, a release in Kusion's own YAML), the
release is imported into the state branch with the documented git commands, and Shipmate
previews zero changes, also for a stack with a `kubernetesNamespace` extension and a
Terraform-only app; a field then dropped from the configuration previews as a removal and is
gone from the cluster after the apply (Kusion's three-way merge), though Kusion, not Shipmate,
created it. Real parts: the `shipmate` command, the Kubernetes simulator over HTTP with
`kubectl`, Terraform with the null provider, and a real git repository."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.adapters.gitstate import git_backend
from bot.cli import main
from bot.cli.stackcmd import load, open_context
from fixtures.kube_sim import KubeSim

KUSION = Path(__file__).resolve().parents[2] / "fixtures" / "configs" / "kusion"
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}
DEPLOYMENT = "apps/v1:Deployment:quickstart:quickstart-default-quickstart"


def sh(cwd: Path, *argv: str) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                          env={**os.environ, **GIT_ENV})
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Kusion's quickstart in a fresh git repo and a Kubernetes simulator."""
    repo = tmp_path / "repo"
    shutil.copytree(KUSION, repo)
    # The tests' Terraform mirror (scripts/install) holds the null provider 2.1.2 only.
    prod = repo / "quickstart" / "prod" / "main.yaml"
    prod.write_text(prod.read_text().replace("version: 3.2.2", "version: 2.1.2"))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "quickstart"]):
        sh(repo, "git", *args)
    with KubeSim.start(ready_delay=0.05) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("SHIPMATE_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("SHIPMATE_SECRET_SALT", "migration-salt")
        yield repo, kubeconfig, tmp_path


def kusion_release(stack: str, resources: list[dict[str, Any]], state: list[dict[str, Any]]) -> str:
    """Revision 1 as Kusion's yaml.v3 writes it: four-space indent, plain nanosecond times."""
    body = yaml.safe_dump(
        {"project": "quickstart", "workspace": stack, "revision": 1, "stack": stack,
         "spec": {"resources": resources, "secretStore": None, "context": {}},
         "state": {"resources": state}, "phase": "succeeded"},
        sort_keys=False, indent=4,
    )
    return (body + "createTime: 2025-01-10T08:00:00.123456789+08:00\n"
            "modifiedTime: 2025-01-10T08:00:04.5+08:00\n")


def kusion_applies(stack: str, kubeconfig: Path, kusion_home: Path) -> list[dict[str, Any]]:
    """What `kusion apply` of quickstart/<stack> leaves: Kubernetes objects created under field
    manager `kusion`, Terraform's attributes in the state, and
    ~/.kusion/releases/quickstart/<stack>/{1.yaml,.metadata.yml}."""
    spec = load(open_context(argparse.Namespace(workdir=".", backend=None))).spec
    resources = [r.to_dict() for r in spec.resources]
    state = []
    for r in resources:
        if r["type"] == "Kubernetes":
            subprocess.run(
                ["kubectl", "--kubeconfig", str(kubeconfig), "create", "--field-manager", "kusion", "-f", "-"],
                input=json.dumps(r["attributes"]), capture_output=True, text=True, check=True)
            state.append(r)
        else:  # what Kusion records of a null_resource: the provider's attributes
            state.append({**r, "attributes": {"id": "4185920171935742913", **r["attributes"]}})
    releases = kusion_home / "releases" / "quickstart" / stack
    releases.mkdir(parents=True)
    (releases / "1.yaml").write_text(kusion_release(stack, resources, state))
    (releases / ".metadata.yml").write_text(
        f"latestRevision: 1\nreleaseMetaDatas:\n    - revision: 1\n      stack: {stack}\n")
    return resources


def import_releases(repo: Path, kusion_home: Path) -> None:
    """Step 2 of the migration guide, its commands as written (no remote to fetch or push)."""
    state = repo.parent / "state"
    sh(repo, "git", "worktree", "add", "--detach", str(state))
    sh(state, "git", "checkout", "--orphan", "shipmate-state")
    sh(state, "git", "rm", "-rfq", ".")
    (state / "releases").mkdir()
    shutil.copytree(kusion_home / "releases" / "quickstart", state / "releases" / "quickstart")
    sh(state, "git", "add", "releases")
    sh(state, "git", "commit", "-qm", "Import Kusion releases of quickstart")
    sh(repo, "git", "worktree", "remove", str(state))


def preview(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["preview", "-o", "json"]) == 0
    doc: dict[str, Any] = json.loads(capsys.readouterr().out)
    return doc


def container(obj: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return found


def test_a_migrated_stack_previews_zero_changes_and_drops_what_kusion_created(
    world: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, kubeconfig, tmp = world
    monkeypatch.chdir(repo / "quickstart" / "default")
    resources = kusion_applies("default", kubeconfig, tmp / "kusion-home")
    import_releases(repo, tmp / "kusion-home")
    assert main(["release", "list"]) == 0
    assert "succeeded" in capsys.readouterr().out

    steps = preview(capsys)["changeSteps"]
    assert set(steps) == {r["id"] for r in resources}
    assert {i: s["action"] for i, s in steps.items()} == {i: "UnChanged" for i in steps}

    # The configuration drops the readiness probe, which Kusion's create put on the container.
    main_yaml = Path("main.yaml")
    config = yaml.safe_load(main_yaml.read_text())
    del config["quickstart"]["workload"]["containers"]["quickstart"]["readinessProbe"]
    main_yaml.write_text(yaml.safe_dump(config, sort_keys=False))

    steps = preview(capsys)["changeSteps"]
    changed = {i: s["action"] for i, s in steps.items() if s["action"] != "UnChanged"}
    assert changed == {DEPLOYMENT: "Update"}
    assert "readinessProbe" in container(steps[DEPLOYMENT]["from"]["attributes"])
    assert "readinessProbe" not in container(steps[DEPLOYMENT]["to"]["attributes"])

    assert main(["apply", "--yes"]) == 0
    live = json.loads(sh(repo, "kubectl", "--kubeconfig", str(kubeconfig), "get", "deployment",
                         "quickstart-default-quickstart", "-n", "quickstart", "-o", "json"))
    assert "readinessProbe" not in container(live)
    with git_backend(str(repo), "shipmate-state") as backend:
        release = backend.latest("quickstart", "default")
    assert release is not None and (release.revision, release.phase) == (2, "succeeded")
    steps = preview(capsys)["changeSteps"]
    assert {s["action"] for s in steps.values()} == {"UnChanged"}


def test_a_stack_with_a_kubernetes_namespace_extension_previews_zero_changes(
    world: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, kubeconfig, tmp = world
    monkeypatch.chdir(repo / "quickstart" / "prod")
    # Kusion puts the Deployment and Service in the project-named namespace, which it does not
    # create: it exists already for Kusion's apply to have succeeded.
    subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "create", "-f", "-"], check=True,
                   input=json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "quickstart"}}),
                   capture_output=True, text=True)
    resources = kusion_applies("prod", kubeconfig, tmp / "kusion-home")
    import_releases(repo, tmp / "kusion-home")
    namespaces = {r["id"].split(":")[2] for r in resources if r["id"].count(":") == 3 and r["type"] == "Kubernetes"}
    assert namespaces == {"quickstart", "quickstart-prod"}
    assert any(r["type"] == "Terraform" for r in resources)

    steps = preview(capsys)["changeSteps"]
    assert set(steps) == {r["id"] for r in resources}
    assert {i: s["action"] for i, s in steps.items()} == {i: "UnChanged" for i in steps}
