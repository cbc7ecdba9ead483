"""`-o json` on the commands that print results: apply, destroy (and their dry runs), release
list and release unlock print one JSON document on stdout and nothing else there; the
preview a person confirms goes to stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.adapters.gitstate import git_backend, local_backend
from tests.cli.localstack import LocalStack, installed_stack, run_cli
from tests.cli.test_release import Clock, config_repo, history
from tests.golden import assert_golden

GOLDEN = Path(__file__).parent / "golden" / "json"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    return installed_stack(tmp_path, monkeypatch, notes="hello\n", readme="read me\n")


run = run_cli


def test_apply_and_destroy_print_one_json_document(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "apply", "--dry-run", "-o", "json", *stack.where())
    assert code == 0 and err == ""
    assert_golden(GOLDEN / "apply-dry-run.json", out)
    assert json.loads(out)["stacks"][0]["preview"]["stepKeys"] == ["local:file:web-notes", "local:file:web-readme"]

    code, out, err = run(capsys, "apply", "--yes", "-o", "json", *stack.where())
    assert code == 0, err
    assert_golden(GOLDEN / "apply.json", out)
    assert "Create" in err and "local:file:web-notes" in err  # the preview, on stderr
    assert (stack.files / "notes.txt").read_text() == "hello\n"

    code, out, err = run(capsys, "destroy", "--yes", "-o", "json", *stack.where())
    assert code == 0, err
    assert_golden(GOLDEN / "destroy.json", out)
    assert not (stack.files / "notes.txt").exists()


def test_a_failed_apply_is_exit_1_with_the_failure_in_the_document(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    (stack.files / "readme.txt").mkdir()  # a directory where the file goes: the write fails
    code, out, _ = run(capsys, "apply", "--yes", "-o", "json", *stack.where())
    assert code == 1
    [result] = json.loads(out)["stacks"]
    assert (result["revision"], result["phase"]) == (1, "failed")
    assert [f["id"] for f in result["failed"]] == ["local:file:web-readme"]


def test_release_list_and_unlock_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    work, origin = config_repo(tmp_path)
    with git_backend(str(origin), clock=Clock()) as backend:
        history(backend, running=True)
    stack = str(work / "shop" / "prod")
    code, out, err = run(capsys, "release", "list", "-w", stack, "-o", "json")
    assert (code, err) == (0, "")
    assert_golden(GOLDEN / "release-list.json", out.replace(str(tmp_path), "<tmp>"))
    code, out, err = run(capsys, "release", "unlock", "-w", stack, "-o", "json")
    assert (code, err) == (0, "")
    assert_golden(GOLDEN / "release-unlock.json", out)
    code, out, _ = run(capsys, "release", "unlock", "-w", stack, "-o", "json")
    assert json.loads(out) == {"project": "shop", "workspace": "prod", "release": None, "lock": None}


def test_an_empty_history_is_an_empty_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with local_backend(tmp_path / "state"):
        pass
    code, out, _ = run(capsys, "release", "list", "--project", "shop", "--workspace", "dev",
                       "--backend", f"local:{tmp_path / 'state'}", "-o", "json")
    assert code == 0 and json.loads(out)["releases"] == [] and json.loads(out)["locks"] == []
