"""`shipmate generate`: golden Specs, output options, bad-input scenarios, outside modules."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from bot.cli import main
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
ACME = ROOT / "fixtures" / "configs" / "acme"
BAD = ROOT / "fixtures" / "configs" / "bad"
GOLDEN = ROOT / "fixtures" / "golden" / "specs" / "acme"
SCENARIOS = sorted(p.name for p in BAD.iterdir() if p.is_dir())


@pytest.mark.parametrize("stack", ["shop/dev", "shop/prod", "data/dev", "data/prod", "edge/dev"])
def test_generate_prints_the_golden_spec(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "-w", str(ACME / stack)]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert_golden(GOLDEN / f"{stack.replace('/', '-')}.yaml", out.out)


def test_generate_defaults_to_the_current_directory_and_writes_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(ACME / "data" / "dev")
    target = tmp_path / "spec.json"
    assert main(["generate", "-o", str(target), "--format", "json"]) == 0
    assert capsys.readouterr().out == ""
    from_json = json.loads(target.read_text())
    assert from_json == yaml.safe_load((GOLDEN / "data-dev.yaml").read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]  # no temporary file left


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_bad_input_gives_one_line_per_problem_and_exit_2(scenario: str, capsys: pytest.CaptureFixture[str]) -> None:
    directory = BAD / scenario
    workdir = (directory / "workdir").read_text().strip() if (directory / "workdir").exists() else "shop/dev"
    code = main(["generate", "-w", str(directory / workdir)])
    out = capsys.readouterr()
    assert code == 2
    assert out.out == ""
    assert "Traceback" not in out.err
    assert_golden(directory / "expected.txt", out.err)


def test_every_file_problem_names_file_line_and_column() -> None:
    for scenario in SCENARIOS:
        for line in (BAD / scenario / "expected.txt").read_text().splitlines():
            if scenario == "not-a-stack":
                assert line == "shop: not a stack directory: expected stack.yaml here"
                continue
            location = line.split(": ", 1)[0]
            file, row, col = location.rsplit(":", 2)
            assert file and int(row) >= 1 and int(col) >= 1, line


def test_missing_directory_is_an_error_not_a_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "-w", str(tmp_path / "nope")]) == 2
    assert "no such directory" in capsys.readouterr().err
    target = tmp_path / "missing" / "spec.yaml"
    assert main(["generate", "-w", str(ACME / "data" / "dev"), "-o", str(target)]) == 2
    assert capsys.readouterr().err == f"{target}: cannot write: No such file or directory\n"


def test_hidden_directories_in_a_stack_are_not_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "acme"
    shutil.copytree(ACME, repo)
    workdir = repo / "data" / "dev" / ".hashicorp_null_null_resource_loader"
    workdir.mkdir()
    (workdir / "main.tf.json").write_text("{not json")
    (workdir / "broken.yaml").write_text("a: [\n")
    assert main(["generate", "-w", str(repo / "data" / "dev")]) == 0
    assert capsys.readouterr().out == (GOLDEN / "data-dev.yaml").read_text()


def test_a_directory_outside_any_config_repository_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lonely").mkdir()
    assert main(["generate", "-w", str(tmp_path / "lonely")]) == 2
    assert "not inside a config repository" in capsys.readouterr().err


def test_the_installed_command_runs_in_its_own_process() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "generate", "-w", str(BAD / "cycle" / "shop" / "dev")],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert proc.returncode == 2
    assert_golden(BAD / "cycle" / "expected.txt", proc.stderr)


def test_modules_from_the_entry_point_group_are_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An installed distribution on sys.path declaring a module in `shipmate.modules`.
    site = tmp_path / "site"
    (site / "acme_modules").mkdir(parents=True)
    (site / "acme_modules" / "__init__.py").write_text(textwrap.dedent('''\
        from bot.core.modules import ModuleResult
        from bot.core.modules.kube import k8s_resource, metadata


        class Quota:
            name = "quota"
            schemas = ("Quota",)

            def generate(self, request, schema):
                cpu = request.dev_config.get("cpu", "1")
                return ModuleResult(resources=(k8s_resource({
                    "apiVersion": "v1", "kind": "ResourceQuota",
                    "metadata": metadata(request.unique_app_name, request.namespace),
                    "spec": {"hard": {"requests.cpu": cpu}},
                }),))
    '''))
    dist = site / "acme_modules-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-modules\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[shipmate.modules]\nquota = acme_modules:Quota\n")
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()

    repo = tmp_path / "repo"
    for rel, text in {
        "workspaces/dev.yaml": "modules: {}\n",
        "shop/project.yaml": "name: shop\n",
        "shop/dev/stack.yaml": "name: dev\n",
        "shop/dev/main.yaml": "web:\n  accessories:\n    quota: {_type: quota.Quota, cpu: '2'}\n",
    }.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    assert main(["generate", "-w", str(repo / "shop" / "dev"), "--format", "json"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in spec["resources"]] == ["v1:Namespace:shop", "v1:ResourceQuota:shop:shop-dev-web"]
    assert spec["resources"][1]["attributes"]["spec"] == {"hard": {"requests.cpu": "2"}}
