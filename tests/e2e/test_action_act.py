"""Shipmate as a GitHub Action, run by `act` (self-hosted platform) against the GitHub and
Kubernetes simulators: a pull_request run posts a preview comment; a push run (the merge)
applies and records a Release on the state branch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.adapters.gitstate import git_backend
from bot.cli.sandbox import REPO, REPO_NAME, REPO_OWNER, USERS, Sandbox, git
from tests.e2e.world import bodies, open_pr

ROOT = Path(__file__).resolve().parents[2]
ACT = Path(sys.executable).parent / "act"

WORKFLOW = """\
name: shipmate
on: [pull_request, push]
jobs:
  shipmate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: shipmate
        uses: ./
        with:
          command: auto
          python: {python}
          install: "false"
      - run: echo "stacks=${{{{ steps.shipmate.outputs.changed-stacks }}}} revisions=${{{{ steps.shipmate.outputs.release-revisions }}}} creates=${{{{ steps.shipmate.outputs.creates }}}}"
"""


@pytest.fixture
def box(tmp_path):
    if not ACT.exists():
        pytest.fail(f"act is not installed at {ACT}: run ./scripts/install")
    with Sandbox.start(tmp_path / "box", serve=False) as sandbox:
        yield sandbox


def workflow_repo(tmp_path: Path) -> Path:
    """A repository holding the project's own action.yml and a workflow that uses it."""
    repo = tmp_path / "workflow"
    (repo / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "action.yml", repo / "action.yml")
    (repo / ".github" / "workflows" / "shipmate.yml").write_text(WORKFLOW.format(python=sys.executable))
    git("init", "-q", "-b", "main", cwd=repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "workflow", cwd=repo,
        env={"GIT_AUTHOR_NAME": "ci", "GIT_AUTHOR_EMAIL": "ci@example.com",
             "GIT_COMMITTER_NAME": "ci", "GIT_COMMITTER_EMAIL": "ci@example.com"})
    return repo


def cache_stand_in(tmp_path: Path) -> Path:
    """act fetches every action a composite step names, even one its `if` skips, and GitHub is out
    of reach here: action.yml's actions/cache step (skipped with install: "false") gets an empty
    local action in its place."""
    stand_in = tmp_path / "actions-cache"
    stand_in.mkdir(exist_ok=True)
    (stand_in / "action.yml").write_text("name: cache\nruns:\n  using: composite\n  steps: []\n")
    return stand_in


def run_act(box: Sandbox, repo: Path, event: str, payload: bytes, tmp_path: Path) -> str:
    event_file = tmp_path / f"{event}.json"
    event_file.write_bytes(payload)
    env_args = []
    for key in ("SHIPMATE_TERRAFORM_BIN", "TF_CLI_CONFIG_FILE", "SHIPMATE_SECRET_SALT"):
        if box.env.get(key):
            env_args += ["--env", f"{key}={box.env[key]}"]
    command = [
        str(ACT), event, "-e", str(event_file), "-P", "ubuntu-latest=-self-hosted",
        "--cache-server-addr", "127.0.0.1", "--artifact-server-addr", "127.0.0.1",
        "--local-repository", f"actions/cache@v4={cache_stand_in(tmp_path)}",
        "-s", f"GITHUB_TOKEN={USERS['shipmate'][0]}",
        "--env", f"GITHUB_API_URL={box.github.api_url}", "--env", f"GITHUB_REPOSITORY={REPO}",
        "--env", f"SHIPMATE_CACHE_DIR={tmp_path / 'action-cache'}",
        "--env", f"RUNNER_TEMP={tmp_path / 'runner-temp'}",
        *env_args,
    ]
    done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "HOME": str(tmp_path / "home")})
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    return output


def delivery(box: Sandbox, event: str, action: str | None = None) -> bytes:
    box.github.wait_idle(30)
    matching = [r for r in box.recorder.received
                if r.headers["X-GitHub-Event"] == event and (action is None or r.payload.get("action") == action)]
    assert matching, f"no {event} {action or ''} webhook was sent"
    return matching[-1].body


def test_pull_request_preview_then_push_apply(box, tmp_path):
    (tmp_path / "home").mkdir()
    repo = workflow_repo(tmp_path)
    pr = open_pr(box, "bob", {"shop/dev/main.yaml": lambda t: t.replace("LOG_LEVEL: debug", "LOG_LEVEL: info")})

    out = run_act(box, repo, "pull_request", delivery(box, "pull_request", "opened"), tmp_path)
    assert "Job succeeded" in out
    assert 'stacks=["shop/dev"]' in out
    previews = [b for b in bodies(box, pr.number) if "shipmate:preview" in b]
    assert len(previews) == 1 and "Shipmate preview" in previews[0] and "`shop` / `dev`" in previews[0]

    merged = box.repo("alice").get_pull(pr.number).merge()
    out = run_act(box, repo, "push", delivery(box, "push"), tmp_path)
    assert "Job succeeded" in out
    assert 'revisions={"shop/dev": 1}' in out
    with git_backend(str(box.github.bare_path(REPO_OWNER, REPO_NAME)), "shipmate-state") as backend:
        release = backend.latest("shop", "dev")
    assert release is not None and (release.revision, str(release.phase)) == (1, "succeeded")
    assert release.commit == merged.sha and str(release.trigger) == "push"
    assert any("apply on merge" in b.lower() for b in bodies(box, pr.number))
    assert json.loads(json.dumps(release.to_dict()))["project"] == "shop"
