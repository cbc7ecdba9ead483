"""`shipmate release rollback`: an earlier revision's Spec applied again as a new release,
against the Kubernetes simulator and the real Terraform binary, recorded on the state branch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from bot.adapters.gitstate import git_backend
from bot.cli import main
from bot.core.release import Phase, Trigger
from fixtures.kube_sim import KubeSim

ACME = Path(__file__).resolve().parents[2] / "fixtures" / "configs" / "acme"
GIT_ENV = {"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
           "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, env={**os.environ, **GIT_ENV})


def image(kubeconfig: Path) -> str:
    out = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "deployment", "shop-dev-web",
                          "-n", "shop", "-o", "json"], check=True, capture_output=True, text=True).stdout
    return str(json.loads(out)["spec"]["template"]["spec"]["containers"][0]["image"])


def kubernetes_only(repo: Path) -> None:
    """Drop acme's Terraform marker (and the reference to it): this test is about releases."""
    main_yaml = repo / "shop" / "dev" / "main.yaml"
    text = main_yaml.read_text()
    start, end = text.index("    marker:\n"), text.index("    manifests:\n")
    main_yaml.write_text(text[:start] + text[end:])
    settings = repo / "shop" / "dev" / "manifests" / "settings.yaml"
    settings.write_text("".join(line for line in settings.read_text().splitlines(keepends=True)
                                if "null_resource" not in line))


def test_rollback_reapplies_an_old_spec_as_a_new_release(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(ACME, repo)
    kubernetes_only(repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "acme")
    with KubeSim.start(ready_delay=0.05) as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("SHIPMATE_CACHE_DIR", str(tmp_path / "cache"))
        monkeypatch.setenv("LOGNAME", "ops")
        monkeypatch.chdir(repo / "shop" / "dev")

        assert main(["apply", "--yes", "--no-watch"]) == 0
        main_yaml = repo / "shop" / "dev" / "main.yaml"
        main_yaml.write_text(main_yaml.read_text().replace("nginx:1.25", "nginx:1.27"))
        assert main(["apply", "--yes", "--no-watch"]) == 0
        assert image(kubeconfig) == "nginx:1.27"
        capsys.readouterr()

        assert main(["release", "rollback", "--revision", "1", "--dry-run"]) == 0
        assert "dry run: nothing applied, nothing recorded" in capsys.readouterr().out
        with git_backend(str(repo)) as backend:
            assert backend.index("shop", "dev").latest_revision == 2

        assert main(["release", "rollback", "--revision", "1", "--yes", "--no-watch"]) == 0
        out = capsys.readouterr().out
        assert "release shop/dev r3: succeeded, rolled back to the Spec of r1" in out
        assert image(kubeconfig) == "nginx:1.25"
        with git_backend(str(repo)) as backend:
            first, rolled = backend.get("shop", "dev", 1), backend.latest("shop", "dev")
            assert first is not None and rolled is not None
            assert (rolled.revision, rolled.phase, rolled.trigger, rolled.actor) == (
                3, Phase.SUCCEEDED, Trigger.ROLLBACK, "ops")
            assert rolled.spec == first.spec
            assert backend.list_locks() == ()

        assert main(["release", "rollback", "--revision", "9", "--yes"]) == 2
        assert capsys.readouterr().err == "--revision: shop/dev has no revision 9 (revisions are 1..3)\n"
