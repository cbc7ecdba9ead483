"""What `shipmate apply` and `destroy` print as text: the preview with or without each
resource's diff (`--no-detail`, Kusion's `--detail=false`), the release line, and progress as
plain lines on stderr when it is not a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.localstack import LocalStack, installed_stack, run_cli
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "text"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    return installed_stack(tmp_path, monkeypatch, notes="hello\n", readme="read me\n")


run = run_cli


def test_dry_runs_with_and_without_detail(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    code, detailed, err = run(capsys, "apply", "--dry-run", *stack.where())
    assert (code, err) == (0, "")
    assert_golden(GOLDEN / "apply-dry-run.txt", detailed)
    code, summary, _ = run(capsys, "apply", "--dry-run", "--no-detail", *stack.where())
    assert code == 0
    assert_golden(GOLDEN / "apply-dry-run-no-detail.txt", summary)
    assert len(summary) < len(detailed) and "hello" in detailed and "hello" not in summary
    assert run(capsys, "apply", "--dry-run", "--detail=false", *stack.where())[1] == summary


def test_apply_then_destroy_with_progress_lines(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "apply", "--yes", "--no-detail", "--no-style", *stack.where())
    assert code == 0
    assert_golden(GOLDEN / "apply.txt", out)
    assert sorted(err.splitlines()) == [
        "done    Create    local:file:web-notes", "done    Create    local:file:web-readme",
        "start   Create    local:file:web-notes", "start   Create    local:file:web-readme",
    ]
    code, out, err = run(capsys, "destroy", "--yes", "-d", *stack.where())
    assert code == 0
    assert_golden(GOLDEN / "destroy.txt", out)
