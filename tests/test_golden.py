"""The golden-file check: passes on equal text, fails with a diff or the command to create the
file, and rewrites the file when asked to."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden import UPDATE_VARIABLE, assert_golden


def test_equal_text_passes_and_a_difference_fails_with_a_unified_diff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(UPDATE_VARIABLE, raising=False)
    path = tmp_path / "comment.md"
    path.write_text("one\ntwo\nthree\n", encoding="utf-8")
    assert_golden(path, "one\ntwo\nthree\n")
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_golden(path, "one\n2\nthree\n")
    message = str(failed.value)
    assert f"{path} differs from this run:\n--- {path} (golden)\n+++ {path} (this run)\n" in message
    assert "\n-two\n+2\n" in message
    assert f"if the change is intended: {UPDATE_VARIABLE}=1 pytest 'tests/test_golden.py::" in message
    assert path.read_text(encoding="utf-8") == "one\ntwo\nthree\n"


def test_a_missing_file_fails_with_the_command_that_creates_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UPDATE_VARIABLE, raising=False)
    path = tmp_path / "new" / "render.txt"
    with pytest.raises(pytest.fail.Exception) as failed:
        assert_golden(path, "text\n")
    assert str(failed.value) == (
        f"missing golden file {path}; create it with: {UPDATE_VARIABLE}=1 pytest "
        "'tests/test_golden.py::test_a_missing_file_fails_with_the_command_that_creates_it'"
    )
    assert not path.exists()


def test_updating_writes_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UPDATE_VARIABLE, "1")
    path = tmp_path / "new" / "render.txt"
    assert_golden(path, "text ✓\n")
    assert path.read_bytes() == "text ✓\n".encode()
    assert_golden(path, "changed\n")
    assert path.read_text(encoding="utf-8") == "changed\n"
