"""`shipmate demo`, as the README runs it: a separate process that needs nothing running,
prints the story and exits 0, leaving nothing behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.demo import collapsed
from bot.cli.sandbox import add_context, terraform_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_the_demo_plays_the_story_and_cleans_up(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    env.pop("SHIPMATE_TERRAFORM_BIN", None)  # the demo finds .tools/terraform itself
    done = subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for seen in (
        "== 1. bob changes shop/dev",
        "● status shipmate/preview: success — 1 stack: 7 to create, 0 to update, 0 to delete, 0 unchanged",
        "**`/apply` was not run** (requested by @eve): @eve has read permission",
        "reactions on the comment: 👀 🚀",
        "● status shipmate/apply: success — 1 stack applied: shop/dev r1",
        "Merged as `",
        "1         succeeded  dev    comment  alice  #1",
        "2         succeeded  dev    push     alice  #1",
        "Deployment  shop-dev-web          1/1 available, LOG_LEVEL=info",
        "== 7. bob adds an about page to edge/dev (two machines over SSH)",
        "**20 to create, 0 to update, 0 to delete, 0 unchanged** in 1 stack.",
        "| `edge` / `dev` | `dev` | ✅ succeeded | r1 | 20 to create",
        "web2  page.service active (pid",
        "temporary files removed.",
    ):
        assert seen in out
    assert "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_comments_are_shown_as_a_person_first_sees_them() -> None:
    markdown = "\n".join([
        "<!-- shipmate:preview key=pr-1 part=1/1 -->",
        "## Shipmate preview",
        "<details><summary>➕ Create <code>v1:Namespace:shop</code></summary>",
        "<details><summary>inner</summary>",
        "hidden",
        "</details>",
        "```diff",
        "+ hidden too",
        "```",
        "</details>",
        "<details open><summary>✏️ Update <code>v1:Service:shop:web</code></summary>",
        "```diff",
        "+ shown",
        "```",
        "<details><summary>folded</summary>",
        "hidden",
        "</details>",
        "</details>",
        "To preview again, comment `/preview`.",
    ])
    assert list(collapsed(markdown)) == [
        "## Shipmate preview", "▸ ➕ Create `v1:Namespace:shop`", "▾ ✏️ Update `v1:Service:shop:web`",
        "```diff", "+ shown", "```", "▸ folded", "To preview again, comment `/preview`."]


def test_terraform_defaults_and_workspace_context(tmp_path: Path) -> None:
    tools = ROOT / ".tools" / "terraform"
    env = terraform_env({"TF_CLI_CONFIG_FILE": str(tmp_path / "missing.rc")})
    if (tools / "terraformrc").exists():
        assert env["TF_CLI_CONFIG_FILE"] == str(tools / "terraformrc")
        assert env["SHIPMATE_TERRAFORM_BIN"] == str(tools / "bin" / "terraform")
    kept = terraform_env({"TF_CLI_CONFIG_FILE": __file__, "SHIPMATE_TERRAFORM_BIN": "/opt/tf"})
    assert (kept["TF_CLI_CONFIG_FILE"], kept["SHIPMATE_TERRAFORM_BIN"]) == (__file__, "/opt/tf")
    assert add_context("modules: {}\ncontext:\n  environment: dev\n", {"KUBECONFIG_PATH": "/k"}) == (
        "modules: {}\ncontext:\n  KUBECONFIG_PATH: /k\n  environment: dev\n")
    assert add_context("modules: {}\n", {"A": "b"}) == "modules: {}\ncontext:\n  A: b\n"
