"""End to end from the command line: `shipmate preview/apply/destroy` against the Kubernetes
simulator (over HTTP, through the official client) and the real Terraform binary, with
releases on the state branch of a real git repository; `kubectl` checks the cluster."""

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

ACME = Path(__file__).resolve().parents[2] / "fixtures" / "configs" / "acme"
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


@pytest.fixture
def world(tmp_path, monkeypatch):
    """The acme repository in a fresh git repo, a Kubernetes simulator, Terraform's cache."""
    if not os.environ.get("SHIPMATE_TERRAFORM_BIN"):
        pytest.fail("SHIPMATE_TERRAFORM_BIN is not set: run the suite with ./scripts/test")
    repo = tmp_path / "repo"
    shutil.copytree(ACME, repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "acme")
    with KubeSim.start(ready_delay=0.05) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("SHIPMATE_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.chdir(repo / "shop" / "dev")
        yield repo, kubeconfig


def kubectl(kubeconfig: Path, *args: str) -> dict:
    out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args, "-o", "json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def names(kubeconfig: Path, kind: str, namespace: str = "shop") -> set[str]:
    items = kubectl(kubeconfig, "get", kind, "-n", namespace)["items"]
    return {i["metadata"]["name"] for i in items if i["metadata"]["name"] != "kube-root-ca.crt"}


def latest(repo: Path, project: str = "shop", workspace: str = "dev"):
    with git_backend(str(repo), "shipmate-state") as backend:
        return backend.latest(project, workspace)


def test_apply_change_preview_apply_destroy(world, capsys):
    repo, kubeconfig = world
    assert main(["apply", "--yes"]) == 0
    release = latest(repo)
    assert (release.revision, release.phase) == (1, "succeeded")
    state_ids = {r.id for r in release.state.resources}
    assert len(state_ids) == 7
    assert names(kubeconfig, "deployments") == {"shop-dev-web"}
    assert names(kubeconfig, "configmaps") == {"web.settings"}
    assert names(kubeconfig, "services") == {"shop-dev-web-private"}
    marker = next(r for r in release.state.resources if r.id.endswith("release-marker"))
    cm = kubectl(kubeconfig, "get", "configmap", "web.settings", "-n", "shop")
    assert cm["data"]["marker"] == marker.attributes["id"]  # $kusion_path resolved at apply
    secret = next(r for r in release.state.resources if r.id == "v1:Secret:shop:db")
    assert set(secret.attributes["data"].values()) == {"(sensitive value)"}  # never stored in clear
    capsys.readouterr()

    # Change: new image (Update), a new manifest (Create), the network accessory gone (Delete).
    main_yaml = repo / "shop" / "dev" / "main.yaml"
    text = main_yaml.read_text().replace("nginx:1.25", "nginx:1.27")
    text = text.replace("    network:\n      _type: network.Network\n      ports:\n        - port: 80\n", "")
    text = text.replace("              backend: $kusion_path.v1:Service:shop:shop-dev-web-private.metadata.name\n", "")
    main_yaml.write_text(text)
    (repo / "shop" / "dev" / "manifests" / "extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra, namespace: shop}\ndata: {a: b}\n")
    assert main(["preview", "-o", "json"]) == 0
    steps = json.loads(capsys.readouterr().out)["changeSteps"]
    actions = {k: v["action"] for k, v in steps.items()}
    assert actions["apps/v1:Deployment:shop:shop-dev-web"] == "Update"
    assert actions["v1:ConfigMap:shop:extra"] == "Create"
    assert actions["v1:Service:shop:shop-dev-web-private"] == "Delete"
    assert actions["v1:Namespace:shop"] == "UnChanged"
    assert "(sensitive value)" in json.dumps(steps["v1:Secret:shop:db"]) or steps["v1:Secret:shop:db"]["action"] == "UnChanged"

    assert main(["apply", "--yes"]) == 0
    release = latest(repo)
    assert (release.revision, release.phase) == (2, "succeeded")
    assert names(kubeconfig, "services") == set()
    assert names(kubeconfig, "configmaps") == {"web.settings", "extra"}
    image = kubectl(kubeconfig, "get", "deployment", "shop-dev-web", "-n", "shop")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "nginx:1.27"
    kube_ids = {r.id for r in release.state.resources if r.type == "Kubernetes"}
    assert kube_ids == {"v1:Namespace:shop", "v1:Secret:shop:db", "v1:ConfigMap:shop:web.settings",
                        "v1:ConfigMap:shop:extra", "apps/v1:Deployment:shop:shop-dev-web"}

    assert main(["destroy", "--yes"]) == 0
    release = latest(repo)
    assert (release.revision, release.phase, release.state.resources) == (3, "succeeded", ())
    assert names(kubeconfig, "deployments") == set() and names(kubeconfig, "configmaps") == set()
    capsys.readouterr()
    assert main(["release", "list"]) == 0
    listing = capsys.readouterr().out
    assert "1  " in listing and "succeeded" in listing and "3  " in listing


def test_failures_end_in_a_failed_release_with_exactly_what_succeeded(world, capsys):
    repo, kubeconfig = world
    stack = repo / "shop" / "dev"
    # An invalid manifest the API server rejects (422), with a dependent that must be skipped.
    (stack / "manifests" / "bad.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name, namespace: shop}\ndata: {a: b}\n")
    main_yaml = stack / "main.yaml"
    main_yaml.write_text(main_yaml.read_text().replace("nginx:1.25", "nginx:1.25"))
    assert main(["apply", "--yes"]) == 1
    out = capsys.readouterr()
    assert "failed" in out.out and "Bad_Name" in out.out
    release = latest(repo)
    assert release.phase == "failed" and "Bad_Name" in (release.error or "")
    recorded = {r.id for r in release.state.resources}
    assert "v1:ConfigMap:shop:Bad_Name" not in recorded
    assert "v1:Namespace:shop" in recorded  # what succeeded is recorded
    live_cms = names(kubeconfig, "configmaps")
    assert {i for i in recorded if i.startswith("v1:ConfigMap")} == {f"v1:ConfigMap:shop:{n}" for n in live_cms}
    # Kubernetes kind ordering: the Deployment depends on every ConfigMap, so it was skipped.
    assert "apps/v1:Deployment:shop:shop-dev-web" not in recorded
    assert names(kubeconfig, "deployments") == set()


def test_terraform_error_and_readiness_timeout(world, capsys):
    repo, kubeconfig = world
    data = repo / "data" / "dev" / "main.yaml"
    data.write_text(data.read_text().replace("          warehouse:\n            triggers:",
                                             "          warehouse:\n            no_such_attribute: 1\n            triggers:"))
    os.chdir(repo / "data" / "dev")
    assert main(["apply", "--yes"]) == 1
    release = latest(repo, "data", "dev")
    assert release.phase == "failed" and "no_such_attribute" in (release.error or "")
    assert release.state.resources == ()

    os.chdir(repo / "shop" / "dev")
    main_yaml = repo / "shop" / "dev" / "main.yaml"
    main_yaml.write_text(main_yaml.read_text().replace("nginx:1.25", "nginx:fail"))
    capsys.readouterr()
    assert main(["apply", "--yes", "--timeout", "3"]) == 1
    release = latest(repo)
    assert release.phase == "failed" and "shop-dev-web" in (release.error or "")
    recorded = {r.id for r in release.state.resources}
    # The Deployment exists (applied, never ready): it is recorded so destroy removes it.
    assert "apps/v1:Deployment:shop:shop-dev-web" in recorded
    assert names(kubeconfig, "deployments") == {"shop-dev-web"}
    # The next apply starts from that state.
    main_yaml.write_text(main_yaml.read_text().replace("nginx:fail", "nginx:1.25"))
    assert main(["apply", "--yes"]) == 0
    assert latest(repo).phase == "succeeded"
