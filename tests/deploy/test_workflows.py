"""The Action as users consume it: the release workflow and the example workflows validate
against act's schema of GitHub's workflow syntax, the comment trigger of the examples runs for
exactly the comments Shipmate reads as commands (act evaluates its `if:`), and the version a
release tags is the one the chart, the changelog and the examples name."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from bot.core.commands import Command, Ignore, Reply, parse

ROOT = Path(__file__).resolve().parents[2]
ACT = Path(sys.executable).parent / "act"
WORKFLOWS = sorted([*(ROOT / ".github" / "workflows").glob("*.yml"), *(ROOT / "examples").glob("*.yml")])
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def act(tmp_path: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run([str(ACT), *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(home)})


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_workflows_validate(workflow: Path, tmp_path: Path) -> None:
    done = act(tmp_path, "--validate", "-W", str(workflow), cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_act_refuses_an_invalid_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    done = act(tmp_path, "--validate", "-W", str(broken), cwd=tmp_path)
    assert done.returncode == 1 and "Unknown Property stepz" in done.stderr


COMMENTS = {
    "/apply": True,
    "`/apply -p shop`": True,
    "```\n/apply\n```": True,
    "```text\n/preview -s dev\n```": True,
    "/unlock": True,
    "please /apply": False,
    "looks good to me": False,
    "`code` only": False,
}


def test_the_comment_trigger_runs_for_the_comments_shipmate_reads_as_commands(tmp_path: Path) -> None:
    trigger = yaml.safe_load((ROOT / "examples" / "comment-commands.yml").read_text())["jobs"]["command"]["if"]
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    (repo / ".github" / "workflows" / "t.yml").write_text(yaml.safe_dump({
        "name": "t", "on": "issue_comment",
        "jobs": {"command": {"if": trigger, "runs-on": "ubuntu-latest",
                             "steps": [{"run": "echo TRIGGERED"}]}}}))
    for body, expected in COMMENTS.items():
        parsed = parse(body)
        assert isinstance(parsed, Command | Reply) is expected and isinstance(parsed, Ignore) is not expected, body
        event = tmp_path / "event.json"
        event.write_text(json.dumps({"action": "created", "comment": {"body": body},
                                     "issue": {"number": 7, "pull_request": {"url": "https://x/pulls/7"}}}))
        done = act(tmp_path, "issue_comment", "-e", str(event), "-P", "ubuntu-latest=-self-hosted", cwd=repo)
        assert done.returncode == 0, done.stdout + done.stderr
        assert ("TRIGGERED" in done.stdout) is expected, body


def test_a_release_tags_the_version_the_chart_the_changelog_and_the_examples_name() -> None:
    chart = yaml.safe_load((ROOT / "deploy" / "chart" / "Chart.yaml").read_text())
    assert (chart["version"], chart["appVersion"]) == (VERSION, VERSION)
    assert re.search(rf"^## {re.escape(VERSION)} ", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    pinned = {path.name: re.findall(r"uses: acme/shipmate@(\S+)", path.read_text())
              for path in (ROOT / "examples").glob("*.yml")}
    assert pinned and all(refs == [f"v{VERSION}"] for refs in pinned.values()), pinned
    assert f"acme/shipmate@v{VERSION}" in (ROOT / "docs" / "running.md").read_text()


def release_check(tmp_path: Path, repo: Path) -> subprocess.CompletedProcess[str]:
    """The release workflow's "Read and check the version" step, run as a runner runs it."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "release.yml").read_text())
    [step] = [s for s in workflow["jobs"]["release"]["steps"] if s.get("id") == "version"]
    (tmp_path / "runner-temp").mkdir(exist_ok=True)
    (tmp_path / "output").write_text("")
    return subprocess.run(["bash", "-e", "-o", "pipefail", "-c", step["run"]], cwd=repo, capture_output=True,
                          text=True, timeout=60, env={"PATH": os.environ["PATH"], "HOME": str(tmp_path),
                                                      "GITHUB_OUTPUT": str(tmp_path / "output"),
                                                      "RUNNER_TEMP": str(tmp_path / "runner-temp")})


def release_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "deploy" / "chart").mkdir(parents=True)
    for name in ("pyproject.toml", "CHANGELOG.md", "deploy/chart/Chart.yaml"):
        (repo / name).write_text((ROOT / name).read_text())
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=repo, check=True)
    subprocess.run([*git, "add", "-A"], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "release"], cwd=repo, check=True)
    return repo


def test_the_release_reads_the_version_and_its_notes(tmp_path: Path) -> None:
    repo = release_repo(tmp_path)
    done = release_check(tmp_path, repo)
    assert done.returncode == 0, done.stdout + done.stderr
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
    assert outputs == {"version": VERSION, "tag": f"v{VERSION}", "major": f"v{VERSION.split('.')[0]}"}
    changelog = (ROOT / "CHANGELOG.md").read_text()
    section = changelog.split(f"\n## {VERSION} ", 1)[1].split("\n", 1)[1].split("\n## ", 1)[0]
    notes = (tmp_path / "runner-temp" / "notes.md").read_text()
    assert notes.strip() == section.strip() and notes.lstrip().startswith("- ")


def test_the_release_refuses_a_released_version_and_a_chart_or_changelog_that_disagree(tmp_path: Path) -> None:
    repo = release_repo(tmp_path)
    subprocess.run(["git", "tag", f"v{VERSION}"], cwd=repo, check=True)
    refused = release_check(tmp_path, repo)
    assert refused.returncode == 1
    assert refused.stdout.strip() == f"::error::v{VERSION} exists already: bump the version in pyproject.toml first"

    subprocess.run(["git", "tag", "-d", f"v{VERSION}"], cwd=repo, check=True, capture_output=True)
    chart = repo / "deploy" / "chart" / "Chart.yaml"
    chart.write_text(chart.read_text().replace(f'appVersion: "{VERSION}"', 'appVersion: "9.9.9"'))
    refused = release_check(tmp_path, repo)
    assert refused.stdout.strip() == f"::error::deploy/chart/Chart.yaml's appVersion is not {VERSION}"

    chart.write_text((ROOT / "deploy" / "chart" / "Chart.yaml").read_text())
    (repo / "CHANGELOG.md").write_text("# Changelog\n\n## 0.0.1 (2020-01-01)\n\n- old\n")
    refused = release_check(tmp_path, repo)
    assert refused.stdout.strip() == f"::error::CHANGELOG.md has no section for {VERSION}"
