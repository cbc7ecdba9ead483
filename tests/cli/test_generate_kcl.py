"""`shipmate generate` on a stack written in KCL, as a Kusion user keeps it: the golden Spec,
and a KCL error reported as a config error at its file, line and column."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.cli import main
from tests.golden import assert_golden

ROOT = Path(__file__).resolve().parents[2]
KCL = ROOT / "fixtures" / "configs" / "kcl"
KONFIG = ROOT / "fixtures" / "configs" / "konfig"
GOLDEN = ROOT / "fixtures" / "golden" / "specs" / "kcl"


@pytest.mark.parametrize("stack", ["dev", "modules"])
def test_generate_compiles_main_k_to_the_golden_spec(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`dev`: Kusion's quickstart with a local package; `modules`: every shipped schema in use."""
    assert main(["generate", "-w", str(KCL / "quickstart" / stack)]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert_golden(GOLDEN / f"quickstart-{stack}.yaml", out.out)


@pytest.mark.parametrize("stack", ["nginx/dev", "quickstart/default", "service-multi-stack/dev",
                                   "service-multi-stack/prod", "simple-job/dev"])
def test_konfigs_examples_generate_unchanged(stack: str, capsys: pytest.CaptureFixture[str]) -> None:
    """konfig's own projects, as copied: `[profile] entries` bring in `../base/base.k`."""
    assert main(["generate", "-w", str(KONFIG / stack)]) == 0
    out = capsys.readouterr()
    assert out.err == ""
    assert_golden(GOLDEN.parent / "konfig" / f"{stack.replace('/', '-')}.yaml", out.out)


def test_a_kcl_error_exits_2_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(KCL, repo)
    main_k = repo / "quickstart" / "dev" / "main.k"
    main_k.write_text(main_k.read_text().replace("replicas: 2", 'replicas: "two"'))
    assert main(["generate", "-w", str(repo / "quickstart" / "dev")]) == 2
    err = capsys.readouterr().err
    assert "quickstart/dev/main.k:" in err and "expected int, got str" in err, err


def test_a_problem_in_the_render_points_at_the_apps_definition(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(KCL, repo)
    main_k = repo / "quickstart" / "dev" / "main.k"
    main_k.write_text(main_k.read_text().replace("replicas: 2", "replicas: 99999999999"))
    assert main(["generate", "-w", str(repo / "quickstart" / "dev")]) == 2
    assert capsys.readouterr().err == ("quickstart/dev/main.k:10:1: quickstart.workload.replicas: "
                                       "expected an integer from 0 to 2147483647, got 99999999999\n")
